package fakeopenai

import (
	"math"
	"math/bits"
	"time"
)

// Histogram buckets: durations below 2^histSubBits ns each have a bucket;
// above, every power of two is cut into 2^histSubBits equal buckets, so a
// bucket is at most 1/64 (1.6%) of its values wide.
const (
	histSubBits = 6
	histSub     = 1 << histSubBits
	histBuckets = (64 - histSubBits + 1) * histSub
)

// Histogram counts durations in buckets 1.6% wide, in constant memory
// (about 30 KB once the first duration is added). The zero value is empty
// and ready to use. It is not safe for concurrent use.
type Histogram struct {
	counts   []uint64 // histBuckets long once used
	n        int
	sum      time.Duration
	min, max time.Duration
}

// histIndex returns the bucket of v >= 0.
func histIndex(v uint64) int {
	if v < histSub {
		return int(v)
	}
	e := bits.Len64(v) - histSubBits - 1 // v>>e is in [histSub, 2*histSub)
	return (e+1)*histSub + int(v>>e) - histSub
}

// histUpper returns the largest value of bucket i.
func histUpper(i int) uint64 {
	if i < histSub {
		return uint64(i)
	}
	e := i/histSub - 1
	lo := uint64(histSub+i%histSub) << e
	return lo + (uint64(1)<<e - 1)
}

// Add counts d; a negative d counts as 0.
func (h *Histogram) Add(d time.Duration) {
	d = max(d, 0)
	if h.counts == nil {
		h.counts = make([]uint64, histBuckets)
	}
	h.counts[histIndex(uint64(d))]++
	if h.n == 0 || d < h.min {
		h.min = d
	}
	h.max = max(h.max, d)
	h.n++
	h.sum += d
}

// Count returns the number of durations added.
func (h *Histogram) Count() int { return h.n }

// Min returns the shortest duration added; 0 when empty.
func (h *Histogram) Min() time.Duration { return h.min }

// Max returns the longest duration added; 0 when empty.
func (h *Histogram) Max() time.Duration { return h.max }

// Mean returns the average of the durations added; 0 when empty.
func (h *Histogram) Mean() time.Duration {
	if h.n == 0 {
		return 0
	}
	return h.sum / time.Duration(h.n)
}

// Quantile returns a duration that at least q (0 to 1) of the durations
// added do not exceed: the upper end of the bucket holding the
// ceil(q*Count())-th shortest, kept within [Min, Max]. It is 0 when the
// histogram is empty.
func (h *Histogram) Quantile(q float64) time.Duration {
	if h.n == 0 {
		return 0
	}
	rank := uint64(math.Ceil(q * float64(h.n)))
	rank = min(max(rank, 1), uint64(h.n))
	var seen uint64
	for i, c := range h.counts {
		if seen += c; seen >= rank {
			v := time.Duration(min(histUpper(i), math.MaxInt64))
			return min(max(v, h.min), h.max)
		}
	}
	return h.max
}

// clone returns a copy that shares nothing with h.
func (h *Histogram) clone() Histogram {
	c := *h
	if h.counts != nil {
		c.counts = make([]uint64, len(h.counts))
		copy(c.counts, h.counts)
	}
	return c
}
