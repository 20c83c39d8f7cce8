package jobs

import (
	"errors"
	"fmt"
	"io"
	"sort"
	"strconv"
	"strings"

	"github.com/gocarina/gocsv"
)

// Price is a model's price in US dollars per million tokens.
type Price struct {
	Input  float64 `csv:"input_per_million"`
	Output float64 `csv:"output_per_million"`
}

// Prices is a price table by model name.
type Prices map[string]Price

// DefaultPrices are OpenAI's list prices (standard tier, per million
// tokens) for the models tarjama knows; a price file or the --price flags
// override them.
func DefaultPrices() Prices {
	return Prices{
		"gpt-4.1":      {2.00, 8.00},
		"gpt-4.1-mini": {0.40, 1.60},
		"gpt-4.1-nano": {0.10, 0.40},
		"gpt-4o":       {2.50, 10.00},
		"gpt-4o-mini":  {0.15, 0.60},
	}
}

// Cost is the cost of u at model's price, and whether the price is known.
func (p Prices) Cost(model string, u Usage) (float64, bool) {
	pr, ok := p[model]
	if !ok {
		return 0, false
	}
	return (float64(u.PromptTokens)*pr.Input + float64(u.CompletionTokens)*pr.Output) / 1e6, true
}

// Scaled returns the table with every price times f (the flex tier and
// the Batch API cost half).
func (p Prices) Scaled(f float64) Prices {
	out := make(Prices, len(p))
	for m, pr := range p {
		out[m] = Price{pr.Input * f, pr.Output * f}
	}
	return out
}

// Models lists the models with a price, sorted.
func (p Prices) Models() string {
	names := make([]string, 0, len(p))
	for m := range p {
		names = append(names, m)
	}
	sort.Strings(names)
	return strings.Join(names, ", ")
}

// priceRow is one line of a price file.
type priceRow struct {
	Model  string `csv:"model"`
	Input  string `csv:"input_per_million"`
	Output string `csv:"output_per_million"`
}

// ReadPrices reads a price file, a CSV with the header
// model,input_per_million,output_per_million, over base: its rows replace
// or add to base's. name is for messages.
func ReadPrices(r io.Reader, name string, base Prices) (Prices, error) {
	out := make(Prices, len(base))
	for m, pr := range base {
		out[m] = pr
	}
	var rows []priceRow
	if err := gocsv.Unmarshal(r, &rows); err != nil {
		return nil, fmt.Errorf("read price file %s: %w (want the header model,input_per_million,output_per_million)", name, err)
	}
	if len(rows) == 0 {
		return nil, fmt.Errorf("read price file %s: no prices (want the header model,input_per_million,output_per_million and a row per model)", name)
	}
	for i, row := range rows {
		line := i + 2
		if row.Model == "" {
			return nil, fmt.Errorf("price file %s line %d, column \"model\": empty", name, line)
		}
		in, err1 := parsePrice(row.Input)
		outp, err2 := parsePrice(row.Output)
		if err := errors.Join(err1, err2); err != nil {
			col := "input_per_million"
			if err1 == nil {
				col = "output_per_million"
			}
			return nil, fmt.Errorf("price file %s line %d, column %q: %w", name, line, col, err)
		}
		out[row.Model] = Price{in, outp}
	}
	return out, nil
}

func parsePrice(s string) (float64, error) {
	v, err := strconv.ParseFloat(strings.TrimSpace(s), 64)
	if err != nil || v < 0 {
		return 0, fmt.Errorf("%q is not a price in US dollars per million tokens", s)
	}
	return v, nil
}
