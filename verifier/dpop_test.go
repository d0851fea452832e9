package verifier_test

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"encoding/base64"
	"encoding/json"
	"errors"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	jose "github.com/go-jose/go-jose/v4"

	"github.com/authd-dev/authd/verifier"
	"github.com/authd-dev/authd/verifier/dpop"
	"github.com/authd-dev/authd/verifier/verifiertest"
)

// dpopEnv is a fake issuer, a verifier behind an httptest server, and a
// client's DPoP key with a token bound to it.
type dpopEnv struct {
	*env
	srv   *httptest.Server
	key   *verifiertest.DPoPKey
	token string // bound to key
	mu    sync.Mutex
	seen  *verifier.Claims
}

func newDPoPEnv(t *testing.T, opts ...verifier.Option) *dpopEnv {
	t.Helper()
	d := &dpopEnv{env: newEnv(t, opts...)}
	d.key = verifiertest.NewDPoPKey(t, verifiertest.WithDPoPClock(d.clock.Now))
	d.token = d.iss.Issue(map[string]any{"aud": audience, "sub": "alice"}, verifiertest.WithJKT(d.key.JKT()))
	d.srv = httptest.NewServer(d.v.Middleware(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		c, _ := verifier.ClaimsFrom(r.Context())
		d.mu.Lock()
		d.seen = c
		d.mu.Unlock()
		w.WriteHeader(http.StatusNoContent)
	})))
	t.Cleanup(d.srv.Close)
	return d
}

// call sends method path with the Authorization value and DPoP headers and
// returns the status and the WWW-Authenticate values; the claims the
// handler saw are in d.seen.
func (d *dpopEnv) call(t *testing.T, method, path, auth string, proofs ...string) (int, []string) {
	t.Helper()
	d.mu.Lock()
	d.seen = nil
	d.mu.Unlock()
	req, err := http.NewRequest(method, d.srv.URL+path, nil)
	if err != nil {
		t.Fatal(err)
	}
	if auth != "" {
		req.Header.Set("Authorization", auth)
	}
	for _, p := range proofs {
		req.Header.Add("DPoP", p)
	}
	resp, err := d.srv.Client().Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	return resp.StatusCode, resp.Header.Values("WWW-Authenticate")
}

// signed builds a proof with go-jose directly, for the shapes DPoPKey
// never produces.
func signed(t *testing.T, alg jose.SignatureAlgorithm, key any, so *jose.SignerOptions, claims map[string]any) string {
	t.Helper()
	s, err := jose.NewSigner(jose.SigningKey{Algorithm: alg, Key: key}, so)
	if err != nil {
		t.Fatal(err)
	}
	b, _ := json.Marshal(claims)
	jws, err := s.Sign(b)
	if err != nil {
		t.Fatal(err)
	}
	out, err := jws.CompactSerialize()
	if err != nil {
		t.Fatal(err)
	}
	return out
}

const dpopAlgs = `algs="ES256 ES384 ES512 RS256 PS256 EdDSA"`

