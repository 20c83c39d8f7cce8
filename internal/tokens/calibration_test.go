package tokens

import (
	"math"
	"sync"
	"testing"

	"github.com/google/go-cmp/cmp"
)

func TestCalibrationRatio(t *testing.T) {
	type obs struct {
		model               string
		estimated, reported int
	}
	tests := []struct {
		name  string
		obs   []obs
		model string
		ratio float64
		n     int
	}{
		{"none", nil, "gpt-4o", 1, 0},
		{"other model only", []obs{{"gpt-4o", 100, 110}}, "llama3", 1, 0},
		{"one", []obs{{"gpt-4o", 100, 110}}, "gpt-4o", 1.1, 1},
		{"summed, not averaged", []obs{{"gpt-4o", 100, 200}, {"gpt-4o", 900, 900}}, "gpt-4o", 1.1, 2},
		{"per model", []obs{{"gpt-4o", 100, 100}, {"llama3", 1300, 1560}}, "llama3", 1.2, 1},
		{"no usage ignored", []obs{{"gpt-4o", 100, 90}, {"gpt-4o", 100, 0}, {"gpt-4o", 0, 50}, {"gpt-4o", 100, -1}}, "gpt-4o", 0.9, 1},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var c Calibration
			for _, o := range tt.obs {
				c.Observe(o.model, o.estimated, o.reported)
			}
			ratio, n := c.Ratio(tt.model)
			if math.Abs(ratio-tt.ratio) > 1e-9 || n != tt.n {
				t.Errorf("Ratio(%q)=%g, %d, want %g, %d", tt.model, ratio, n, tt.ratio, tt.n)
			}
		})
	}
}

func TestCalibrationReport(t *testing.T) {
	var c Calibration
	if got := c.Report(); len(got) != 0 {
		t.Errorf("Report() of no observations=%q, want none", got)
	}
	for range 120 {
		c.Observe("gpt-4.1-mini", 1021, 1000)
	}
	c.Observe("llama3.1:8b", 950, 1000)
	c.Observe("llama3.1:8b", 0, 1000) // no estimate: ignored
	c.Observe("a-model", 1000, 1000)
	want := []string{
		"a-model: estimates were within +0.0% of the server's prompt_tokens over 1 request",
		"gpt-4.1-mini: estimates were within +2.1% of the server's prompt_tokens over 120 requests",
		"llama3.1:8b: estimates were within -5.0% of the server's prompt_tokens over 1 request",
	}
	if diff := cmp.Diff(want, c.Report()); diff != "" {
		t.Errorf("Report() mismatch (-want +got):\n%s", diff)
	}
}

func TestCalibrationConcurrent(t *testing.T) {
	var c Calibration
	var wg sync.WaitGroup
	for i := range 50 {
		model := []string{"gpt-4o", "llama3"}[i%2]
		wg.Go(func() {
			c.Observe(model, 100, 130)
			c.Ratio(model)
			c.Report()
		})
	}
	wg.Wait()
	for _, model := range []string{"gpt-4o", "llama3"} {
		if ratio, n := c.Ratio(model); math.Abs(ratio-1.3) > 1e-9 || n != 25 {
			t.Errorf("Ratio(%q)=%g, %d, want 1.3, 25", model, ratio, n)
		}
	}
}
