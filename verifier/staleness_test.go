package verifier_test

import (
	"bytes"
	"context"
	"errors"
	"log/slog"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/authd-dev/authd/verifier"
	"github.com/authd-dev/authd/verifier/verifiertest"
)

// TestJWKSStaleness: while the issuer's JWKS cannot be fetched, the cached
// keys serve past their max-age only within stale-if-error (RFC 5861 §4),
// bounded by WithMaxKeyStaleness; past that Verify fails closed with
// ErrStaleKeys, and it recovers as soon as a fetch succeeds again.
func TestJWKSStaleness(t *testing.T) {
	tests := []struct {
		name         string
		cacheControl string
		opts         []verifier.Option
		// servesUntil is how long after the max-age went by stale keys
		// still verify; the test checks just before and just after.
		servesUntil time.Duration
	}{
		{"stale-if-error", "public, max-age=60, stale-if-error=600", nil, 10 * time.Minute},
		{"no directive: the bound", "public, max-age=60", []verifier.Option{verifier.WithMaxKeyStaleness(5 * time.Minute)}, 5 * time.Minute},
		{"no directive: the default bound", "public, max-age=60", nil, verifier.DefaultMaxKeyStaleness},
		{"stale-if-error capped by the bound", "public, max-age=60, stale-if-error=86400", []verifier.Option{verifier.WithMaxKeyStaleness(time.Hour)}, time.Hour},
		{"must-revalidate", "public, max-age=60, must-revalidate, stale-if-error=600", nil, 0},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c := newClock()
			iss := verifiertest.NewIssuer(t, verifiertest.WithClock(c.Now), verifiertest.WithCacheControl(tt.cacheControl))
			e := &env{iss: iss, clock: c, v: newVerifier(t, iss, c, tt.opts...)}
			e.warm(t)
			tok := iss.Issue(map[string]any{"aud": audience, "exp": c.Now().Add(48 * time.Hour)})
			restore := iss.FailJWKS(http.StatusServiceUnavailable)

			c.Advance(time.Minute) // the max-age has passed: stale
			if tt.servesUntil > 0 {
				c.Advance(tt.servesUntil - time.Second)
				if _, err := e.v.Verify(context.Background(), tok); err != nil {
					t.Fatalf("within the stale allowance: %v", err)
				}
				if total, _ := iss.JWKSRequests(); total != 2 {
					t.Fatalf("JWKS requests = %d, want 2 (the stale set was revalidated)", total)
				}
				c.Advance(time.Second + verifier.DefaultMinRefreshInterval)
			}
			_, err := e.v.Verify(context.Background(), tok)
			if !errors.Is(err, verifier.ErrStaleKeys) || !strings.Contains(err.Error(), "503") {
				t.Fatalf("past the stale allowance: %v, want ErrStaleKeys naming the failed fetch", err)
			}
			// Within the minimum interval nothing is fetched, and it still
			// fails closed.
			if _, err := e.v.Verify(context.Background(), tok); !errors.Is(err, verifier.ErrStaleKeys) {
				t.Fatalf("again within the minimum interval: %v", err)
			}

			restore()
			c.Advance(verifier.DefaultMinRefreshInterval)
			if _, err := e.v.Verify(context.Background(), tok); err != nil {
				t.Fatalf("after the issuer recovered: %v", err)
			}
		})
	}
}

// TestStaleKeysMiddleware503: a resource server whose JWKS is too stale
// answers 503 with Retry-After (the token may be valid), not 401.
func TestStaleKeysMiddleware503(t *testing.T) {
	c := newClock()
	iss := verifiertest.NewIssuer(t, verifiertest.WithClock(c.Now), verifiertest.WithCacheControl("max-age=60, stale-if-error=60"))
	e := &env{iss: iss, clock: c, v: newVerifier(t, iss, c)}
	e.warm(t)
	tok := iss.Issue(map[string]any{"aud": audience, "exp": c.Now().Add(time.Hour)})
	iss.FailJWKS(http.StatusBadGateway)
	c.Advance(3 * time.Minute)
	r := httptest.NewRequest(http.MethodGet, "/", nil)
	r.Header.Set("Authorization", "Bearer "+tok)
	w := httptest.NewRecorder()
	e.v.Middleware(http.NotFoundHandler()).ServeHTTP(w, r)
	if w.Code != http.StatusServiceUnavailable || w.Header().Get("Retry-After") == "" {
		t.Fatalf("status %d, Retry-After %q; want 503 with Retry-After", w.Code, w.Header().Get("Retry-After"))
	}
}