func TestMiddlewareDPoP(t *testing.T) {
	d := newDPoPEnv(t)
	url := d.srv.URL + "/things"
	other := verifiertest.NewDPoPKey(t, verifiertest.WithDPoPClock(d.clock.Now))
	bearer := d.iss.Issue(map[string]any{"aud": audience, "sub": "bob"})
	ath := dpop.HashToken(d.token)
	claims := func() map[string]any {
		return map[string]any{"jti": rand.Text(), "htm": "GET", "htu": url, "iat": d.clock.Now().Unix(), "ath": ath}
	}
	pub := jose.JSONWebKey{Key: &d.key.PrivateKey().PublicKey}
	noneProof := func() string {
		h, _ := json.Marshal(map[string]any{"alg": "none", "typ": "dpop+jwt", "jwk": pub})
		c, _ := json.Marshal(claims())
		return base64.RawURLEncoding.EncodeToString(h) + "." + base64.RawURLEncoding.EncodeToString(c) + "."
	}
	realm := `realm="` + audience + `"`
	proofError := func(desc string) []string {
		return []string{`DPoP ` + realm + `, error="invalid_dpop_proof", error_description="` + desc + `", ` + dpopAlgs}
	}
	tokenError := func(desc string) []string {
		return []string{`DPoP ` + realm + `, error="invalid_token", error_description="` + desc + `", ` + dpopAlgs}
	}

	for _, tc := range []struct {
		name      string
		method    string
		path      string
		auth      string
		proofs    func() []string
		status    int
		challenge []string
	}{
		{"good", "GET", "/things", "DPoP " + d.token, func() []string { return []string{d.key.Proof("GET", url, d.token)} }, http.StatusNoContent, nil},
		{"scheme is case-insensitive", "GET", "/things", "dpop " + d.token, func() []string { return []string{d.key.Proof("GET", url, d.token)} }, http.StatusNoContent, nil},
		{"query is not part of htu", "GET", "/things?page=2", "DPoP " + d.token, func() []string { return []string{d.key.Proof("GET", url, d.token)} }, http.StatusNoContent, nil},
		{"bearer token still works", "GET", "/things", "Bearer " + bearer, nil, http.StatusNoContent, nil},
		{"copied token used as Bearer", "GET", "/things", "Bearer " + d.token, nil, http.StatusUnauthorized, []string{
			`Bearer ` + realm + `, error="invalid_token", error_description="the access token is DPoP-bound: present it with the DPoP scheme and a proof"`,
			`DPoP ` + realm + `, ` + dpopAlgs}},
		{"copied token with a proof of another key", "GET", "/things", "DPoP " + d.token, func() []string { return []string{other.Proof("GET", url, d.token)} },
			http.StatusUnauthorized, tokenError("the access token is not bound to the DPoP proof's key")},
		{"bearer token with the DPoP scheme", "GET", "/things", "DPoP " + bearer, func() []string { return []string{d.key.Proof("GET", url, bearer)} },
			http.StatusUnauthorized, tokenError("the access token is not bound to the DPoP proof's key")},
		{"no proof", "GET", "/things", "DPoP " + d.token, nil, http.StatusUnauthorized, proofError("DPoP invalid proof: want one DPoP header, got 0")},
		{"two proofs", "GET", "/things", "DPoP " + d.token, func() []string {
			return []string{d.key.Proof("GET", url, d.token), d.key.Proof("GET", url, d.token)}
		}, http.StatusUnauthorized, proofError("DPoP invalid proof: want one DPoP header, got 2")},
		{"wrong htm", "GET", "/things", "DPoP " + d.token, func() []string { return []string{d.key.Proof("POST", url, d.token)} },
			http.StatusUnauthorized, proofError("DPoP invalid proof: htm does not match the request method")},
		{"wrong htu", "GET", "/things", "DPoP " + d.token, func() []string { return []string{d.key.Proof("GET", d.srv.URL+"/other", d.token)} },
			http.StatusUnauthorized, proofError("DPoP invalid proof: htu does not match the request URI")},
		{"wrong ath", "GET", "/things", "DPoP " + d.token, func() []string { return []string{d.key.Proof("GET", url, bearer)} },
			http.StatusUnauthorized, proofError("DPoP invalid proof: ath does not match the access token")},
		{"no ath", "GET", "/things", "DPoP " + d.token, func() []string { return []string{d.key.Proof("GET", url, "")} },
			http.StatusUnauthorized, proofError("DPoP invalid proof: ath missing")},
		{"alg none", "GET", "/things", "DPoP " + d.token, func() []string { return []string{noneProof()} },
			http.StatusUnauthorized, proofError("DPoP invalid proof: alg not allowed")},
		{"HS256", "GET", "/things", "DPoP " + d.token, func() []string {
			return []string{signed(t, jose.HS256, []byte("0123456789abcdef0123456789abcdef"), (&jose.SignerOptions{}).WithType("dpop+jwt").WithHeader("jwk", pub), claims())}
		}, http.StatusUnauthorized, proofError("DPoP invalid proof: alg not allowed")},
		{"private key in jwk", "GET", "/things", "DPoP " + d.token, func() []string {
			return []string{signed(t, jose.ES256, d.key.PrivateKey(), (&jose.SignerOptions{}).WithType("dpop+jwt").WithHeader("jwk", jose.JSONWebKey{Key: d.key.PrivateKey()}), claims())}
		}, http.StatusUnauthorized, proofError("DPoP invalid proof: jwk header carries private key material")},
		{"stale iat", "GET", "/things", "DPoP " + d.token, func() []string {
			return []string{d.key.ProofClaims(map[string]any{"htm": "GET", "htu": url, "ath": ath, "iat": d.clock.Now().Add(-verifier.DefaultDPoPMaxAge - time.Second)})}
		}, http.StatusUnauthorized, proofError("DPoP invalid proof: iat too old")},
		{"iat in the future", "GET", "/things", "DPoP " + d.token, func() []string {
			return []string{d.key.ProofClaims(map[string]any{"htm": "GET", "htu": url, "ath": ath, "iat": d.clock.Now().Add(verifier.DefaultLeeway + time.Second)})}
		}, http.StatusUnauthorized, proofError("DPoP invalid proof: iat in the future")},
		{"typ JWT", "GET", "/things", "DPoP " + d.token, func() []string {
			return []string{signed(t, jose.ES256, d.key.PrivateKey(), (&jose.SignerOptions{EmbedJWK: true}).WithType("JWT"), claims())}
		}, http.StatusUnauthorized, proofError("DPoP invalid proof: typ is not dpop+jwt")},
		{"access token as the proof", "GET", "/things", "DPoP " + d.token, func() []string { return []string{d.token} },
			http.StatusUnauthorized, proofError("DPoP invalid proof: typ is not dpop+jwt")},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var proofs []string
			if tc.proofs != nil {
				proofs = tc.proofs()
			}
			status, challenge := d.call(t, tc.method, tc.path, tc.auth, proofs...)
			if status != tc.status {
				t.Fatalf("status = %d, want %d (WWW-Authenticate %q)", status, tc.status, challenge)
			}
			if strings.Join(challenge, "\n") != strings.Join(tc.challenge, "\n") {
				t.Fatalf("WWW-Authenticate = %q\nwant               %q", challenge, tc.challenge)
			}
			d.mu.Lock()
			seen := d.seen
			d.mu.Unlock()
			if (status == http.StatusNoContent) != (seen != nil) {
				t.Fatalf("status %d, handler saw %+v", status, seen)
			}
		})
	}
}

