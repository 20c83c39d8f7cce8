package llm

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"math/rand/v2"
	"net/http"
	"net/url"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	openai "github.com/sashabaranov/go-openai"

	"github.com/tarjama/tarjama/jobs"
)

// Defaults applied by New to the zero fields of Config.
const (
	DefaultBaseURL         = "https://api.openai.com/v1"
	DefaultAzureAPIVersion = "2024-10-21"
	DefaultRequestTimeout  = 2 * time.Minute
	DefaultMaxRetries      = 6
)

// zeroTemperature is sent for a requested temperature of 0: go-openai omits
// a zero Temperature (omitempty), and the server would then use its own
// default (often 1).
const zeroTemperature = 1e-6

// Config configures a Client. Only BaseURL, APIKey and Model come from the
// user; the rest has working defaults.
type Config struct {
	// BaseURL is the OpenAI-compatible endpoint; "" means OpenAI's. A host
	// under .openai.azure.com or .cognitiveservices.azure.com selects
	// Azure OpenAI, where the request's model is the deployment name.
	BaseURL string
	// APIKey may be empty for a local server. It is never logged and is
	// scrubbed from every error message (keys shorter than 4 characters,
	// placeholders of local servers, are left alone).
	APIKey string
	// Model is for logs only; each request names its own model.
	Model string
	// APIVersion is Azure's api-version; DefaultAzureAPIVersion when empty.
	APIVersion string
	// RequestTimeout bounds each HTTP attempt; DefaultRequestTimeout when 0.
	RequestTimeout time.Duration
	// MaxRetries is the number of retries after the first attempt;
	// DefaultMaxRetries when 0, none when negative.
	MaxRetries int
	// HTTPClient, when set, is used (a copy of it, with its transport
	// wrapped) instead of a client built with timeouts. Its Timeout is set
	// to RequestTimeout when 0.
	HTTPClient *http.Client
	// Logger receives retries (debug) and fall-backs (info); discarded
	// when nil.
	Logger *slog.Logger
	// Sleep waits between retries and returns ctx's error when ctx ends
	// first; a timer when nil.
	Sleep func(ctx context.Context, d time.Duration) error
	// Rand returns a number in [0, 1) to jitter backoff; math/rand/v2 when
	// nil. Calls to it are serialized.
	Rand func() float64
}

// Client sends chat completions. It is safe for concurrent use.
type Client struct {
	api        *openai.Client
	tr         *captureTransport
	key        string
	host       string
	model      string
	maxRetries int
	log        *slog.Logger
	sleep      func(ctx context.Context, d time.Duration) error
	now        func() time.Time

	randMu sync.Mutex
	rnd    func() float64

	mu        sync.Mutex
	fallbacks map[string]*fallbacks // by model
}

var _ jobs.Completer = (*Client)(nil)

// New returns a Client for cfg. It fails only on an invalid base URL.
func New(cfg Config) (*Client, error) {
	base := strings.TrimSpace(cfg.BaseURL)
	if base == "" {
		base = DefaultBaseURL
	}
	u, err := url.Parse(base)
	if err != nil {
		return nil, fmt.Errorf("invalid base URL %q: %w", base, err)
	}
	if u.Scheme != "http" && u.Scheme != "https" {
		return nil, fmt.Errorf("invalid base URL %q: scheme must be http or https", base)
	}
	if u.Host == "" {
		return nil, fmt.Errorf("invalid base URL %q: no host", base)
	}
	if cfg.RequestTimeout <= 0 {
		cfg.RequestTimeout = DefaultRequestTimeout
	}
	switch {
	case cfg.MaxRetries == 0:
		cfg.MaxRetries = DefaultMaxRetries
	case cfg.MaxRetries < 0:
		cfg.MaxRetries = 0
	}

	var oc openai.ClientConfig
	host := strings.ToLower(u.Hostname())
	if strings.HasSuffix(host, ".openai.azure.com") || strings.HasSuffix(host, ".cognitiveservices.azure.com") {
		// go-openai adds /openai/deployments/<model>; accept a base URL
		// that already ends in /openai.
		base = strings.TrimSuffix(strings.TrimRight(base, "/"), "/openai")
		oc = openai.DefaultAzureConfig(cfg.APIKey, base)
		oc.APIVersion = cfg.APIVersion
		if oc.APIVersion == "" {
			oc.APIVersion = DefaultAzureAPIVersion
		}
		// The model is the deployment name, as the user gave it.
		oc.AzureModelMapperFunc = func(model string) string { return model }
	} else {
		oc = openai.DefaultConfig(cfg.APIKey)
		oc.BaseURL = base
	}
	hc, tr := newHTTPClient(cfg)
	oc.HTTPClient = hc

	c := &Client{
		api:        openai.NewClientWithConfig(oc),
		tr:         tr,
		key:        cfg.APIKey,
		host:       u.Host,
		model:      cfg.Model,
		maxRetries: cfg.MaxRetries,
		log:        cfg.Logger,
		sleep:      cfg.Sleep,
		now:        time.Now,
		rnd:        cfg.Rand,
		fallbacks:  make(map[string]*fallbacks),
	}
	if c.log == nil {
		c.log = slog.New(slog.DiscardHandler)
	}
	if c.sleep == nil {
		c.sleep = sleepCtx
	}
	if c.rnd == nil {
		c.rnd = rand.Float64
	}
	c.log.Debug("chat client ready", "host", c.host, "model", c.model, "azure", oc.APIType == openai.APITypeAzure,
		"request_timeout", hc.Timeout, "max_retries", c.maxRetries)
	return c, nil
}