// TestRecentFetchIsNotStale: with no-cache (max-age 0, no stale use), a
// set fetched successfully within the minimum interval still serves.
func TestRecentFetchIsNotStale(t *testing.T) {
	c := newClock()
	iss := verifiertest.NewIssuer(t, verifiertest.WithClock(c.Now), verifiertest.WithCacheControl("no-cache"))
	e := &env{iss: iss, clock: c, v: newVerifier(t, iss, c)}
	e.warm(t)
	c.Advance(verifier.DefaultMinRefreshInterval / 2)
	if _, err := e.v.Verify(context.Background(), iss.Issue(map[string]any{"aud": audience})); err != nil {
		t.Fatalf("within the minimum interval after a good fetch: %v", err)
	}
	e.wantFetches(t, 1, 0)
}

// syncBuffer is a log sink safe for the feed goroutine and the test.
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

// awaitFeed polls FeedStatus until cond holds, failing after waitLimit
// (the reconnection backoff grows while the feed is suspended).
func awaitFeed(t *testing.T, v *verifier.Verifier, what string, cond func(verifier.FeedStatus) bool) {
	t.Helper()
	deadline := time.Now().Add(waitLimit)
	for !cond(v.FeedStatus()) {
		if time.Now().After(deadline) {
			t.Fatalf("feed never %s: %+v", what, v.FeedStatus())
		}
		time.Sleep(5 * time.Millisecond) // polling interval, not an assertion
	}
}

// TestFeedStalenessBound: after the feed disconnects, the denylist counts
// as current for WithFeedMaxStaleness; past it, WithFeedFailClosed makes
// Verify fail with ErrFeedStale (the middleware answers 503) until the
// feed is back, and without it Verify fails open with a warning.
func TestFeedStalenessBound(t *testing.T) {
	for _, failClosed := range []bool{true, false} {
		name := map[bool]string{true: "fail closed", false: "fail open"}[failClosed]
		t.Run(name, func(t *testing.T) {
			c := newClock()
			iss := verifiertest.NewIssuer(t, verifiertest.WithClock(c.Now))
			var logs syncBuffer
			opts := []verifier.Option{
				verifier.WithRevocationFeed(verifiertest.FeedClientID, verifiertest.FeedClientSecret),
				verifier.WithFeedMaxStaleness(time.Minute),
				verifier.WithLogger(slog.New(slog.NewTextHandler(&logs, nil))),
			}
			if failClosed {
				opts = append(opts, verifier.WithFeedFailClosed())
			}
			v := newVerifier(t, iss, c, opts...)
			tok := iss.Issue(map[string]any{"aud": audience, "exp": c.Now().Add(time.Hour)})
			if _, err := v.Verify(context.Background(), tok); err != nil {
				t.Fatal(err)
			}
			if st := v.FeedStatus(); !st.Enabled || !st.Ready || !st.Connected || st.Lag != 0 || st.Stale {
				t.Fatalf("connected feed status %+v", st)
			}
			// A connected feed is current however much time passes.
			c.Advance(10 * time.Minute)
			if _, err := v.Verify(context.Background(), tok); err != nil {
				t.Fatalf("connected, 10 minutes later: %v", err)
			}

			resume := iss.SuspendFeed()
			awaitFeed(t, v, "disconnected", func(st verifier.FeedStatus) bool { return !st.Connected })
			c.Advance(time.Minute) // at the bound: still current
			if _, err := v.Verify(context.Background(), tok); err != nil {
				t.Fatalf("down for exactly the bound: %v", err)
			}
			c.Advance(time.Second)
			st := v.FeedStatus()
			if st.Connected || st.Lag < time.Minute || !st.Stale {
				t.Fatalf("past the bound, status %+v", st)
			}
			_, err := v.Verify(context.Background(), tok)
			if failClosed {
				if !errors.Is(err, verifier.ErrFeedStale) {
					t.Fatalf("past the bound: %v, want ErrFeedStale", err)
				}
				r := httptest.NewRequest(http.MethodGet, "/", nil)
				r.Header.Set("Authorization", "Bearer "+tok)
				w := httptest.NewRecorder()
				v.Middleware(http.NotFoundHandler()).ServeHTTP(w, r)
				if w.Code != http.StatusServiceUnavailable || w.Header().Get("Retry-After") == "" {
					t.Fatalf("middleware past the bound: %d, Retry-After %q", w.Code, w.Header().Get("Retry-After"))
				}
			} else {
				if err != nil {
					t.Fatalf("fail open past the bound: %v", err)
				}
				if !strings.Contains(logs.String(), "staleness bound") {
					t.Fatalf("no warning logged past the bound; logs:\n%s", logs.String())
				}
			}

			resume()
			awaitFeed(t, v, "reconnected", func(st verifier.FeedStatus) bool { return st.Connected })
			if _, err := v.Verify(context.Background(), tok); err != nil {
				t.Fatalf("after the feed reconnected: %v", err)
			}
		})
	}
}