// TestMiddlewareDPoPAccessTokenAsProof shows that an ES256 access token
// sent as its own proof is refused for its typ (RFC 9449 §4.3 item 4).
func TestMiddlewareDPoPAccessTokenAsProof(t *testing.T) {
	d := newDPoPEnv(t)
	tok := d.iss.Issue(map[string]any{"aud": audience}, verifiertest.WithAlg("ES256"), verifiertest.WithJKT(d.key.JKT()))
	status, challenge := d.call(t, "GET", "/", "DPoP "+tok, tok)
	if status != http.StatusUnauthorized || len(challenge) != 1 || !strings.Contains(challenge[0], `error="invalid_dpop_proof"`) {
		t.Fatalf("status %d, WWW-Authenticate %q", status, challenge)
	}
}

func TestMiddlewareDPoPClaims(t *testing.T) {
	d := newDPoPEnv(t)
	status, _ := d.call(t, "GET", "/x", "DPoP "+d.token, d.key.Proof("GET", d.srv.URL+"/x", d.token))
	if status != http.StatusNoContent {
		t.Fatalf("status %d", status)
	}
	if d.seen.JKT != d.key.JKT() || d.seen.Subject != "alice" {
		t.Fatalf("claims %+v, want jkt %s", d.seen, d.key.JKT())
	}
}

