package progress

import (
	"fmt"
	"math"
	"strconv"
)

// thousands formats n with commas between groups of three digits: 1,204.
func thousands(n int64) string {
	s := strconv.FormatInt(n, 10)
	neg := n < 0
	if neg {
		s = s[1:]
	}
	b := make([]byte, 0, len(s)+len(s)/3+1)
	if neg {
		b = append(b, '-')
	}
	for i := range len(s) {
		if i > 0 && (len(s)-i)%3 == 0 {
			b = append(b, ',')
		}
		b = append(b, s[i])
	}
	return string(b)
}

// compact formats a count in at most four figures: 950, 12.3k, 1.9M, 123M,
// 4.5G.
func compact(n int64) string {
	v := float64(n)
	if math.Abs(v) < 1000 {
		return strconv.FormatInt(n, 10)
	}
	for _, unit := range []string{"k", "M", "G"} {
		v /= 1000
		switch {
		case math.Abs(v) < 99.95:
			return fmt.Sprintf("%.1f%s", v, unit)
		case math.Abs(v) < 999.5:
			return fmt.Sprintf("%.0f%s", v, unit)
		}
	}
	return fmt.Sprintf("%.0fT", v/1000)
}

// rate formats articles per second: 12.3, or 0.05 below 1.
func rate(r float64) string {
	if r < 1 {
		return fmt.Sprintf("%.2f", r)
	}
	return fmt.Sprintf("%.1f", r)
}

// dollars formats a cost in US dollars: $0.42, $0.0042 below ten cents.
func dollars(c float64) string {
	if c < 0.1 {
		return fmt.Sprintf("$%.4f", c)
	}
	return fmt.Sprintf("$%.2f", c)
}
