package tokens

import (
	"fmt"
	"math"
	"strings"
	"sync"

	"github.com/pkoukk/tiktoken-go"
	tiktoken_loader "github.com/pkoukk/tiktoken-go-loader"

	"github.com/tarjama/tarjama/prompts"
)

// OtherModelFactor is how many tokens a model without a known tokenizer is
// assumed to spend for each o200k_base token.
//
// Local models (Llama 3, Qwen 2.5, Mistral) have smaller or less
// Arabic-heavy vocabularies than o200k_base and cut Arabic text into more
// pieces; English costs them about the same. tarjama's prompts are mostly
// Arabic, so 1.3 errs on the high side for the English parts and is a
// starting point, not a measurement. It is refined from the replies' usage:
// a run feeds each estimate and the server's prompt_tokens to a Calibration,
// whose Ratio is the factor to multiply this one by for that model, and
// whose Report shows the error in the run summary.
const OtherModelFactor = 1.3

// Encoding names.
const (
	O200kBase  = "o200k_base"
	CL100kBase = "cl100k_base"
)

// Framing tokens of a chat request, as OpenAI bills them (the
// openai-cookbook's num_tokens_from_messages, for every model since
// gpt-3.5-turbo-0613).
const (
	tokensPerMessage = 3 // <|start|>{role}<|message|>{content}<|end|>
	tokensPerReply   = 3 // <|start|>assistant<|message|>
)

// The offline loader reads the tables embedded in the binary instead of
// downloading them. tiktoken-go keeps its loader in an unguarded package
// variable: setting it in init, before any goroutine can build an encoder,
// keeps that free of races.
func init() {
	tiktoken.SetBpeLoader(tiktoken_loader.NewOfflineLoader())
}

// Counter counts tokens offline. It is safe for concurrent use.
//
// Encoders are built lazily, once per Counter and encoding, on first use.
// Building one takes about 0.35 s and 25 MB of heap for o200k_base, 0.15 s
// and 12 MB for cl100k_base (tiktoken-go keeps the parsed tables for the
// process; each Counter adds its own lookup structures, about half of
// that), so make one Counter per process and share it.
type Counter struct {
	o200k  func() (*tiktoken.Tiktoken, error)
	cl100k func() (*tiktoken.Tiktoken, error)
}

// New returns a Counter. It is cheap: no encoder is built until a count
// needs it.
func New() *Counter {
	return &Counter{
		o200k:  sync.OnceValues(func() (*tiktoken.Tiktoken, error) { return tiktoken.GetEncoding(O200kBase) }),
		cl100k: sync.OnceValues(func() (*tiktoken.Tiktoken, error) { return tiktoken.GetEncoding(CL100kBase) }),
	}
}

// Text counts the tokens of s for model.
//
// OpenAI models (gpt-4o*, chatgpt-4o*, gpt-4.1*, gpt-4.5*, gpt-5*, o1*, o3*,
// o4*) use o200k_base; gpt-4, gpt-4-* and gpt-3.5-turbo* use cl100k_base.
// Any other model gets an estimate: the o200k_base count times
// OtherModelFactor, rounded to the nearest integer. See Encoding for how
// model names are matched.
//
// Special-token text such as "<|endoftext|>" is counted as ordinary text.
//
// Text panics if an encoder cannot be built, which means the embedded
// tables are broken: the binary itself is bad.
func (c *Counter) Text(model, s string) int {
	enc, factor := c.encoder(model)
	n := len(enc.EncodeOrdinary(s))
	if factor == 1 {
		return n
	}
	return int(math.Round(float64(n) * factor))
}

// Messages counts a chat request's prompt as OpenAI bills it: for each
// message 3 tokens of framing plus the tokens of its role and its content,
// then 3 tokens priming the reply. For a model without a known tokenizer
// the whole o200k_base figure, framing included, is multiplied by
// OtherModelFactor once.
func (c *Counter) Messages(model string, msgs []prompts.Message) int {
	enc, factor := c.encoder(model)
	n := tokensPerReply
	for _, m := range msgs {
		n += tokensPerMessage
		n += len(enc.EncodeOrdinary(m.Role))
		n += len(enc.EncodeOrdinary(m.Content))
	}
	if factor == 1 {
		return n
	}
	return int(math.Round(float64(n) * factor))
}

// Exact reports whether model's counts use its real tokenizer rather than
// an estimate.
func (c *Counter) Exact(model string) bool {
	_, exact := encodingFor(model)
	return exact
}

// Encoding names the encoding used for model: "o200k_base",
// "cl100k_base", or "o200k_base×1.3 (estimate)" for a model without a
// known tokenizer.
//
// Model names are matched case-insensitively, after dropping a fine-tune
// prefix ("ft:gpt-4o-mini-2024-07-18:org::id") and a provider path
// ("openai/gpt-4o" as OpenRouter spells it). Dated snapshots and variants
// match their family ("gpt-4o-2024-08-06", "gpt-4.1-mini", "o3-mini").
// Azure deployment names are the deployment's own, not the model's: they
// get the estimate.
func (c *Counter) Encoding(model string) string {
	name, exact := encodingFor(model)
	if exact {
		return name
	}
	return fmt.Sprintf("%s×%g (estimate)", name, OtherModelFactor)
}

// encoder returns the encoder for model and the factor to apply to its
// counts.
func (c *Counter) encoder(model string) (*tiktoken.Tiktoken, float64) {
	name, exact := encodingFor(model)
	build := c.o200k
	if name == CL100kBase {
		build = c.cl100k
	}
	enc, err := build()
	if err != nil {
		panic(fmt.Sprintf("tokens: build %s encoder from the embedded tables: %v", name, err))
	}
	if exact {
		return enc, 1
	}
	return enc, OtherModelFactor
}

// encodingFor returns the encoding for model and whether it is the model's
// own.
func encodingFor(model string) (name string, exact bool) {
	m := strings.ToLower(strings.TrimSpace(model))
	if rest, ok := strings.CutPrefix(m, "ft:"); ok {
		m, _, _ = strings.Cut(rest, ":")
	}
	if i := strings.LastIndexByte(m, '/'); i >= 0 {
		m = m[i+1:]
	}
	switch {
	case family(m, "gpt-4o"), family(m, "chatgpt-4o"),
		family(m, "gpt-4.1"), family(m, "gpt-4.5"),
		family(m, "gpt-5"), strings.HasPrefix(m, "gpt-5."),
		family(m, "o1"), family(m, "o3"), family(m, "o4"):
		return O200kBase, true
	case family(m, "gpt-4"), family(m, "gpt-3.5-turbo"):
		return CL100kBase, true
	}
	return O200kBase, false
}

// family reports whether model is base or one of its variants, base
// followed by "-" ("gpt-4o-mini", "gpt-4-0613"). A bare prefix is not
// enough: "gpt-4" must not take in "gpt-4o" or "gpt-4.1", nor "o1" "o10".
func family(model, base string) bool {
	rest, ok := strings.CutPrefix(model, base)
	return ok && (rest == "" || rest[0] == '-')
}