func TestMiddlewareDPoPReplay(t *testing.T) {
	d := newDPoPEnv(t)
	url := d.srv.URL + "/things"
	proof := d.key.Proof("GET", url, d.token)
	if status, ch := d.call(t, "GET", "/things", "DPoP "+d.token, proof); status != http.StatusNoContent {
		t.Fatalf("first use: %d %q", status, ch)
	}
	status, ch := d.call(t, "GET", "/things", "DPoP "+d.token, proof)
	want := `DPoP realm="` + audience + `", error="invalid_dpop_proof", error_description="the DPoP proof was already used", ` + dpopAlgs
	if status != http.StatusUnauthorized || len(ch) != 1 || ch[0] != want {
		t.Fatalf("replay: %d %q", status, ch)
	}
	// Once the window has passed the record may go: the proof is then
	// refused for its age instead.
	d.clock.Advance(verifier.DefaultDPoPMaxAge + 2*time.Second)
	fresh := d.iss.Issue(map[string]any{"aud": audience}, verifiertest.WithJKT(d.key.JKT()))
	old := d.key.ProofClaims(map[string]any{"htm": "GET", "htu": url, "ath": dpop.HashToken(fresh), "iat": d.clock.Now().Add(-verifier.DefaultDPoPMaxAge - 2*time.Second)})
	if status, ch := d.call(t, "GET", "/things", "DPoP "+fresh, old); status != http.StatusUnauthorized || !strings.Contains(ch[0], "iat too old") {
		t.Fatalf("old proof: %d %q", status, ch)
	}
}

func TestMiddlewareDPoPConcurrentReplay(t *testing.T) {
	d := newDPoPEnv(t)
	proof := d.key.Proof("GET", d.srv.URL+"/", d.token)
	const n = 8
	var wg sync.WaitGroup
	statuses := make(chan int, n)
	for range n {
		wg.Go(func() {
			req, _ := http.NewRequest("GET", d.srv.URL+"/", nil)
			req.Header.Set("Authorization", "DPoP "+d.token)
			req.Header.Set("DPoP", proof)
			resp, err := d.srv.Client().Do(req)
			if err != nil {
				t.Error(err)
				return
			}
			resp.Body.Close()
			statuses <- resp.StatusCode
		})
	}
	wg.Wait()
	close(statuses)
	ok := 0
	for s := range statuses {
		if s == http.StatusNoContent {
			ok++
		} else if s != http.StatusUnauthorized {
			t.Errorf("status %d", s)
		}
	}
	if ok != 1 {
		t.Fatalf("%d of %d concurrent uses of one proof accepted, want 1", ok, n)
	}
}

// sharedReplay is a ReplayCache two verifiers share, as replicas would
// share one in Redis.
type sharedReplay struct {
	mu   sync.Mutex
	used map[string]time.Time
}

func (s *sharedReplay) MarkUsed(_ context.Context, key string, exp time.Time) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if _, ok := s.used[key]; ok {
		return verifier.ErrDPoPReplay
	}
	s.used[key] = exp
	return nil
}

func TestDPoPReplayOnAnotherReplica(t *testing.T) {
	shared := &sharedReplay{used: map[string]time.Time{}}
	base := "https://api.example.com/v1"
	opts := []verifier.Option{verifier.WithDPoPReplayCache(shared), verifier.WithDPoPBaseURL(base)}
	d := newDPoPEnv(t, opts...)
	replica := newVerifier(t, d.iss, d.clock, opts...)
	proof := d.key.Proof("GET", base+"/things", d.token)
	req := func() *http.Request {
		r := httptest.NewRequest("GET", "http://10.0.0.7:8080/things", nil)
		r.Header.Set("Authorization", "DPoP "+d.token)
		r.Header.Set("DPoP", proof)
		return r
	}
	if _, err := d.v.VerifyRequest(req()); err != nil {
		t.Fatalf("first replica: %v", err)
	}
	if _, err := replica.VerifyRequest(req()); !errors.Is(err, verifier.ErrDPoPReplay) || !errors.Is(err, verifier.ErrInvalidDPoPProof) {
		t.Fatalf("second replica: %v, want ErrDPoPReplay", err)
	}
	if len(shared.used) != 1 {
		t.Fatalf("shared cache holds %d entries", len(shared.used))
	}
}

// failingReplay is a shared cache that is down.
type failingReplay struct{}

func (failingReplay) MarkUsed(context.Context, string, time.Time) error {
	return errors.New("connection refused")
}

func TestMiddlewareDPoPReplayCacheUnavailable(t *testing.T) {
	for _, tc := range []struct {
		name string
		opt  verifier.Option
		uses int
	}{
		{"in-memory cache full", verifier.WithDPoPReplayCacheSize(1), 2},
		{"shared cache down", verifier.WithDPoPReplayCache(failingReplay{}), 1},
	} {
		t.Run(tc.name, func(t *testing.T) {
			d := newDPoPEnv(t, tc.opt)
			var status int
			for range tc.uses {
				status, _ = d.call(t, "GET", "/", "DPoP "+d.token, d.key.Proof("GET", d.srv.URL+"/", d.token))
			}
			if status != http.StatusServiceUnavailable {
				t.Fatalf("status %d, want 503", status)
			}
		})
	}
}

