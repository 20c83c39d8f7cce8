package llm

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"math/rand/v2"
	"net/http"
	"net/netip"
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

// ServiceTierFlex is the Config.ServiceTier of OpenAI's flex tier: batch
// prices on ordinary calls, slower replies, and sometimes no capacity.
const ServiceTierFlex = "flex"

// FlexTimeout is the least time one HTTP attempt may take on the flex tier,
// whose replies can take much longer than the default tier's (OpenAI
// recommends raising the client timeout to 15 minutes). A flex client waits
// max(RequestTimeout, FlexTimeout) for each attempt.
const FlexTimeout = 15 * time.Minute

// flexNoCapacityCode is the error code of OpenAI's 429 reply to a flex
// request when the tier has no capacity (not charged).
const flexNoCapacityCode = "resource_unavailable"

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
	// On the flex tier an attempt may take max(RequestTimeout, FlexTimeout);
	// a re-send on the default tier is still bounded by RequestTimeout.
	RequestTimeout time.Duration
	// ServiceTier is "" for the default tier or ServiceTierFlex ("flex")
	// for OpenAI's flex tier; New refuses anything else. A flex request
	// that the server refuses for lack of capacity (429
	// resource_unavailable) is sent again at once on the default tier; this
	// is not a retry, and the next request tries flex again.
	ServiceTier string
	// MaxRetries is the number of retries after the first attempt;
	// DefaultMaxRetries when 0, none when negative.
	MaxRetries int
	// ReasoningTokens is added to the limit of a request sent with
	// max_completion_tokens, the parameter of reasoning models (which
	// refuse max_tokens) whose hidden reasoning counts against it: room
	// for the reasoning on top of the request's MaxTokens. New refuses a
	// negative value.
	ReasoningTokens int
	// HTTPClient, when set, is used (a copy of it, with its transport
	// wrapped) instead of a client built with timeouts. Its Timeout is set
	// to the attempt timeout (RequestTimeout, or FlexTimeout on the flex
	// tier if longer) when 0; a Timeout that is set is kept, flex or not.
	HTTPClient *http.Client
	// Logger receives retries and the tier that served each reply of a
	// flex client (debug), and fall-backs (info, the first of each kind);
	// discarded when nil.
	Logger *slog.Logger
	// Sleep waits between retries and returns ctx's error when ctx ends
	// first; Clock's Sleep when nil. The rate limiter waits with Clock
	// only.
	Sleep func(ctx context.Context, d time.Duration) error
	// Rand returns a number in [0, 1) to jitter backoff; math/rand/v2 when
	// nil. Calls to it are serialized.
	Rand func() float64

	// RPM and TPM are client-side limits in requests and tokens per
	// minute; 0 = unset: adapt to the server's x-ratelimit-* headers and
	// 429s. Every HTTP attempt (retries and fall-back re-sends included)
	// waits for them; see ratelimit.go. New refuses negative values.
	RPM, TPM int
	// EstimatePrompt estimates a request's prompt tokens (the command wires
	// an offline tokenizer); nil = bytes of all message contents / 4. A
	// request is charged this plus its MaxTokens (twice this when MaxTokens
	// is 0) against TPM, settled against the reply's usage.
	EstimatePrompt func(jobs.Request) int
	// Clock, for tests: Now and a context-aware Sleep; nil = real time. It
	// times the rate limiter, and the waits between retries when Sleep is
	// nil.
	Clock Clock
}

// Client sends chat completions. It is safe for concurrent use.
type Client struct {
	api        *openai.Client
	files      *openai.Client // file transfers: no overall HTTP timeout, see batch.go
	tr         *captureTransport
	key        string
	host       string
	model      string
	maxRetries int
	hc         *http.Client // what go-openai sends through
	log        *slog.Logger
	sleep      func(ctx context.Context, d time.Duration) error
	now        func() time.Time

	rl             *limiter
	estimatePrompt func(jobs.Request) int

	// flex sends requests on the flex tier first; requestTimeout then
	// bounds the default-tier re-sends, which the HTTP client (timed for
	// flex) would let run for FlexTimeout.
	flex           bool
	requestTimeout time.Duration
	reasoning      int // Config.ReasoningTokens
	flexFallbacks  atomic.Int64

	randMu sync.Mutex
	rnd    func() float64

	mu        sync.Mutex
	fallbacks map[string]*fallbacks // by model
}

