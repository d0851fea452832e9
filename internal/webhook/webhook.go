// Package webhook delivers authd's security events to an operator's
// endpoint, signed per the Standard Webhooks specification
// (https://www.standardwebhooks.com, "Signature scheme" and "Webhook
// headers"), asynchronously, with bounded retries and a bounded queue.
//
// The endpoint URL often carries a secret (a token in its path or query),
// so it is never logged: log lines name its host only. Redirects are never
// followed (the specification counts a 3xx as a failure).
package webhook

import (
	"bytes"
	"context"
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	mrand "math/rand/v2"
	"net"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"

	"github.com/prometheus/client_golang/prometheus"
)

// SecretPrefix starts every Standard Webhooks symmetric secret.
const SecretPrefix = "whsec_"

// Secret lengths the specification allows for HMAC-SHA256: at least 24
// bytes (192 bits), at most 64 (512 bits).
const (
	MinSecretBytes = 24
	MaxSecretBytes = 64
)

// Defaults of DefaultConfig.
const (
	DefaultQueueSize      = 256
	DefaultMaxAttempts    = 5
	DefaultInitialBackoff = time.Second
	DefaultMaxBackoff     = time.Minute
	// DefaultTimeout is the per-attempt timeout; the specification
	// recommends 15 to 30 s.
	DefaultTimeout = 15 * time.Second
)

// Errors of New and ParseSecret.
var (
	// ErrInvalidSecret means the secret is not "whsec_" + standard base64
	// of 24 to 64 bytes. Its message never contains the secret.
	ErrInvalidSecret = errors.New("webhook: secret must be " + SecretPrefix + " followed by standard base64 of 24 to 64 random bytes")
	// ErrInvalidConfig means a Config field is missing or out of range.
	ErrInvalidConfig = errors.New("webhook: invalid configuration")
)

// ParseSecret decodes a Standard Webhooks symmetric secret
// ("whsec_" + base64 of 24 to 64 bytes) into the HMAC key.
func ParseSecret(s string) ([]byte, error) {
	b64, ok := strings.CutPrefix(s, SecretPrefix)
	if !ok {
		return nil, ErrInvalidSecret
	}
	key, err := base64.StdEncoding.DecodeString(b64)
	if err != nil || len(key) < MinSecretBytes || len(key) > MaxSecretBytes {
		return nil, ErrInvalidSecret
	}
	return key, nil
}

// Config configures a Sender. Every field but Secret, Client and
// Registerer is required; DefaultConfig fills them.
type Config struct {
	// URL is the endpoint (absolute http or https).
	URL string
	// Secret is "whsec_" + base64; empty sends unsigned deliveries (only
	// --dev allows that; internal/config enforces it).
	Secret string
	// QueueSize bounds the events waiting for delivery; beyond it new
	// events are dropped (and logged, and counted).
	QueueSize int
	// MaxAttempts bounds the attempts per event (the first included).
	MaxAttempts int
	// InitialBackoff is the delay before the second attempt; each further
	// delay doubles, up to MaxBackoff, with jitter.
	InitialBackoff, MaxBackoff time.Duration
	// Timeout bounds one attempt.
	Timeout time.Duration
	// Client, if set, sends the requests (its redirect policy is replaced:
	// redirects are never followed). Default: a client of
	// http.DefaultTransport.
	Client *http.Client
	// Registerer, if set, receives the delivery counters.
	Registerer prometheus.Registerer
	Now        func() time.Time
	Logger     *slog.Logger
}

// DefaultConfig returns a Config with every default filled in, for url
// and secret.
func DefaultConfig(url, secret string) Config {
	return Config{
		URL:            url,
		Secret:         secret,
		QueueSize:      DefaultQueueSize,
		MaxAttempts:    DefaultMaxAttempts,
		InitialBackoff: DefaultInitialBackoff,
		MaxBackoff:     DefaultMaxBackoff,
		Timeout:        DefaultTimeout,
		Now:            time.Now,
		Logger:         slog.Default(),
	}
}

// Sender delivers events to one endpoint. Send never blocks; Run delivers.
type Sender struct {
	cfg    Config
	url    string // the endpoint, never logged
	host   string // what log lines name instead
	key    []byte // nil: unsigned
	client *http.Client
	queue  chan message

	delivered, failed, dropped prometheus.Counter
}

