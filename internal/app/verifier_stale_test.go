package app_test

import (
	"context"
	"errors"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/authd-dev/authd/server"
	"github.com/authd-dev/authd/verifier"
)

// settableClock is a verifier clock the test moves forward.
type settableClock struct {
	mu sync.Mutex
	t  time.Time
}

func (c *settableClock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.t
}

func (c *settableClock) Advance(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.t = c.t.Add(d)
}

// TestVerifierStaleJWKSAgainstAuthd: when authd cannot be reached, the
// verifier keeps using the JWKS it has past its max-age (authd sends
// stale-if-error) but only up to WithMaxKeyStaleness, then fails closed.
func TestVerifierStaleJWKSAgainstAuthd(t *testing.T) {
	in := start(t, "", "--access-token-ttl", "3h")
	resp, err := http.Get(in.Public.URL + server.PathJWKS)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	cc := resp.Header.Get("Cache-Control")
	if !strings.Contains(cc, "stale-if-error=") {
		t.Fatalf("authd's JWKS Cache-Control %q has no stale-if-error", cc)
	}
	_, rest, _ := strings.Cut(cc, "max-age=")
	secs, err := strconv.Atoi(strings.SplitN(rest, ",", 2)[0])
	if err != nil {
		t.Fatalf("Cache-Control %q: %v", cc, err)
	}
	maxAge := time.Duration(secs) * time.Second

	const api = "https://api.example.com"
	c := in.createClient(map[string]any{"client_name": "svc", "audience": []string{api}})
	clk := &settableClock{t: time.Now()}
	ctx := context.Background()
	v, err := verifier.New(ctx, in.Issuer, verifier.WithAudience(api), verifier.WithClock(clk.Now),
		verifier.WithMaxKeyStaleness(10*time.Minute))
	if err != nil {
		t.Fatal(err)
	}
	defer v.Close()
	tok := in.token(c.ClientID, c.ClientSecret, url.Values{"grant_type": {"client_credentials"}}).AccessToken
	if _, err := v.Verify(ctx, tok); err != nil {
		t.Fatal(err)
	}

	in.Public.Close() // authd's public listener is gone: every fetch fails
	clk.Advance(maxAge + 5*time.Minute)
	if _, err := v.Verify(ctx, tok); err != nil {
		t.Fatalf("within the staleness bound: %v", err)
	}
	clk.Advance(5*time.Minute + verifier.DefaultMinRefreshInterval)
	if _, err := v.Verify(ctx, tok); !errors.Is(err, verifier.ErrStaleKeys) {
		t.Fatalf("past the staleness bound: %v, want ErrStaleKeys", err)
	}
}
