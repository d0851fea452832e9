package clients

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"encoding/json"
	"errors"
	"net"
	"net/http"
	"net/http/httptest"
	"net/netip"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/go-jose/go-jose/v4"
)

// jwksServer is a client's jwks_uri: a TLS server on 127.0.0.1 that
// counts its requests and serves whatever set the test puts there.
type jwksServer struct {
	*httptest.Server
	mu       sync.Mutex
	set      jose.JSONWebKeySet
	header   http.Header // extra response headers
	full     atomic.Int32
	notMod   atomic.Int32
	override http.HandlerFunc
}

func newJWKSServer(t *testing.T, keys ...jose.JSONWebKey) *jwksServer {
	t.Helper()
	s := &jwksServer{set: jose.JSONWebKeySet{Keys: keys}, header: http.Header{}}
	s.Server = httptest.NewTLSServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		s.mu.Lock()
		h, set := s.header.Clone(), s.set
		override := s.override
		s.mu.Unlock()
		if override != nil {
			override(w, r)
			return
		}
		body, _ := json.Marshal(set)
		etag := `"` + string(rune('a'+len(set.Keys))) + `"`
		for k, v := range h {
			w.Header()[k] = v
		}
		w.Header().Set("ETag", etag)
		if r.Header.Get("If-None-Match") == etag {
			s.notMod.Add(1)
			w.WriteHeader(http.StatusNotModified)
			return
		}
		s.full.Add(1)
		w.Write(body)
	}))
	t.Cleanup(s.Close)
	return s
}

func (s *jwksServer) publish(keys ...jose.JSONWebKey) {
	s.mu.Lock()
	s.set = jose.JSONWebKeySet{Keys: keys}
	s.mu.Unlock()
}

func (s *jwksServer) fetches() int { return int(s.full.Load() + s.notMod.Load()) }

// newTestFetcher trusts srv's certificate and, as development mode does,
// admits loopback (srv listens on 127.0.0.1).
func newTestFetcher(t *testing.T, srv *jwksServer, clk *clock, timeout time.Duration) *KeyFetcher {
	t.Helper()
	f, err := NewKeyFetcher(FetcherConfig{Timeout: timeout, AllowLoopback: true, RootCAs: rootsOf(srv), Now: clk.Now, Logger: quiet})
	if err != nil {
		t.Fatal(err)
	}
	return f
}

func rootsOf(srv *jwksServer) *x509.CertPool {
	return srv.Client().Transport.(*http.Transport).TLSClientConfig.RootCAs
}

func ecJWK(t *testing.T, kid string) (*ecdsa.PrivateKey, jose.JSONWebKey) {
	t.Helper()
	k, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	return k, publicJWK(k, kid)
}

func TestKeyFetcherCachesByMaxAge(t *testing.T) {
	_, k1 := ecJWK(t, "k1")
	srv := newJWKSServer(t, k1)
	srv.header.Set("Cache-Control", "public, max-age=120")
	clk := &clock{now: t0}
	f := newTestFetcher(t, srv, clk, 5*time.Second)
	ctx := context.Background()
	v := t0
	for range 3 {
		set, err := f.keysFor(ctx, "svc", srv.URL, v, false)
		if err != nil || len(set.Key("k1")) != 1 {
			t.Fatalf("keysFor = %v, %v", set, err)
		}
	}
	if n := srv.fetches(); n != 1 {
		t.Fatalf("%d fetches within max-age, want 1", n)
	}
	clk.Add(119 * time.Second)
	f.keysFor(ctx, "svc", srv.URL, v, false)
	if n := srv.fetches(); n != 1 {
		t.Fatalf("%d fetches before max-age passed, want 1", n)
	}
	clk.Add(2 * time.Second)
	if _, err := f.keysFor(ctx, "svc", srv.URL, v, false); err != nil {
		t.Fatal(err)
	}
	// The set did not change: the ETag revalidates it (304).
	if srv.full.Load() != 1 || srv.notMod.Load() != 1 {
		t.Fatalf("full %d, not modified %d; want 1 and 1", srv.full.Load(), srv.notMod.Load())
	}
	// A changed client record drops its cached keys at once.
	if _, err := f.keysFor(ctx, "svc", srv.URL, v.Add(time.Second), false); err != nil {
		t.Fatal(err)
	}
	if srv.full.Load() != 2 {
		t.Fatalf("a changed record did not refetch: %d full fetches", srv.full.Load())
	}
}