// message is one event: its id and body stay the same on every attempt
// (the id is the receiver's idempotency key); the timestamp is the
// attempt's.
type message struct {
	id   string
	body []byte
}

// New validates cfg and returns a Sender; call Run to deliver.
func New(cfg Config) (*Sender, error) {
	u, err := url.Parse(cfg.URL)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		// The URL is not echoed: it may hold a secret.
		return nil, fmt.Errorf("%w: the URL must be an absolute http(s) URL", ErrInvalidConfig)
	}
	switch {
	case cfg.QueueSize <= 0, cfg.MaxAttempts <= 0, cfg.InitialBackoff <= 0, cfg.Timeout <= 0:
		return nil, fmt.Errorf("%w: QueueSize, MaxAttempts, InitialBackoff and Timeout must be positive", ErrInvalidConfig)
	case cfg.MaxBackoff < cfg.InitialBackoff:
		return nil, fmt.Errorf("%w: MaxBackoff is below InitialBackoff", ErrInvalidConfig)
	case cfg.Now == nil || cfg.Logger == nil:
		return nil, fmt.Errorf("%w: Now and Logger are required", ErrInvalidConfig)
	}
	s := &Sender{cfg: cfg, url: cfg.URL, host: u.Host, queue: make(chan message, cfg.QueueSize)}
	if cfg.Secret != "" {
		if s.key, err = ParseSecret(cfg.Secret); err != nil {
			return nil, err
		}
	}
	base := cfg.Client
	if base == nil {
		base = &http.Client{}
	}
	c := *base
	c.Timeout = cfg.Timeout
	// Never follow a redirect: the 3xx itself is the answer (a failure).
	c.CheckRedirect = func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }
	s.client = &c

	events := prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "authd_security_webhook_events_total",
		Help: "Security events by delivery result: delivered, failed (given up) or dropped (queue full).",
	}, []string{"result"})
	s.delivered = events.WithLabelValues("delivered")
	s.failed = events.WithLabelValues("failed")
	s.dropped = events.WithLabelValues("dropped")
	if cfg.Registerer != nil {
		if err := cfg.Registerer.Register(events); err != nil {
			return nil, fmt.Errorf("webhook: metrics: %w", err)
		}
	}
	if s.key == nil {
		s.log().Warn("security webhook deliveries are NOT signed: set --security-webhook-secret (allowed only with --dev)")
	}
	if u.Scheme == "http" && !isLoopback(u.Hostname()) {
		s.log().Warn("security webhook URL is plain http: events (user ids, client ids, addresses) cross the network unencrypted; use https")
	}
	return s, nil
}

func (s *Sender) log() *slog.Logger { return s.cfg.Logger.With("webhook_host", s.host) }

// Send queues v (marshalled to JSON now) for delivery. It never blocks: if
// the queue is full the event is dropped, logged and counted.
func (s *Sender) Send(v any) {
	body, err := json.Marshal(v)
	if err != nil {
		s.log().Error("security webhook: event not encodable; dropped", "err", err)
		s.dropped.Inc()
		return
	}
	m := message{id: "msg_" + rand.Text(), body: body}
	select {
	case s.queue <- m:
	default:
		s.dropped.Inc()
		s.log().Warn("security webhook queue full; event dropped", "webhook_id", m.id, "queue_size", s.cfg.QueueSize)
	}
}

// Run delivers queued events, one at a time in order, until ctx ends;
// events still queued then are not delivered.
func (s *Sender) Run(ctx context.Context) {
	for {
		select {
		case <-ctx.Done():
			return
		case m := <-s.queue:
			s.deliver(ctx, m)
		}
	}
}