var _ jobs.Completer = (*Client)(nil)

// ErrNoAPIKey means that no API key was given for a server that needs one
// (OpenAI's, Azure's).
var ErrNoAPIKey = errors.New("no API key")

// New returns a Client for cfg. It fails only on an invalid base URL,
// service tier or rate limit, or no API key for OpenAI's or Azure's
// servers. It logs a warning (cfg.Logger) for a base URL that InsecureURL
// reports, before any request is made.
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
	var flex bool
	switch cfg.ServiceTier {
	case "":
	case ServiceTierFlex:
		flex = true
	default:
		return nil, fmt.Errorf("invalid service tier %q: want %q or \"\" (the default tier)", cfg.ServiceTier, ServiceTierFlex)
	}
	if cfg.RPM < 0 || cfg.TPM < 0 {
		return nil, fmt.Errorf("invalid rate limit: rpm %d, tpm %d: want 0 (adapt to the server) or more", cfg.RPM, cfg.TPM)
	}
	if cfg.ReasoningTokens < 0 {
		return nil, fmt.Errorf("invalid reasoning tokens %d: want 0 or more", cfg.ReasoningTokens)
	}
	if cfg.RequestTimeout <= 0 {
		cfg.RequestTimeout = DefaultRequestTimeout
	}
	attemptTimeout := cfg.RequestTimeout
	if flex {
		attemptTimeout = max(attemptTimeout, FlexTimeout)
	}
	switch {
	case cfg.MaxRetries == 0:
		cfg.MaxRetries = DefaultMaxRetries
	case cfg.MaxRetries < 0:
		cfg.MaxRetries = 0
	}

	var oc openai.ClientConfig
	host := strings.ToLower(u.Hostname())
	azure := strings.HasSuffix(host, ".openai.azure.com") || strings.HasSuffix(host, ".cognitiveservices.azure.com")
	if cfg.APIKey == "" && (azure || host == "api.openai.com") {
		return nil, fmt.Errorf("%w for %s: set OPENAI_API_KEY or --api-key (only a local server, given with --base-url, may need none)", ErrNoAPIKey, host)
	}
	if azure {
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
	hc, tr := newHTTPClient(cfg.HTTPClient, attemptTimeout)
	oc.HTTPClient = hc
	// File transfers can take longer than any request timeout: their
	// client has none of its own (a Timeout the caller set is kept), and
	// batch.go bounds each transfer instead.
	fileHC := *hc
	if cfg.HTTPClient == nil || cfg.HTTPClient.Timeout == 0 {
		fileHC.Timeout = 0
	}
	foc := oc
	foc.HTTPClient = &fileHC

	var clock Clock = systemClock{}
	if cfg.Clock != nil {
		clock = cfg.Clock
	}
	c := &Client{
		api:            openai.NewClientWithConfig(oc),
		files:          openai.NewClientWithConfig(foc),
		tr:             tr,
		key:            cfg.APIKey,
		host:           u.Host,
		model:          cfg.Model,
		maxRetries:     cfg.MaxRetries,
		hc:             hc,
		flex:           flex,
		requestTimeout: cfg.RequestTimeout,
		reasoning:      cfg.ReasoningTokens,
		log:            cfg.Logger,
		sleep:          cfg.Sleep,
		now:            clock.Now,
		estimatePrompt: cfg.EstimatePrompt,
		rnd:            cfg.Rand,
		fallbacks:      make(map[string]*fallbacks),
	}
	if c.log == nil {
		c.log = slog.New(slog.DiscardHandler)
	}
	if c.sleep == nil {
		c.sleep = clock.Sleep
	}
	if c.estimatePrompt == nil {
		c.estimatePrompt = defaultEstimatePrompt
	}
	c.rl = newLimiter(cfg.RPM, cfg.TPM, clock, c.log)
	if c.rnd == nil {
		c.rnd = rand.Float64
	}
	if InsecureURL(base) {
		// Only the host: a base URL may carry credentials.
		c.log.Warn("the base URL is plain http to another machine: the API key and the articles cross the network unencrypted; use https",
			"host", c.host)
	}
	c.log.Debug("chat client ready", "host", c.host, "model", c.model, "azure", oc.APIType == openai.APITypeAzure,
		"request_timeout", hc.Timeout, "max_retries", c.maxRetries, "service_tier", cfg.ServiceTier,
		"rpm", cfg.RPM, "tpm", cfg.TPM)
	return c, nil
}

