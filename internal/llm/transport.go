package llm

import (
	"context"
	"errors"
	"io"
	"net"
	"net/http"
	"sync"
	"time"
)

// MaxReplyBytes bounds the body of any reply read from the server. A larger
// body fails the call with errReplyTooLarge instead of filling memory.
const MaxReplyBytes = 32 << 20

// errReplyTooLarge is returned by a reply body that passes MaxReplyBytes.
var errReplyTooLarge = errors.New("reply body larger than 32 MiB")

// capture records what the server answered to one call. go-openai drops the
// status and headers of failed calls; captureTransport fills a capture that
// the call put in its request context, so concurrent calls never mix.
type capture struct {
	mu         sync.Mutex
	roundTrips int
	status     int
	header     http.Header
}

type captureKey struct{}

// unlimitedKey marks a request whose successful reply body may pass
// MaxReplyBytes: the download of a batch output file.
type unlimitedKey struct{}

func withUnlimitedReply(ctx context.Context) context.Context {
	return context.WithValue(ctx, unlimitedKey{}, true)
}

func unlimitedReply(ctx context.Context) bool {
	v, _ := ctx.Value(unlimitedKey{}).(bool)
	return v
}

func withCapture(ctx context.Context, c *capture) context.Context {
	return context.WithValue(ctx, captureKey{}, c)
}

func captureFrom(ctx context.Context) *capture {
	c, _ := ctx.Value(captureKey{}).(*capture)
	return c
}

func (c *capture) started() {
	c.mu.Lock()
	c.roundTrips++
	c.mu.Unlock()
}

func (c *capture) set(status int, h http.Header) {
	c.mu.Lock()
	c.status, c.header = status, h
	c.mu.Unlock()
}

// result returns the number of HTTP round trips made, and the status and
// headers of the last response (0 and nil when none came).
func (c *capture) result() (roundTrips, status int, h http.Header) {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.roundTrips, c.status, c.header
}

// captureTransport sits beneath go-openai: it records each response's status
// and headers in the request's capture, and limits the reply body.
type captureTransport struct {
	base  http.RoundTripper
	limit int64
}

func (t *captureTransport) RoundTrip(req *http.Request) (*http.Response, error) {
	c := captureFrom(req.Context())
	if c != nil {
		c.started()
	}
	resp, err := t.base.RoundTrip(req)
	if resp == nil {
		return resp, err
	}
	if c != nil {
		c.set(resp.StatusCode, resp.Header.Clone())
	}
	if resp.Body != nil && (resp.StatusCode >= 300 || !unlimitedReply(req.Context())) {
		if resp.ContentLength > t.limit {
			// Declared too large: fail at the first read, without
			// reading the body.
			resp.Body.Close()
			resp.Body = &limitedBody{rc: http.NoBody, n: 0, tooLarge: true}
		} else {
			resp.Body = &limitedBody{rc: resp.Body, n: t.limit}
		}
	}
	return resp, err
}

// limitedBody reads at most n bytes, and fails with errReplyTooLarge when the
// body holds more (or declares more in its Content-Length).
type limitedBody struct {
	rc io.ReadCloser
	n  int64
	// tooLarge fails every read: the declared length passed the limit.
	tooLarge bool
}

func (b *limitedBody) Read(p []byte) (int, error) {
	if b.tooLarge {
		return 0, errReplyTooLarge
	}
	if b.n <= 0 {
		var probe [1]byte
		n, err := b.rc.Read(probe[:])
		if n > 0 {
			return 0, errReplyTooLarge
		}
		return 0, err
	}
	if int64(len(p)) > b.n {
		p = p[:b.n]
	}
	n, err := b.rc.Read(p)
	b.n -= int64(n)
	return n, err
}

func (b *limitedBody) Close() error { return b.rc.Close() }

// newHTTPClient returns the client go-openai sends through: a copy of
// given (or a new client with timeouts) with a captureTransport beneath it.
// timeout bounds each attempt.
func newHTTPClient(given *http.Client, timeout time.Duration) (*http.Client, *captureTransport) {
	var hc http.Client
	if given != nil {
		hc = *given
	} else {
		hc.Transport = newTransport(timeout)
	}
	if hc.Timeout == 0 {
		hc.Timeout = timeout
	}
	base := hc.Transport
	if base == nil {
		base = http.DefaultTransport
	}
	tr := &captureTransport{base: base, limit: MaxReplyBytes}
	hc.Transport = tr
	return &hc, tr
}

// Limits of the transport newTransport builds, beside the request timeout
// (which bounds the response headers and, through http.Client.Timeout, the
// whole attempt, body included) and MaxReplyBytes.
const (
	dialTimeout         = 30 * time.Second
	tlsHandshakeTimeout = 10 * time.Second
	idleConnTimeout     = 90 * time.Second
	// maxHeaderBytes bounds the response headers (net/http's default is
	// 10 MB); an API's headers take a few kilobytes.
	maxHeaderBytes = 1 << 20
)

// newTransport clones http.DefaultTransport (keeping its proxy settings) with
// bounded dial and TLS times. A non-streaming reply sends its headers only
// when the whole completion is ready, so the response-header timeout is the
// request timeout.
func newTransport(requestTimeout time.Duration) *http.Transport {
	t, ok := http.DefaultTransport.(*http.Transport)
	if ok {
		t = t.Clone()
	} else {
		t = &http.Transport{Proxy: http.ProxyFromEnvironment, ForceAttemptHTTP2: true}
	}
	d := &net.Dialer{Timeout: dialTimeout, KeepAlive: 30 * time.Second}
	t.DialContext = d.DialContext
	t.TLSHandshakeTimeout = tlsHandshakeTimeout
	t.ResponseHeaderTimeout = requestTimeout
	t.MaxResponseHeaderBytes = maxHeaderBytes
	t.ExpectContinueTimeout = time.Second
	t.IdleConnTimeout = idleConnTimeout
	t.MaxIdleConns = 100
	t.MaxIdleConnsPerHost = 64 // --concurrency requests to one host
	return t
}