func TestCacheAge(t *testing.T) {
	tests := map[string]time.Duration{
		"":                          DefaultJWKSCacheAge,
		"max-age=600":               10 * time.Minute,
		"public, max-age=5":         MinJWKSCacheAge,
		"max-age=9999999":           MaxJWKSCacheAge,
		"no-store":                  MinJWKSCacheAge,
		"max-age=600, no-cache":     MinJWKSCacheAge,
		"max-age=bogus":             DefaultJWKSCacheAge,
		`MAX-AGE="3600"`:            time.Hour,
		"s-maxage=7200, max-age=60": time.Minute,
	}
	for h, want := range tests {
		if got := cacheAge(h); got != want {
			t.Errorf("cacheAge(%q) = %s, want %s", h, got, want)
		}
	}
}

func TestKeyFetcherRefetchesOnceOnUnknownKid(t *testing.T) {
	_, k1 := ecJWK(t, "k1")
	_, k2 := ecJWK(t, "k2")
	srv := newJWKSServer(t, k1)
	srv.header.Set("Cache-Control", "max-age=3600")
	clk := &clock{now: t0}
	f := newTestFetcher(t, srv, clk, 5*time.Second)
	ctx := context.Background()
	if _, err := f.keysFor(ctx, "svc", srv.URL, t0, false); err != nil {
		t.Fatal(err)
	}
	srv.publish(k1, k2) // the client rotates
	// Within the interval an unknown kid does not refetch.
	set, err := f.keysFor(ctx, "svc", srv.URL, t0, true)
	if err != nil || len(set.Key("k2")) != 0 || srv.fetches() != 1 {
		t.Fatalf("refetched within %s: %d fetches, %v", JWKSRefetchInterval, srv.fetches(), err)
	}
	clk.Add(JWKSRefetchInterval)
	// Many requests with the unknown kid at once: one fetch.
	var wg sync.WaitGroup
	errs := make(chan error, 50)
	for range 50 {
		wg.Go(func() {
			set, err := f.keysFor(ctx, "svc", srv.URL, t0, true)
			if err == nil && len(set.Key("k2")) != 1 {
				err = errors.New("k2 missing after refetch")
			}
			errs <- err
		})
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		if err != nil {
			t.Fatal(err)
		}
	}
	if n := srv.fetches(); n != 2 {
		t.Fatalf("%d fetches for 50 concurrent unknown-kid requests, want 2 in all", n)
	}
}

func TestKeyFetcherBounds(t *testing.T) {
	_, k1 := ecJWK(t, "k1")
	ctx := context.Background()
	tests := []struct {
		name    string
		handler http.HandlerFunc
		want    string
	}{
		{"too large", func(w http.ResponseWriter, r *http.Request) {
			w.Write([]byte(`{"keys":[],"pad":"` + strings.Repeat("x", MaxJWKSBytes) + `"}`))
		}, "larger than"},
		{"slow", func(w http.ResponseWriter, r *http.Request) {
			<-r.Context().Done() // answers only once the client gave up
		}, "timeout"}, // whichever of the fetch's bounds fires first
		{"redirect", func(w http.ResponseWriter, r *http.Request) {
			http.Redirect(w, r, "/elsewhere", http.StatusFound)
		}, "redirects are not followed"},
		{"not found", func(w http.ResponseWriter, r *http.Request) {
			http.NotFound(w, r)
		}, "status 404"},
		{"not a set", func(w http.ResponseWriter, r *http.Request) {
			w.Write([]byte(`<html>`))
		}, "not a JWK set"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			srv := newJWKSServer(t, k1)
			srv.override = tt.handler
			clk := &clock{now: t0}
			f := newTestFetcher(t, srv, clk, 300*time.Millisecond)
			_, err := f.keysFor(ctx, "svc", srv.URL, t0, false)
			var ne net.Error
			timedOut := tt.want == "timeout" && errors.As(err, &ne) && ne.Timeout()
			if !errors.Is(err, ErrKeysFetch) || !(timedOut || strings.Contains(err.Error(), tt.want)) {
				t.Fatalf("err = %v, want ErrKeysFetch with %q", err, tt.want)
			}
		})
	}
}