func TestMiddlewareDPoPCacheFreesExpired(t *testing.T) {
	d := newDPoPEnv(t, verifier.WithDPoPReplayCacheSize(1))
	if status, _ := d.call(t, "GET", "/", "DPoP "+d.token, d.key.Proof("GET", d.srv.URL+"/", d.token)); status != http.StatusNoContent {
		t.Fatalf("first: %d", status)
	}
	d.clock.Advance(verifier.DefaultDPoPMaxAge + 2*time.Second)
	tok := d.iss.Issue(map[string]any{"aud": audience}, verifiertest.WithJKT(d.key.JKT()))
	if status, ch := d.call(t, "GET", "/", "DPoP "+tok, d.key.Proof("GET", d.srv.URL+"/", tok)); status != http.StatusNoContent {
		t.Fatalf("after the window: %d %q", status, ch)
	}
}

func TestMiddlewareNoCredentialsAdvertisesDPoP(t *testing.T) {
	d := newDPoPEnv(t, verifier.WithDPoPAlgorithms("ES256", "EdDSA"))
	status, ch := d.call(t, "GET", "/", "")
	want := []string{`Bearer realm="` + audience + `"`, `DPoP realm="` + audience + `", algs="ES256 EdDSA"`}
	if status != http.StatusUnauthorized || strings.Join(ch, "\n") != strings.Join(want, "\n") {
		t.Fatalf("%d %q, want %q", status, ch, want)
	}
}

func TestDPoPBaseURL(t *testing.T) {
	d := newDPoPEnv(t, verifier.WithDPoPBaseURL("https://API.example.com:443/v1/"))
	// The proxy forwards https://api.example.com/v1/things to /things.
	good := d.key.Proof("GET", "https://api.example.com/v1/things", d.token)
	if status, ch := d.call(t, "GET", "/things", "DPoP "+d.token, good); status != http.StatusNoContent {
		t.Fatalf("proof for the public URL: %d %q", status, ch)
	}
	// The URL the proxy used internally is not what the client signed.
	internal := d.key.Proof("GET", d.srv.URL+"/things", d.token)
	if status, ch := d.call(t, "GET", "/things", "DPoP "+d.token, internal); status != http.StatusUnauthorized || !strings.Contains(ch[0], "htu") {
		t.Fatalf("proof for the internal URL: %d %q", status, ch)
	}
}

func TestDPoPTargetURIFromTLS(t *testing.T) {
	e := newEnv(t)
	key := verifiertest.NewDPoPKey(t, verifiertest.WithDPoPClock(e.clock.Now))
	tok := e.iss.Issue(map[string]any{"aud": audience}, verifiertest.WithJKT(key.JKT()))
	srv := httptest.NewTLSServer(e.v.Middleware(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.WriteHeader(http.StatusNoContent)
	})))
	defer srv.Close()
	for _, tc := range []struct {
		htu    string
		status int
	}{
		{srv.URL + "/a", http.StatusNoContent},
		{strings.Replace(srv.URL, "https:", "http:", 1) + "/a", http.StatusUnauthorized},
	} {
		req, _ := http.NewRequest("GET", srv.URL+"/a", nil)
		req.Header.Set("Authorization", "DPoP "+tok)
		req.Header.Set("DPoP", key.Proof("GET", tc.htu, tok))
		resp, err := srv.Client().Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode != tc.status {
			t.Errorf("htu %s: status %d, want %d", tc.htu, resp.StatusCode, tc.status)
		}
	}
}