// TestNewRejectsNonsenseOptions: option values that make no sense fail New
// with ErrInvalidOption instead of being accepted or silently replaced.
func TestNewRejectsNonsenseOptions(t *testing.T) {
	iss := verifiertest.NewIssuer(t)
	feed := verifier.WithRevocationFeed(verifiertest.FeedClientID, verifiertest.FeedClientSecret)
	tests := []struct {
		name string
		opts []verifier.Option
	}{
		{"zero minimum refresh interval", []verifier.Option{verifier.WithMinRefreshInterval(0)}},
		{"negative minimum refresh interval", []verifier.Option{verifier.WithMinRefreshInterval(-time.Second)}},
		{"zero key staleness", []verifier.Option{verifier.WithMaxKeyStaleness(0)}},
		{"key staleness of a year", []verifier.Option{verifier.WithMaxKeyStaleness(365 * 24 * time.Hour)}},
		{"zero feed staleness", []verifier.Option{feed, verifier.WithFeedMaxStaleness(0)}},
		{"feed staleness without a feed", []verifier.Option{verifier.WithFeedMaxStaleness(time.Minute)}},
		{"fail closed without a feed", []verifier.Option{verifier.WithFeedFailClosed()}},
		{"huge leeway", []verifier.Option{verifier.WithLeeway(time.Hour)}},
		{"negative leeway", []verifier.Option{verifier.WithLeeway(-time.Second)}},
		{"nil HTTP client", []verifier.Option{verifier.WithHTTPClient(nil)}},
		{"nil clock", []verifier.Option{verifier.WithClock(nil)}},
		{"nil logger", []verifier.Option{verifier.WithLogger(nil)}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			opts := append([]verifier.Option{verifier.WithAudience(audience), verifier.WithHTTPClient(iss.Client())}, tt.opts...)
			v, err := verifier.New(context.Background(), iss.URL(), opts...)
			if err == nil {
				v.Close()
				t.Fatal("New accepted it")
			}
			if !errors.Is(err, verifier.ErrInvalidOption) {
				t.Fatalf("New = %v, want ErrInvalidOption", err)
			}
		})
	}
	// Zero leeway is meaningful (no skew allowed) and accepted.
	v, err := verifier.New(context.Background(), iss.URL(), verifier.WithAudience(audience), verifier.WithHTTPClient(iss.Client()), verifier.WithLeeway(0))
	if err != nil {
		t.Fatalf("WithLeeway(0): %v", err)
	}
	v.Close()
}