// rand returns the next jitter factor, kept within [0, 1].
func (c *Client) rand() float64 {
	c.randMu.Lock()
	r := c.rnd()
	c.randMu.Unlock()
	return min(max(r, 0), 1)
}

// Complete sends req and returns the first choice of the reply. It retries
// what is worth retrying (see retry.go) and returns a *jobs.CallError for a
// request that finally failed, or ctx's error (wrapped) when ctx ends first.
//
// A server that rejects a parameter with a 400 gets the request again
// without it, and the client remembers this for the model for the rest of
// the run: structured outputs fall back to JSON mode, then to no
// response_format; max_tokens becomes max_completion_tokens; temperature
// is left out. These re-sends count in Reply.Attempts but not as retries.
func (c *Client) Complete(ctx context.Context, req jobs.Request) (jobs.Reply, error) {
	log := c.log.With("article_id", req.ArticleID, "step", string(req.Step), "model", req.Model)
	fb := c.fallbacksFor(req.Model)
	var (
		reply    jobs.Reply
		attempts int
	)
	err := c.retry(ctx, log, func(ctx context.Context) error {
		r, n, err := c.attempt(ctx, log, req, fb)
		attempts += n
		reply = r
		return err
	})
	if err != nil {
		var ce *jobs.CallError
		if errors.As(err, &ce) {
			ce.Attempts = attempts
			return jobs.Reply{}, ce
		}
		return jobs.Reply{}, fmt.Errorf("chat completion: %w", err)
	}
	reply.Attempts = attempts
	return reply, nil
}

// attempt sends req once, plus the re-sends of its fall-backs, and returns
// the reply, the number of HTTP requests made, and nil, ctx's error or a
// *jobs.CallError.
func (c *Client) attempt(ctx context.Context, log *slog.Logger, req jobs.Request, fb *fallbacks) (jobs.Reply, int, error) {
	requests := 0
	// Each fall-back moves its state one way, so a few re-sends at most.
	for range 8 {
		used := fb.load()
		capt := &capture{}
		resp, err := c.api.CreateChatCompletion(withCapture(ctx, capt), c.chatRequest(req, used))
		roundTrips, status, header := capt.result()
		if roundTrips > 0 {
			requests++
		}
		if err == nil {
			if len(resp.Choices) == 0 {
				return jobs.Reply{}, requests, &jobs.CallError{
					Reason: ReasonInvalidReply, Status: status, Retryable: true,
					Message: "reply has no choices",
				}
			}
			return replyFrom(resp), requests, nil
		}
		if ctx.Err() != nil {
			return jobs.Reply{}, requests, ctx.Err()
		}
		if c.fallBack(log, err, req, used, fb) {
			continue
		}
		return jobs.Reply{}, requests, c.classify(err, status, header)
	}
	return jobs.Reply{}, requests, &jobs.CallError{Reason: ReasonInvalidRequest, Message: "too many fall-back re-sends"}
}

func replyFrom(resp openai.ChatCompletionResponse) jobs.Reply {
	ch := resp.Choices[0]
	content := ch.Message.Content
	if content == "" && ch.Message.Refusal != "" {
		// Structured outputs put a refusal beside an empty content; the
		// pipeline recognizes refusals by their text.
		content = ch.Message.Refusal
	}
	return jobs.Reply{
		Content:      content,
		FinishReason: string(ch.FinishReason),
		Model:        resp.Model,
		Usage: jobs.Usage{
			PromptTokens:     resp.Usage.PromptTokens,
			CompletionTokens: resp.Usage.CompletionTokens,
		},
	}
}

