package webhook_test

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/base64"
	"errors"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	standardwebhooks "github.com/standard-webhooks/standard-webhooks/libraries/go"

	"github.com/authd-dev/authd/internal/webhook"
)

// newSecret returns a fresh "whsec_" secret of n random bytes.
func newSecret(n int) string {
	b := make([]byte, n)
	rand.Read(b)
	return webhook.SecretPrefix + base64.StdEncoding.EncodeToString(b)
}

// syncBuffer is a log sink safe for the sender's goroutine and the test.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

// delivery is one request a receiver got.
type delivery struct {
	at     time.Time
	header http.Header
	body   []byte
}

// receiver records every request and answers with status(n) for the n-th
// (1-based).
type receiver struct {
	srv    *httptest.Server
	mu     sync.Mutex
	got    []delivery
	notify chan struct{}
}

func newReceiver(t *testing.T, status func(n int, w http.ResponseWriter)) *receiver {
	t.Helper()
	rc := &receiver{notify: make(chan struct{}, 100)}
	rc.srv = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, _ := io.ReadAll(r.Body)
		rc.mu.Lock()
		rc.got = append(rc.got, delivery{at: time.Now(), header: r.Header.Clone(), body: body})
		n := len(rc.got)
		rc.mu.Unlock()
		select {
		case rc.notify <- struct{}{}:
		default: // await re-reads got anyway
		}
		status(n, w)
	}))
	t.Cleanup(rc.srv.Close)
	return rc
}

func (rc *receiver) deliveries() []delivery {
	rc.mu.Lock()
	defer rc.mu.Unlock()
	return append([]delivery(nil), rc.got...)
}

// await waits until the receiver has had n requests, failing after 5 s.
func (rc *receiver) await(t *testing.T, n int) []delivery {
	t.Helper()
	deadline := time.After(5 * time.Second)
	for {
		if d := rc.deliveries(); len(d) >= n {
			return d
		}
		select {
		case <-rc.notify:
		case <-deadline:
			t.Fatalf("receiver got %d requests, want %d", len(rc.deliveries()), n)
		}
	}
}

type env struct {
	s    *webhook.Sender
	reg  *prometheus.Registry
	logs *syncBuffer
}