// anyHostClient is an HTTP client that connects to srv when a URL names
// keys.example or issuer.example, so that http://keys.example reaches the
// fake issuer: refusing such URLs is then the verifier's decision, not a
// DNS failure.
func anyHostClient(srv string) *http.Client {
	addr := strings.TrimPrefix(srv, "http://")
	tr := http.DefaultTransport.(*http.Transport).Clone()
	dial := tr.DialContext
	tr.DialContext = func(ctx context.Context, network, address string) (net.Conn, error) {
		if strings.HasPrefix(address, "keys.example:") || strings.HasPrefix(address, "issuer.example:") {
			address = addr
		}
		return dial(ctx, network, address)
	}
	return &http.Client{Transport: tr}
}

// TestPlainHTTPOutsideLoopback: discovery, the JWKS and the feed over
// plain http to a host that is not loopback are refused by New, and a
// redirect to such a URL is not followed, unless WithInsecureAllowHTTP.
func TestPlainHTTPOutsideLoopback(t *testing.T) {
	c := newClock()
	iss := verifiertest.NewIssuer(t, verifiertest.WithClock(c.Now))
	client := verifier.WithHTTPClient(anyHostClient(iss.URL()))
	remoteJWKS := "http://keys.example" + verifiertest.PathJWKS
	feed := verifier.WithRevocationFeed(verifiertest.FeedClientID, verifiertest.FeedClientSecret)
	for _, tt := range []struct {
		name, issuer string
		opts         []verifier.Option
	}{
		{"discovery", "http://issuer.example", nil},
		{"JWKS", iss.URL(), []verifier.Option{verifier.WithJWKSURL(remoteJWKS)}},
		{"feed", "http://issuer.example", []verifier.Option{verifier.WithJWKSURL("https://keys.example/jwks.json"), feed}},
	} {
		t.Run(tt.name, func(t *testing.T) {
			opts := append([]verifier.Option{verifier.WithAudience(audience), client}, tt.opts...)
			v, err := verifier.New(context.Background(), tt.issuer, opts...)
			if err == nil {
				v.Close()
				t.Fatal("New accepted plain http outside loopback")
			}
			if !errors.Is(err, verifier.ErrInsecureURL) || !strings.Contains(err.Error(), "WithInsecureAllowHTTP") {
				t.Fatalf("New = %v, want ErrInsecureURL naming the option", err)
			}
		})
	}

	tok := iss.Issue(map[string]any{"aud": audience})
	t.Run("allowed by the Insecure option", func(t *testing.T) {
		v := newVerifier(t, iss, c, client, verifier.WithJWKSURL(remoteJWKS), verifier.WithInsecureAllowHTTP())
		if _, err := v.Verify(context.Background(), tok); err != nil {
			t.Fatalf("JWKS over http with WithInsecureAllowHTTP: %v", err)
		}
	})

	redirect := httptest.NewServer(http.RedirectHandler(remoteJWKS, http.StatusFound))
	t.Cleanup(redirect.Close)
	t.Run("redirect to http refused", func(t *testing.T) {
		v := newVerifier(t, iss, c, client, verifier.WithJWKSURL(redirect.URL+"/jwks.json"))
		_, err := v.Verify(context.Background(), tok)
		if !errors.Is(err, verifier.ErrUnknownKey) || !errors.Is(err, verifier.ErrInsecureURL) {
			t.Fatalf("JWKS redirected to plain http: %v, want ErrUnknownKey and ErrInsecureURL", err)
		}
		if total, _ := iss.JWKSRequests(); total != 1 {
			t.Fatalf("the issuer got %d JWKS requests, want the 1 of the previous subtest", total)
		}
	})
	t.Run("redirect allowed by the Insecure option", func(t *testing.T) {
		v := newVerifier(t, iss, c, client, verifier.WithJWKSURL(redirect.URL+"/jwks.json"), verifier.WithInsecureAllowHTTP())
		if _, err := v.Verify(context.Background(), tok); err != nil {
			t.Fatalf("redirect with WithInsecureAllowHTTP: %v", err)
		}
	})
}