func TestDPoPOptionsRefused(t *testing.T) {
	iss := verifiertest.NewIssuer(t)
	for _, tc := range []struct {
		name  string
		opt   verifier.Option
		extra verifier.Option
	}{
		{"HS256 proofs", verifier.WithDPoPAlgorithms("ES256", "HS256"), nil},
		{"no proof algorithms", verifier.WithDPoPAlgorithms(), nil},
		{"zero window", verifier.WithDPoPMaxAge(0), nil},
		{"long window", verifier.WithDPoPMaxAge(verifier.MaxDPoPMaxAge + time.Second), nil},
		{"nil cache", verifier.WithDPoPReplayCache(nil), nil},
		{"zero cache size", verifier.WithDPoPReplayCacheSize(0), nil},
		{"size of a cache given", verifier.WithDPoPReplayCache(&sharedReplay{used: map[string]time.Time{}}), verifier.WithDPoPReplayCacheSize(10)},
		{"relative base", verifier.WithDPoPBaseURL("/v1"), nil},
		{"base with query", verifier.WithDPoPBaseURL("https://api.example.com/?x=1"), nil},
		{"base of another scheme", verifier.WithDPoPBaseURL("ftp://api.example.com/"), nil},
	} {
		t.Run(tc.name, func(t *testing.T) {
			opts := []verifier.Option{verifier.WithAudience(audience), verifier.WithHTTPClient(iss.Client()), tc.opt}
			if tc.extra != nil {
				opts = append(opts, tc.extra)
			}
			v, err := verifier.New(context.Background(), iss.URL(), opts...)
			if !errors.Is(err, verifier.ErrInvalidOption) {
				if v != nil {
					v.Close()
				}
				t.Fatalf("New = %v, want ErrInvalidOption", err)
			}
		})
	}
}

func TestVerifyRequestErrors(t *testing.T) {
	d := newDPoPEnv(t)
	other := ecdsaKey(t)
	for _, tc := range []struct {
		name  string
		auth  string
		proof string
		want  error
	}{
		{"none", "", "", verifier.ErrNoCredentials},
		{"basic", "Basic dXNlcjpwYXNz", "", verifier.ErrNoCredentials},
		{"bound token as bearer", "Bearer " + d.token, "", verifier.ErrDPoPBoundBearer},
		{"not a b64token", "DPoP a,b", "", verifier.ErrMalformedRequest},
		{"bad proof", "DPoP " + d.token, "x", verifier.ErrInvalidDPoPProof},
		{"other key", "DPoP " + d.token, signed(t, jose.ES256, other, (&jose.SignerOptions{EmbedJWK: true}).WithType("dpop+jwt"),
			map[string]any{"jti": "j", "htm": "GET", "htu": "http://example.com/", "iat": d.clock.Now().Unix(), "ath": dpop.HashToken(d.token)}), verifier.ErrKeyBinding},
		{"expired token", "DPoP " + d.iss.Issue(map[string]any{"aud": audience, "exp": d.clock.Now().Add(-time.Hour)}, verifiertest.WithJKT(d.key.JKT())), "", verifier.ErrExpired},
	} {
		t.Run(tc.name, func(t *testing.T) {
			r := httptest.NewRequest("GET", "http://example.com/", nil)
			if tc.auth != "" {
				r.Header.Set("Authorization", tc.auth)
			}
			if tc.proof != "" {
				r.Header.Set("DPoP", tc.proof)
			}
			c, err := d.v.VerifyRequest(r)
			if !errors.Is(err, tc.want) || c != nil {
				t.Fatalf("VerifyRequest = %+v, %v; want %v", c, err, tc.want)
			}
		})
	}
}

func TestClaimsCnf(t *testing.T) {
	e := newEnv(t)
	for _, tc := range []struct {
		name string
		cnf  any
	}{
		{"not an object", "abc"},
		{"jkt not a string", map[string]any{"jkt": 5}},
		{"empty jkt", map[string]any{"jkt": ""}},
		{"certificate binding only", map[string]any{"x5t#S256": "bwcK0esc3ACC3DB2Y5_lESsXE8o9ltc05O89jdN-dg2"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			tok := e.iss.Issue(map[string]any{"aud": audience, "cnf": tc.cnf})
			if _, err := e.v.Verify(context.Background(), tok); !errors.Is(err, verifier.ErrMalformed) {
				t.Fatalf("Verify = %v, want ErrMalformed", err)
			}
		})
	}
}

func ecdsaKey(t testing.TB) *ecdsa.PrivateKey {
	t.Helper()
	k, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	return k
}