// deliver makes up to MaxAttempts attempts, waiting with exponential
// backoff and full jitter between them (the specification recommends
// both), at least as long as a Retry-After asks (capped at MaxBackoff).
func (s *Sender) deliver(ctx context.Context, m message) {
	log := s.log().With("webhook_id", m.id)
	backoff := s.cfg.InitialBackoff
	for attempt := 1; ; attempt++ {
		retryAfter, err := s.attempt(ctx, m)
		if err == nil {
			s.delivered.Inc()
			return
		}
		if ctx.Err() != nil {
			return
		}
		var perm *permanentError
		final := errors.As(err, &perm) || attempt >= s.cfg.MaxAttempts
		if final {
			s.failed.Inc()
			log.Error("security webhook delivery failed; giving up", "attempts", attempt, "err", err)
			return
		}
		wait := backoff/2 + mrand.N(backoff/2+1)
		wait = min(max(wait, retryAfter), s.cfg.MaxBackoff)
		log.Warn("security webhook delivery failed; will retry", "attempt", attempt, "retry_in", wait, "err", err)
		t := time.NewTimer(wait)
		select {
		case <-ctx.Done():
			t.Stop()
			return
		case <-t.C:
		}
		backoff = min(backoff*2, s.cfg.MaxBackoff)
	}
}

// permanentError is a failure that a retry will not mend.
type permanentError struct{ msg string }

func (e *permanentError) Error() string { return e.msg }

// attempt POSTs m once, signed with this attempt's timestamp. It returns
// the receiver's Retry-After, if any, and nil for a 2xx answer.
func (s *Sender) attempt(ctx context.Context, m message) (time.Duration, error) {
	ts := strconv.FormatInt(s.cfg.Now().Unix(), 10)
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, s.url, bytes.NewReader(m.body))
	if err != nil {
		return 0, &permanentError{"cannot build the request"}
	}
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("User-Agent", "authd-security-webhook")
	req.Header.Set("webhook-id", m.id)
	req.Header.Set("webhook-timestamp", ts)
	if s.key != nil {
		req.Header.Set("webhook-signature", "v1,"+Sign(s.key, m.id, ts, m.body))
	}
	resp, err := s.client.Do(req)
	if err != nil {
		return 0, scrub(err)
	}
	_, _ = io.Copy(io.Discard, io.LimitReader(resp.Body, 64<<10))
	resp.Body.Close()
	code := resp.StatusCode
	switch {
	case code >= 200 && code < 300:
		return 0, nil
	case code >= 300 && code < 400:
		// The Location is not logged either: it may hold a secret too.
		return 0, &permanentError{fmt.Sprintf("status %d: redirects are not followed; configure the final URL", code)}
	case code == http.StatusGone:
		return 0, &permanentError{"status 410: the receiver no longer wants events"}
	case code == http.StatusRequestTimeout, code == http.StatusTooManyRequests, code >= 500:
		return retryAfter(resp.Header.Get("Retry-After"), s.cfg.Now()), fmt.Errorf("status %d", code)
	default:
		return 0, &permanentError{fmt.Sprintf("status %d", code)}
	}
}

// isLoopback reports whether host is localhost, 127.0.0.0/8 or ::1.
func isLoopback(host string) bool {
	if strings.EqualFold(host, "localhost") {
		return true
	}
	ip := net.ParseIP(host)
	return ip != nil && ip.IsLoopback()
}

// Sign returns the base64 HMAC-SHA256 of "id.timestamp.body" under key,
// the v1 signature of the Standard Webhooks specification.
func Sign(key []byte, id, timestamp string, body []byte) string {
	mac := hmac.New(sha256.New, key)
	mac.Write([]byte(id))
	mac.Write([]byte{'.'})
	mac.Write([]byte(timestamp))
	mac.Write([]byte{'.'})
	mac.Write(body)
	return base64.StdEncoding.EncodeToString(mac.Sum(nil))
}

// scrub drops the URL from a client error (a *url.Error names it whole)
// and keeps the cause.
func scrub(err error) error {
	var ue *url.Error
	if errors.As(err, &ue) {
		if ue.Timeout() {
			return fmt.Errorf("timeout: %w", ue.Err)
		}
		return ue.Err
	}
	return err
}

// retryAfter reads a Retry-After header (RFC 9110 §10.2.3): seconds or
// an HTTP date; 0 when absent or invalid.
func retryAfter(v string, now time.Time) time.Duration {
	if v == "" {
		return 0
	}
	if n, err := strconv.Atoi(v); err == nil && n >= 0 {
		return time.Duration(n) * time.Second
	}
	if t, err := http.ParseTime(v); err == nil {
		return max(t.Sub(now), 0)
	}
	return 0
}