// start builds a Sender for url with fast retries and runs it until the
// test ends.
func start(t *testing.T, url, secret string, tweak func(*webhook.Config)) *env {
	t.Helper()
	logs := &syncBuffer{}
	reg := prometheus.NewRegistry()
	cfg := webhook.DefaultConfig(url, secret)
	cfg.InitialBackoff, cfg.MaxBackoff, cfg.Timeout = 20*time.Millisecond, 200*time.Millisecond, 2*time.Second
	cfg.Logger = slog.New(slog.NewTextHandler(logs, &slog.HandlerOptions{Level: slog.LevelDebug}))
	cfg.Registerer = reg
	if tweak != nil {
		tweak(&cfg)
	}
	s, err := webhook.New(cfg)
	if err != nil {
		t.Fatalf("New: %v", err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { defer close(done); s.Run(ctx) }()
	t.Cleanup(func() { cancel(); <-done })
	return &env{s: s, reg: reg, logs: logs}
}

func (e *env) count(t *testing.T, result string) int {
	t.Helper()
	mfs, err := e.reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	for _, mf := range mfs {
		for _, m := range mf.GetMetric() {
			for _, l := range m.GetLabel() {
				if l.GetName() == "result" && l.GetValue() == result {
					return int(m.GetCounter().GetValue())
				}
			}
		}
	}
	return 0
}

// awaitCount waits until the counter of result reaches n, failing after 5 s.
func (e *env) awaitCount(t *testing.T, result string, n int) {
	t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for e.count(t, result) != n {
		if time.Now().After(deadline) {
			t.Fatalf("%s = %d, want %d; logs:\n%s", result, e.count(t, result), n, e.logs.String())
		}
		time.Sleep(5 * time.Millisecond) // polling interval, not an assertion
	}
}

// TestSignedDelivery: every delivery carries webhook-id, webhook-timestamp
// and a v1 signature that the Standard Webhooks reference library verifies
// with the configured secret; a wrong secret does not verify it.
func TestSignedDelivery(t *testing.T) {
	secret := newSecret(32)
	rc := newReceiver(t, func(int, http.ResponseWriter) {})
	e := start(t, rc.srv.URL+"/hook", secret, nil)
	e.s.Send(map[string]any{"type": "refresh_token_reuse", "sid": "s-1"})
	d := rc.await(t, 1)[0]

	wh, err := standardwebhooks.NewWebhook(secret)
	if err != nil {
		t.Fatal(err)
	}
	if err := wh.Verify(d.body, d.header); err != nil {
		t.Fatalf("reference library rejects the delivery: %v (headers %v)", err, d.header)
	}
	other, _ := standardwebhooks.NewWebhook(newSecret(32))
	if err := other.Verify(d.body, d.header); err == nil {
		t.Fatal("a different secret verifies the delivery")
	}
	if !strings.HasPrefix(d.header.Get("webhook-id"), "msg_") || !strings.HasPrefix(d.header.Get("webhook-signature"), "v1,") {
		t.Errorf("headers %v", d.header)
	}
	if d.header.Get("Content-Type") != "application/json" || string(d.body) != `{"sid":"s-1","type":"refresh_token_reuse"}` {
		t.Errorf("content type %q, body %s", d.header.Get("Content-Type"), d.body)
	}
	e.awaitCount(t, "delivered", 1)
}

// TestRedirectNotFollowed: a 3xx is a failed delivery; the redirect's
// target never gets a request, and a redirect is not retried.
func TestRedirectNotFollowed(t *testing.T) {
	target := newReceiver(t, func(int, http.ResponseWriter) {})
	rc := newReceiver(t, func(_ int, w http.ResponseWriter) {
		w.Header().Set("Location", target.srv.URL+"/stolen?token=leak")
		w.WriteHeader(http.StatusTemporaryRedirect)
	})
	e := start(t, rc.srv.URL, newSecret(24), nil)
	e.s.Send(map[string]string{"type": "x"})
	rc.await(t, 1)
	e.awaitCount(t, "failed", 1)
	time.Sleep(100 * time.Millisecond) // longer than every backoff of this sender
	if n := len(target.deliveries()); n != 0 {
		t.Fatalf("the redirect target got %d requests", n)
	}
	if n := len(rc.deliveries()); n != 1 {
		t.Fatalf("the redirecting receiver got %d requests, want 1 (no retry)", n)
	}
	if logs := e.logs.String(); !strings.Contains(logs, "redirects are not followed") || strings.Contains(logs, "leak") {
		t.Fatalf("logs:\n%s", logs)
	}
}

// TestRetryWithBackoffThenGiveUp: a failing receiver gets exactly
// MaxAttempts attempts of the same message (same webhook-id, each signed
// afresh), spaced by a growing backoff, and then the event is given up.
func TestRetryWithBackoffThenGiveUp(t *testing.T) {
	secret := newSecret(32)
	rc := newReceiver(t, func(_ int, w http.ResponseWriter) { w.WriteHeader(http.StatusServiceUnavailable) })
	e := start(t, rc.srv.URL, secret, func(c *webhook.Config) { c.MaxAttempts = 4 })
	e.s.Send(map[string]string{"type": "x"})
	got := rc.await(t, 4)
	e.awaitCount(t, "failed", 1)
	time.Sleep(300 * time.Millisecond) // longer than MaxBackoff: no fifth attempt
	if n := len(rc.deliveries()); n != 4 {
		t.Fatalf("%d attempts, want 4", n)
	}
	wh, _ := standardwebhooks.NewWebhook(secret)
	for i, d := range got {
		if d.header.Get("webhook-id") != got[0].header.Get("webhook-id") {
			t.Errorf("attempt %d has another webhook-id", i+1)
		}
		if err := wh.Verify(d.body, d.header); err != nil {
			t.Errorf("attempt %d: %v", i+1, err)
		}
	}
	// Full jitter over [b/2, b] with b = 20, 40, 80 ms: each gap is at
	// least half its backoff, and the backoff doubles.
	for i, min := range []time.Duration{10 * time.Millisecond, 20 * time.Millisecond, 40 * time.Millisecond} {
		if gap := got[i+1].at.Sub(got[i].at); gap < min {
			t.Errorf("gap before attempt %d = %v, want ≥ %v", i+2, gap, min)
		}
	}
	if !strings.Contains(e.logs.String(), "giving up") {
		t.Errorf("no give-up logged:\n%s", e.logs.String())
	}
}

// TestRetryThenDelivered: a receiver that fails twice gets the event on
// the third attempt; a Retry-After is honoured.
func TestRetryThenDelivered(t *testing.T) {
	rc := newReceiver(t, func(n int, w http.ResponseWriter) {
		if n < 3 {
			w.Header().Set("Retry-After", "0")
			w.WriteHeader(http.StatusTooManyRequests)
		}
	})
	e := start(t, rc.srv.URL, newSecret(32), nil)
	e.s.Send(map[string]string{"type": "x"})
	rc.await(t, 3)
	e.awaitCount(t, "delivered", 1)
	if e.count(t, "failed") != 0 {
		t.Error("counted as failed")
	}
}

// TestPermanentFailuresNotRetried: 410 Gone and other 4xx answers are not
// retried.
func TestPermanentFailuresNotRetried(t *testing.T) {
	for _, code := range []int{http.StatusGone, http.StatusBadRequest, http.StatusUnauthorized} {
		rc := newReceiver(t, func(_ int, w http.ResponseWriter) { w.WriteHeader(code) })
		e := start(t, rc.srv.URL, newSecret(32), nil)
		e.s.Send(map[string]string{"type": "x"})
		rc.await(t, 1)
		e.awaitCount(t, "failed", 1)
		if n := len(rc.deliveries()); n != 1 {
			t.Errorf("%d: %d attempts, want 1", code, n)
		}
	}
}

// TestURLNeverLogged: the endpoint's path and query (where a secret often
// is) appear in no log line, whether the receiver fails or cannot be
// reached; the host does, so operators can tell which endpoint failed.
func TestURLNeverLogged(t *testing.T) {
	const secretPart = "/hooks/T0KEN-IN-PATH?key=T0KEN-IN-QUERY"
	failing := newReceiver(t, func(_ int, w http.ResponseWriter) { w.WriteHeader(http.StatusInternalServerError) })
	gone := httptest.NewServer(http.NotFoundHandler())
	goneURL := gone.URL
	gone.Close() // connection refused: the client's error names the URL
	for name, base := range map[string]string{"failing receiver": failing.srv.URL, "unreachable": goneURL} {
		t.Run(name, func(t *testing.T) {
			e := start(t, base+secretPart, newSecret(32), func(c *webhook.Config) { c.MaxAttempts = 2 })
			e.s.Send(map[string]string{"type": "x"})
			e.awaitCount(t, "failed", 1)
			logs := e.logs.String()
			if strings.Contains(logs, "T0KEN") || strings.Contains(logs, "/hooks") {
				t.Fatalf("the URL's path or query was logged:\n%s", logs)
			}
			host := strings.TrimPrefix(base, "http://")
			if !strings.Contains(logs, "webhook_host="+host) {
				t.Fatalf("the host %s is not logged:\n%s", host, logs)
			}
		})
	}
}

// TestQueueBounded: events beyond the queue are dropped (and counted), not
// buffered without bound; Send never blocks.
func TestQueueBounded(t *testing.T) {
	block := make(chan struct{})
	var unblock sync.Once
	release := func() { unblock.Do(func() { close(block) }) }
	rc := newReceiver(t, func(int, http.ResponseWriter) { <-block })
	t.Cleanup(release) // before the receiver closes, which waits for handlers
	e := start(t, rc.srv.URL, newSecret(32), func(c *webhook.Config) { c.QueueSize, c.Timeout = 2, time.Minute })
	e.s.Send(map[string]int{"n": 0}) // taken by Run, stuck at the receiver
	rc.await(t, 1)
	done := make(chan struct{})
	go func() {
		for i := 1; i <= 5; i++ {
			e.s.Send(map[string]int{"n": i})
		}
		close(done)
	}()
	select {
	case <-done:
	case <-time.After(5 * time.Second):
		t.Fatal("Send blocked")
	}
	if got := e.count(t, "dropped"); got != 3 {
		t.Fatalf("dropped = %d, want 3 (queue of 2)", got)
	}
	release()
	rc.await(t, 3)
}

// TestWarnings: unsigned deliveries and plain http to a remote host are
// allowed (the configuration decides) but logged loudly at start.
func TestWarnings(t *testing.T) {
	var logs syncBuffer
	cfg := webhook.DefaultConfig("http://hooks.example/x?token=T0KEN", "")
	cfg.Logger = slog.New(slog.NewTextHandler(&logs, nil))
	if _, err := webhook.New(cfg); err != nil {
		t.Fatal(err)
	}
	out := logs.String()
	if !strings.Contains(out, "NOT signed") || !strings.Contains(out, "plain http") || strings.Contains(out, "T0KEN") {
		t.Fatalf("logs:\n%s", out)
	}
}

func TestNewRejects(t *testing.T) {
	ok := webhook.DefaultConfig("https://hooks.example/x", newSecret(32))
	tests := []struct {
		name string
		edit func(*webhook.Config)
		want error
	}{
		{"relative URL", func(c *webhook.Config) { c.URL = "/x" }, webhook.ErrInvalidConfig},
		{"ftp URL", func(c *webhook.Config) { c.URL = "ftp://hooks.example/x" }, webhook.ErrInvalidConfig},
		{"no prefix", func(c *webhook.Config) { c.Secret = strings.TrimPrefix(newSecret(32), "whsec_") }, webhook.ErrInvalidSecret},
		{"not base64", func(c *webhook.Config) { c.Secret = "whsec_%%%" }, webhook.ErrInvalidSecret},
		{"too short", func(c *webhook.Config) { c.Secret = newSecret(16) }, webhook.ErrInvalidSecret},
		{"too long", func(c *webhook.Config) { c.Secret = newSecret(65) }, webhook.ErrInvalidSecret},
		{"zero attempts", func(c *webhook.Config) { c.MaxAttempts = 0 }, webhook.ErrInvalidConfig},
		{"zero queue", func(c *webhook.Config) { c.QueueSize = 0 }, webhook.ErrInvalidConfig},
		{"max below initial backoff", func(c *webhook.Config) { c.MaxBackoff = time.Millisecond }, webhook.ErrInvalidConfig},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			cfg := ok
			tt.edit(&cfg)
			_, err := webhook.New(cfg)
			if !errors.Is(err, tt.want) {
				t.Fatalf("New = %v, want %v", err, tt.want)
			}
			if cfg.Secret != "" && strings.Contains(err.Error(), strings.TrimPrefix(cfg.Secret, "whsec_")) {
				t.Fatal("the error echoes the secret")
			}
		})
	}
	if _, err := webhook.New(ok); err != nil {
		t.Fatalf("valid config: %v", err)
	}
}