func TestKeyFetcherFailureNotRetriedWithinInterval(t *testing.T) {
	_, k1 := ecJWK(t, "k1")
	srv := newJWKSServer(t, k1)
	var calls atomic.Int32
	srv.override = func(w http.ResponseWriter, r *http.Request) { calls.Add(1); http.NotFound(w, r) }
	clk := &clock{now: t0}
	f := newTestFetcher(t, srv, clk, 5*time.Second)
	for range 5 {
		if _, err := f.keysFor(context.Background(), "svc", srv.URL, t0, true); !errors.Is(err, ErrKeysFetch) {
			t.Fatalf("err = %v", err)
		}
	}
	if calls.Load() != 1 {
		t.Fatalf("%d fetches after a failure within the interval, want 1", calls.Load())
	}
	clk.Add(JWKSRefetchInterval)
	f.keysFor(context.Background(), "svc", srv.URL, t0, false)
	if calls.Load() != 2 {
		t.Fatalf("%d fetches after the interval, want 2", calls.Load())
	}
}

func TestAddrGuard(t *testing.T) {
	refused := []string{
		"127.0.0.1", "127.1.2.3", "::1", "10.0.0.1", "172.16.0.1", "172.31.255.255", "192.168.1.1",
		"169.254.169.254", "fe80::1", "fc00::1", "fd12:3456::1", "100.64.0.1", "100.127.255.254",
		"0.0.0.0", "::", "224.0.0.1", "ff02::1", "255.255.255.255", "::ffff:10.0.0.1", "::ffff:127.0.0.1",
		"64:ff9b::a00:1", "2002:a00:1::1", "198.18.0.1",
	}
	allowed := []string{"93.184.216.34", "8.8.8.8", "2606:4700:4700::1111", "100.128.0.1", "172.32.0.1"}
	g := addrGuard{}
	for _, a := range refused {
		if err := g.control("tcp", netip.AddrPortFrom(netip.MustParseAddr(a), 443).String(), nil); !errors.Is(err, ErrForbiddenAddress) {
			t.Errorf("%s: err = %v, want ErrForbiddenAddress", a, err)
		}
	}
	for _, a := range allowed {
		if err := g.control("tcp", netip.AddrPortFrom(netip.MustParseAddr(a), 443).String(), nil); err != nil {
			t.Errorf("%s refused: %v", a, err)
		}
	}
	dev := addrGuard{allowLoopback: true}
	if dev.check(netip.MustParseAddr("127.0.0.1")) != nil || dev.check(netip.MustParseAddr("::1")) != nil {
		t.Error("development mode refuses loopback")
	}
	if dev.check(netip.MustParseAddr("10.0.0.1")) == nil || dev.check(netip.MustParseAddr("169.254.169.254")) == nil {
		t.Error("development mode admits private addresses")
	}
	all := addrGuard{allowPrivate: true}
	if all.check(netip.MustParseAddr("10.0.0.1")) != nil {
		t.Error("allow-private refuses 10.0.0.1")
	}
}

// TestKeyFetcherRefusesLoopbackByDefault dials for real: by address, and by
// a name that resolves to loopback (localhost, from /etc/hosts) — the
// guard sees the resolved address, in the dialer's Control hook.
func TestKeyFetcherRefusesLoopbackByDefault(t *testing.T) {
	_, k1 := ecJWK(t, "k1")
	srv := newJWKSServer(t, k1)
	f, err := NewKeyFetcher(FetcherConfig{Timeout: 5 * time.Second, RootCAs: rootsOf(srv), Logger: quiet})
	if err != nil {
		t.Fatal(err)
	}
	port := srv.URL[strings.LastIndex(srv.URL, ":"):]
	for _, uri := range []string{srv.URL, "https://localhost" + port} {
		_, err := f.keysFor(context.Background(), uri, uri, t0, false)
		if !errors.Is(err, ErrForbiddenAddress) {
			t.Errorf("%s: err = %v, want ErrForbiddenAddress", uri, err)
		}
	}
	if srv.fetches() != 0 {
		t.Fatalf("the server was reached %d times", srv.fetches())
	}
	if _, err := f.keysFor(context.Background(), "plain", "http://example.com/jwks", t0, false); !errors.Is(err, ErrKeysFetch) {
		t.Errorf("http jwks_uri: err = %v", err)
	}
}