// chatRequest builds the go-openai request for req under the fall-backs in
// force.
func (c *Client) chatRequest(req jobs.Request, fs fallbackState) openai.ChatCompletionRequest {
	cr := openai.ChatCompletionRequest{
		Model:    req.Model,
		Messages: make([]openai.ChatCompletionMessage, len(req.Messages)),
	}
	for i, m := range req.Messages {
		cr.Messages[i] = openai.ChatCompletionMessage{Role: m.Role, Content: m.Content}
	}
	if !fs.noTemperature {
		cr.Temperature = req.Temperature
		if cr.Temperature == 0 {
			cr.Temperature = zeroTemperature
		}
	}
	if req.MaxTokens > 0 {
		if fs.maxCompletionTokens {
			cr.MaxCompletionTokens = req.MaxTokens
		} else {
			cr.MaxTokens = req.MaxTokens
		}
	}
	if req.Schema != nil {
		format := fs.format
		if len(req.Schema.JSON) == 0 && format == formatJSONSchema {
			format = formatJSONObject
		}
		switch format {
		case formatJSONSchema:
			cr.ResponseFormat = &openai.ChatCompletionResponseFormat{
				Type: openai.ChatCompletionResponseFormatTypeJSONSchema,
				JSONSchema: &openai.ChatCompletionResponseFormatJSONSchema{
					Name:   req.Schema.Name,
					Schema: req.Schema.JSON,
					Strict: true,
				},
			}
		case formatJSONObject:
			// The templates already ask for JSON, as JSON mode requires.
			cr.ResponseFormat = &openai.ChatCompletionResponseFormat{
				Type: openai.ChatCompletionResponseFormatTypeJSONObject,
			}
		}
	}
	return cr
}

// The response_format levels, from the best to none.
const (
	formatJSONSchema int32 = iota
	formatJSONObject
	formatNone
)

// fallbacks is what a model's server turned out not to accept. Each field
// only moves one way.
type fallbacks struct {
	format              atomic.Int32
	maxCompletionTokens atomic.Bool
	noTemperature       atomic.Bool
}

type fallbackState struct {
	format              int32
	maxCompletionTokens bool
	noTemperature       bool
}

func (f *fallbacks) load() fallbackState {
	return fallbackState{f.format.Load(), f.maxCompletionTokens.Load(), f.noTemperature.Load()}
}

func (c *Client) fallbacksFor(model string) *fallbacks {
	c.mu.Lock()
	defer c.mu.Unlock()
	f, ok := c.fallbacks[model]
	if !ok {
		f = &fallbacks{}
		c.fallbacks[model] = f
	}
	return f
}

// fallBack reports whether err is a rejection of a parameter that req was
// sent with under used, and if so moves fb past it (logging the change once)
// so that the request can be sent again. It also handles go-openai's own
// checks for reasoning models, which refuse max_tokens and temperature
// before sending.
func (c *Client) fallBack(log *slog.Logger, err error, req jobs.Request, used fallbackState, fb *fallbacks) bool {
	var text string
	switch {
	case errors.Is(err, openai.ErrReasoningModelMaxTokensDeprecated):
		text = "max_tokens max_completion_tokens"
	case errors.Is(err, openai.ErrReasoningModelLimitationsOther), errors.Is(err, openai.ErrReasoningSamplingUnsupported):
		text = "temperature unsupported"
	default:
		se, ok := parseServerError(err)
		if !ok || se.status != http.StatusBadRequest {
			return false
		}
		text = strings.ToLower(se.message + " " + se.param + " " + se.code)
		if se.param == "temperature" {
			text += " temperature unsupported"
		}
	}
	has := func(words ...string) bool {
		for _, w := range words {
			if strings.Contains(text, w) {
				return true
			}
		}
		return false
	}
	reason := c.scrub(err.Error())
	switch {
	case req.MaxTokens > 0 && !used.maxCompletionTokens && has("max_tokens") && has("max_completion_tokens"):
		if fb.maxCompletionTokens.CompareAndSwap(false, true) {
			log.Info("max_tokens rejected; falling back to max_completion_tokens for this model", "error", reason)
		}
		return true
	case !used.noTemperature && has("temperature") &&
		has("unsupported", "not supported", "does not support", "not support", "only the default", "not allowed"):
		if fb.noTemperature.CompareAndSwap(false, true) {
			log.Info("temperature rejected; falling back to the server's default temperature for this model", "error", reason)
		}
		return true
	case req.Schema != nil && used.format < formatNone &&
		has("response_format", "json_schema", "json_object", "structured output"):
		if fb.format.CompareAndSwap(used.format, used.format+1) {
			msg := "structured outputs rejected; falling back to JSON mode for this model"
			if used.format == formatJSONObject {
				msg = "JSON mode rejected; falling back to no response_format for this model"
			}
			log.Info(msg, "error", reason)
		}
		return true
	}
	return false
}