// InsecureURL reports whether base, a base URL, sends the API key and the
// articles unencrypted over a network: plain http to a host that is not
// this machine's loopback (127.0.0.0/8, ::1, localhost). https, a loopback
// host and a URL that does not parse (New refuses it) are not.
func InsecureURL(base string) bool {
	u, err := url.Parse(strings.TrimSpace(base))
	if err != nil || !strings.EqualFold(u.Scheme, "http") || u.Host == "" {
		return false
	}
	host := strings.TrimSuffix(strings.ToLower(u.Hostname()), ".")
	if host == "localhost" {
		return false
	}
	if ip, err := netip.ParseAddr(host); err == nil {
		return !ip.Unmap().IsLoopback()
	}
	return true
}

// FlexFallbacks returns how many flex requests were sent again on the
// default tier because the flex tier had no capacity.
func (c *Client) FlexFallbacks() int64 { return c.flexFallbacks.Load() }

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
// is left out. A flex client re-sends a flex request that found no capacity
// on the default tier, for this request only. These re-sends count in
// Reply.Attempts but not as retries.
func (c *Client) Complete(ctx context.Context, req jobs.Request) (jobs.Reply, error) {
	log := c.log.With("article_id", req.ArticleID, "step", string(req.Step), "model", req.Model)
	fb := c.fallbacksFor(req.Model)
	var (
		reply    jobs.Reply
		attempts int
		// paused is the end of the last pause that this call's own
		// replies asked for: the retry layer waits it out, so the
		// limiter does not hold the retry for it again.
		paused time.Time
	)
	tokens := c.reservation(req)
	err := c.retry(ctx, log, func(ctx context.Context) error {
		r, n, err := c.attempt(ctx, log, req, fb, tokens, &paused)
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
// *jobs.CallError. Each HTTP request first waits for the rate limiter and
// is charged tokens; a reply that asks to wait pauses the limiter until
// *paused.
func (c *Client) attempt(ctx context.Context, log *slog.Logger, req jobs.Request, fb *fallbacks, tokens int, paused *time.Time) (jobs.Reply, int, error) {
	requests := 0
	flex := c.flex
	// Each fall-back moves its state one way, so a few re-sends at most.
	for range 8 {
		used := fb.load()
		cr := c.chatRequest(req, used)
		if flex {
			cr.ServiceTier = openai.ServiceTierFlex
		}
		g, err := c.rl.acquire(ctx, tokens, *paused)
		if err != nil {
			return jobs.Reply{}, requests, err
		}
		capt := &capture{}
		resp, err := c.send(ctx, capt, cr)
		roundTrips, status, header := capt.result()
		if roundTrips > 0 {
			requests++
		}
		c.rl.observe(header)
		if err == nil {
			cost, known := usageCost(req, jobs.Usage{PromptTokens: resp.Usage.PromptTokens, CompletionTokens: resp.Usage.CompletionTokens})
			c.rl.settle(g, true, cost, known)
			c.rl.succeeded(g)
			if len(resp.Choices) == 0 {
				return jobs.Reply{}, requests, &jobs.CallError{
					Reason: ReasonInvalidReply, Status: status, Retryable: true,
					Message: "reply has no choices",
				}
			}
			if c.flex {
				log.Debug("chat completion served", "requested_tier", string(cr.ServiceTier), "service_tier", string(resp.ServiceTier))
			}
			return replyFrom(resp), requests, nil
		}
		c.rl.settle(g, roundTrips > 0, 0, false)
		if ctx.Err() != nil {
			return jobs.Reply{}, requests, ctx.Err()
		}
		if flex && flexNoCapacity(err) {
			flex = false
			reason := c.scrub(err.Error())
			if c.flexFallbacks.Add(1) == 1 {
				log.Info("flex tier has no capacity; falling back to the default tier for this request", "error", reason)
			} else {
				log.Debug("flex tier has no capacity; falling back to the default tier for this request", "error", reason)
			}
			continue
		}
		if c.fallBack(log, err, req, used, fb) {
			continue
		}
		ce := c.classify(err, status, header)
		if until, ok := c.slowDown(err, ce, g, header); ok {
			*paused = until
		}
		return jobs.Reply{}, requests, ce
	}
	return jobs.Reply{}, requests, &jobs.CallError{Reason: ReasonInvalidRequest, Message: "too many fall-back re-sends"}
}

// slowDown tells the rate limiter about a reply that asks the client to
// slow down: a 429 rate limit (for AIMD), and a 429 or 503 with Retry-After,
// which pauses every request; ok reports a pause, until its end.
func (c *Client) slowDown(err error, ce *jobs.CallError, g grant, header http.Header) (until time.Time, ok bool) {
	if ce.Fatal || (ce.Status != http.StatusTooManyRequests && ce.Status != http.StatusServiceUnavailable) {
		return time.Time{}, false
	}
	if ce.Status == http.StatusTooManyRequests {
		se, _ := parseServerError(err)
		if kind, isLimit := rateLimitKind(se); isLimit {
			c.rl.limited(g, kind, header)
		}
	}
	if ce.RetryAfter <= 0 {
		return time.Time{}, false
	}
	return c.rl.pause(ce.RetryAfter), true
}

// send makes one call. A default-tier request of a flex client is bounded
// by the request timeout, not by the HTTP client's longer flex timeout.
func (c *Client) send(ctx context.Context, capt *capture, cr openai.ChatCompletionRequest) (openai.ChatCompletionResponse, error) {
	if d := c.sendTimeout(cr.ServiceTier == openai.ServiceTierFlex); d > 0 {
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeout(ctx, d)
		defer cancel()
	}
	return c.api.CreateChatCompletion(withCapture(ctx, capt), cr)
}

// sendTimeout returns the deadline put on a request's context on top of the
// HTTP client's timeout, or 0 for none: a flex client's HTTP client waits
// for the flex tier, so its default-tier re-sends get the request timeout.
func (c *Client) sendTimeout(flexRequest bool) time.Duration {
	if !c.flex || flexRequest || c.requestTimeout >= c.hc.Timeout {
		return 0
	}
	return c.requestTimeout
}

// flexNoCapacity reports whether err is the flex tier's "no capacity" reply:
// 429 with code resource_unavailable, or a message saying so for servers
// that leave the code out.
func flexNoCapacity(err error) bool {
	se, ok := parseServerError(err)
	if !ok || se.status != http.StatusTooManyRequests {
		return false
	}
	return se.code == flexNoCapacityCode || strings.Contains(strings.ToLower(se.message), "resource unavailable")
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
			cr.MaxCompletionTokens = req.MaxTokens + c.reasoning
		} else {
			//lint:ignore SA1019 max_tokens is what OpenAI-compatible servers (vLLM, Ollama, llama.cpp) read; a server that refuses it gets max_completion_tokens
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
