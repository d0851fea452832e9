package server_test

import (
	"bytes"
	"context"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/spf13/pflag"

	"github.com/authd-dev/authd/internal/app"
	"github.com/authd-dev/authd/internal/config"
	"github.com/authd-dev/authd/internal/redistest"
	"github.com/authd-dev/authd/server"
)

// benchApp is one assembled authd whose handlers the benchmarks call
// directly (no sockets): public and admin are built once.
type benchApp struct {
	app    *app.App
	public http.Handler
	admin  http.Handler
}

// newBenchApp assembles authd as `authd serve --dev` would, on the bolt
// store in a temp dir, or on the test Redis under a prefix of its own
// (internal/redistest), logging at warn.
func newBenchApp(tb testing.TB, storeName string) *benchApp {
	return newBenchAppAt(tb, storeName, "warn")
}

// newBenchAppAt is newBenchApp logging at level, with authd's own text
// handler (app.NewLogger) writing to io.Discard: at "info", the default,
// every request formats its log line, as in production.
func newBenchAppAt(tb testing.TB, storeName, level string) *benchApp {
	tb.Helper()
	args := []string{
		"--dev", "--data-dir", tb.TempDir(), "--issuer", "http://127.0.0.1:8080",
		"--log-level", level,
		// Password hashing is not what these benchmarks measure.
		"--argon2-time", "1", "--argon2-memory", "64",
	}
	if storeName == "redis" {
		rdb := redistest.Client(tb)
		args = append(args, "--store", "redis", "--redis-url", redistest.URL(tb), "--redis-prefix", redistest.Prefix(tb, rdb))
	}
	fs := pflag.NewFlagSet("serve", pflag.ContinueOnError)
	config.Register(fs)
	if err := fs.Parse(args); err != nil {
		tb.Fatal(err)
	}
	cfg, err := config.Load(fs, func(string) string { return "" })
	if err != nil {
		tb.Fatal(err)
	}
	a, err := app.New(context.Background(), cfg, app.Options{Logger: app.NewLogger(io.Discard, level, "text")})
	if err != nil {
		tb.Fatalf("app.New: %v", err)
	}
	tb.Cleanup(func() { a.Close() })
	return &benchApp{app: a, public: a.Server.Public(), admin: a.Server.Admin()}
}

// adminJSON calls the admin API and decodes the answer into out.
func (ba *benchApp) adminJSON(tb testing.TB, method, path string, body, out any) {
	tb.Helper()
	raw, err := json.Marshal(body)
	if err != nil {
		tb.Fatal(err)
	}
	req := httptest.NewRequest(method, path, bytes.NewReader(raw))
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("Authorization", "Bearer "+ba.app.Config.AdminToken)
	rec := httptest.NewRecorder()
	ba.admin.ServeHTTP(rec, req)
	if rec.Code/100 != 2 {
		tb.Fatalf("%s %s: %d %s", method, path, rec.Code, rec.Body)
	}
	if out != nil {
		if err := json.Unmarshal(rec.Body.Bytes(), out); err != nil {
			tb.Fatalf("%s %s: %v", method, path, err)
		}
	}
}

// benchClient is a registered client and its secret.
type benchClient struct {
	ID     string `json:"client_id"`
	Secret string `json:"client_secret"`
}

func (ba *benchApp) createClient(tb testing.TB, meta map[string]any) benchClient {
	tb.Helper()
	var c benchClient
	ba.adminJSON(tb, http.MethodPost, "/admin/clients", meta, &c)
	if c.ID == "" || c.Secret == "" {
		tb.Fatalf("client registration answered no id or secret: %+v", c)
	}
	return c
}

// tokenRequest builds a token-endpoint request with Basic client
// authentication (RFC 6749 §2.3.1).
func tokenRequest(c benchClient, form url.Values) *http.Request {
	req := httptest.NewRequest(http.MethodPost, server.PathToken, strings.NewReader(form.Encode()))
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	req.SetBasicAuth(url.QueryEscape(c.ID), url.QueryEscape(c.Secret))
	return req
}

// replay serves copies of one pre-built form request (one replay per
// goroutine): each iteration gets a shallow copy of the template with the
// body rewound, so the benchmark itself builds no request.
type replay struct {
	tmpl *http.Request
	body []byte
	rd   bytes.Reader
}

func newReplay(tmpl *http.Request) *replay {
	body, err := io.ReadAll(tmpl.Body)
	if err != nil {
		panic(err)
	}
	return &replay{tmpl: tmpl, body: body}
}

func (r *replay) next() *http.Request {
	req := *r.tmpl
	r.rd.Reset(r.body)
	req.Body = io.NopCloser(&r.rd)
	req.Form, req.PostForm = nil, nil
	return &req
}

// tokenAnswer is the part of a token response the benchmarks check.
type tokenAnswer struct {
	AccessToken  string `json:"access_token"`
	RefreshToken string `json:"refresh_token"`
	Error        string `json:"error"`
}

func serveToken(h http.Handler, req *http.Request) (int, tokenAnswer, error) {
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, req)
	var ans tokenAnswer
	err := json.Unmarshal(rec.Body.Bytes(), &ans)
	return rec.Code, ans, err
}

// BenchmarkClientCredentials measures a client_credentials token request
// (RFC 6749 §4.4) through the whole public handler stack — routing,
// metrics, form parsing, client authentication, grant checks, minting —
// on every core, on the bolt store, at the default log level (info: one
// request line per token, formatted and discarded).
func BenchmarkClientCredentials(b *testing.B) {
	benchClientCredentials(b, "info", "ES256", "RS256")
}

// BenchmarkClientCredentialsQuiet is the ES256 case at --log-level warn:
// its difference from BenchmarkClientCredentials/ES256 is what the request
// log line costs.
func BenchmarkClientCredentialsQuiet(b *testing.B) {
	benchClientCredentials(b, "warn", "ES256")
}

func benchClientCredentials(b *testing.B, level string, algs ...string) {
	ba := newBenchAppAt(b, "bolt", level)
	for _, alg := range algs {
		c := ba.createClient(b, map[string]any{
			"client_name":              "bench " + alg,
			"grant_types":              []string{"client_credentials"},
			"scope":                    "read write",
			"access_token_signing_alg": alg,
		})
		form := url.Values{"grant_type": {"client_credentials"}, "scope": {"read"}}
		b.Run(alg, func(b *testing.B) {
			code, ans, err := serveToken(ba.public, tokenRequest(c, form))
			if err != nil || code != http.StatusOK || ans.AccessToken == "" {
				b.Fatalf("first token: %d %+v %v", code, ans, err)
			}
			if hdr := decodeHeader(b, ans.AccessToken); hdr["alg"] != alg || hdr["typ"] != "at+jwt" {
				b.Fatalf("token header %v; want alg %s, typ at+jwt", hdr, alg)
			}
			b.ReportAllocs()
			b.ResetTimer()
			cpu0 := processCPU()
			defer reportCPU(b, cpu0) // CPU per token, GC included: the target's figure
			b.RunParallel(func(pb *testing.PB) {
				rp := newReplay(tokenRequest(c, form))
				for pb.Next() {
					rec := httptest.NewRecorder()
					ba.public.ServeHTTP(rec, rp.next())
					if rec.Code != http.StatusOK {
						b.Errorf("token endpoint: %d %s", rec.Code, rec.Body)
						return
					}
				}
			})
		})
	}
}

// decodeHeader returns the JOSE header of a compact JWS.
func decodeHeader(tb testing.TB, jws string) map[string]any {
	tb.Helper()
	h, _, ok := strings.Cut(jws, ".")
	if !ok {
		tb.Fatalf("not a compact JWS: %q", jws)
	}
	raw, err := base64.RawURLEncoding.DecodeString(h)
	if err != nil {
		tb.Fatal(err)
	}
	var m map[string]any
	if err := json.Unmarshal(raw, &m); err != nil {
		tb.Fatal(err)
	}
	return m
}

// BenchmarkJWKS measures serving the JWK Set (RFC 7517 §5) with a body.
func BenchmarkJWKS(b *testing.B) {
	ba := newBenchApp(b, "bolt")
	benchJWKS(b, ba, false)
}

// BenchmarkJWKSNotModified measures a JWKS revalidation answered 304 (RFC
// 9110 §13.1.2), what well-behaved resource servers mostly send.
func BenchmarkJWKSNotModified(b *testing.B) {
	ba := newBenchApp(b, "bolt")
	benchJWKS(b, ba, true)
}

func benchJWKS(b *testing.B, ba *benchApp, revalidate bool) {
	first := httptest.NewRecorder()
	ba.public.ServeHTTP(first, httptest.NewRequest(http.MethodGet, server.PathJWKS, nil))
	etag := first.Header().Get("ETag")
	if first.Code != http.StatusOK || etag == "" || !bytes.Contains(first.Body.Bytes(), []byte(`"keys"`)) {
		b.Fatalf("JWKS: %d, ETag %q, body %s", first.Code, etag, first.Body)
	}
	want := http.StatusOK
	tmpl := httptest.NewRequest(http.MethodGet, server.PathJWKS, nil)
	if revalidate {
		want = http.StatusNotModified
		tmpl.Header.Set("If-None-Match", etag)
	}
	b.ReportAllocs()
	b.ResetTimer()
	b.RunParallel(func(pb *testing.PB) {
		req := tmpl.Clone(context.Background())
		for pb.Next() {
			rec := httptest.NewRecorder()
			ba.public.ServeHTTP(rec, req)
			if rec.Code != want {
				b.Errorf("JWKS: %d; want %d", rec.Code, want)
				return
			}
		}
	})
}

// BenchmarkRefreshRotation measures refresh-token rotation (RFC 6749 §6,
// with the reuse detection of RFC 9700 §4.14.2) through the public handler
// on each store, with ES256 access tokens. Logins are made up front: each
// iteration takes a live refresh token from a pool, rotates it and puts
// the successor back, so every chain keeps going. Eight goroutines per
// core (16 on the two cores of the target machine) stand for concurrent
// clients.
func BenchmarkRefreshRotation(b *testing.B) {
	const logins = 64
	for _, storeName := range []string{"bolt", "redis"} {
		// Set up once per store, in the parent: the pool of live refresh
		// tokens carries over the rounds of the sub-benchmark.
		ba := newBenchApp(b, storeName)
		c := ba.createClient(b, map[string]any{
			"client_name":              "bench refresh",
			"grant_types":              []string{"password", "refresh_token"},
			"scope":                    "read write",
			"access_token_signing_alg": "ES256",
		})
		pool := make(chan string, logins)
		for i := range logins {
			name := fmt.Sprintf("user%d", i)
			ba.adminJSON(b, http.MethodPost, "/admin/users", map[string]any{
				"username": name, "password": "bench password " + name, "roles": []string{"reader"},
			}, nil)
			code, ans, err := serveToken(ba.public, tokenRequest(c, url.Values{
				"grant_type": {"password"}, "username": {name}, "password": {"bench password " + name},
			}))
			if err != nil || code != http.StatusOK || ans.RefreshToken == "" {
				b.Fatalf("login %s: %d %+v %v", name, code, ans, err)
			}
			pool <- ans.RefreshToken
		}
		b.Run(storeName, func(b *testing.B) {
			b.ReportAllocs()
			b.SetParallelism(8)
			b.ResetTimer()
			b.RunParallel(func(pb *testing.PB) {
				for pb.Next() {
					rt := <-pool
					code, ans, err := serveToken(ba.public, tokenRequest(c, url.Values{
						"grant_type": {"refresh_token"}, "refresh_token": {rt},
					}))
					if err != nil || code != http.StatusOK || ans.RefreshToken == "" || ans.RefreshToken == rt {
						pool <- rt
						b.Errorf("rotation: %d %+v %v", code, ans, err)
						return
					}
					pool <- ans.RefreshToken
				}
			})
		})
	}
}

// BenchmarkTokenExchange measures a token exchange by delegation (RFC 8693
// §2: a user's access token as subject, the exchanging service's own
// client_credentials token as actor) against a client_credentials request
// of the same client in the same run, through the whole public handler on
// the bolt store. The exchange adds two verified-token cache hits, two
// denylist reads and a user read to the signature both pay; the target is
// at most 1.3× client_credentials (compare cpu-µs/op).
func BenchmarkTokenExchange(b *testing.B) {
	ba := newBenchApp(b, "bolt")
	ba.adminJSON(b, http.MethodPost, "/admin/users", map[string]any{
		"username": "exchange-user", "password": "bench password", "roles": []string{"reader"},
	}, nil)
	for _, alg := range []string{"ES256", "RS256"} {
		svc := ba.createClient(b, map[string]any{
			"client_id": "bench-svc-" + alg, "grant_types": []string{"client_credentials", "urn:ietf:params:oauth:grant-type:token-exchange"},
			"scope": "read write", "audience": []string{"https://api.example"}, "access_token_signing_alg": alg,
		})
		front := ba.createClient(b, map[string]any{
			"grant_types": []string{"password"}, "scope": "read", "audience": []string{svc.ID}, "access_token_signing_alg": alg,
		})
		code, subject, err := serveToken(ba.public, tokenRequest(front, url.Values{
			"grant_type": {"password"}, "username": {"exchange-user"}, "password": {"bench password"}}))
		if err != nil || code != http.StatusOK {
			b.Fatalf("subject token: %d %+v %v", code, subject, err)
		}
		cc := url.Values{"grant_type": {"client_credentials"}, "scope": {"read"}}
		code, actor, err := serveToken(ba.public, tokenRequest(svc, cc))
		if err != nil || code != http.StatusOK {
			b.Fatalf("actor token: %d %+v %v", code, actor, err)
		}
		exchange := url.Values{
			"grant_type":    {"urn:ietf:params:oauth:grant-type:token-exchange"},
			"subject_token": {subject.AccessToken}, "subject_token_type": {"urn:ietf:params:oauth:token-type:access_token"},
			"actor_token": {actor.AccessToken}, "actor_token_type": {"urn:ietf:params:oauth:token-type:access_token"},
			"scope": {"read"},
		}
		for _, tc := range []struct {
			name string
			form url.Values
		}{{"client_credentials", cc}, {"token_exchange", exchange}} {
			b.Run(alg+"/"+tc.name, func(b *testing.B) {
				code, ans, err := serveToken(ba.public, tokenRequest(svc, tc.form))
				if err != nil || code != http.StatusOK || ans.AccessToken == "" {
					b.Fatalf("first token: %d %+v %v", code, ans, err)
				}
				b.ReportAllocs()
				b.ResetTimer()
				cpu := processCPU()
				b.RunParallel(func(pb *testing.PB) {
					rp := newReplay(tokenRequest(svc, tc.form))
					for pb.Next() {
						rec := httptest.NewRecorder()
						ba.public.ServeHTTP(rec, rp.next())
						if rec.Code != http.StatusOK {
							b.Errorf("token endpoint: %d %s", rec.Code, rec.Body)
							return
						}
					}
				})
				// CPU time per request: on a shared machine it compares
				// the two requests more fairly than wall time.
				reportCPU(b, cpu)
			})
		}
	}
}

// BenchmarkDPoPClientCredentials compares a DPoP-bound client_credentials
// token (RFC 9449 §5, an ES256 proof) with a bearer one in the same run,
// one request at a time, on bolt and on Redis; both access tokens are
// ES256.
// The difference is the server's cost of DPoP: one ES256 verification of
// the proof (verifier/dpop.Check) and one store write (its jti in the
// ReplayCache). Proofs are minted before the timer starts: a proof works
// once, and minting is the client's work.
func BenchmarkDPoPClientCredentials(b *testing.B) {
	for _, st := range []string{"bolt", "redis"} {
		b.Run(st, func(b *testing.B) { benchDPoP(b, newBenchApp(b, st)) })
	}
}

func benchDPoP(b *testing.B, ba *benchApp) {
	requests := dpopBenchRequests(b, ba, "bench")
	for _, mode := range []string{"bearer", "dpop"} {
		b.Run(mode, func(b *testing.B) {
			reqs := requests(b.N, mode == "dpop")
			code, ans, err := serveToken(ba.public, reqs[0])
			if err != nil || code != http.StatusOK || ans.AccessToken == "" {
				b.Fatalf("first token: %d %+v %v", code, ans, err)
			}
			if _, bound := decodeClaims(b, ans.AccessToken)["cnf"]; bound != (mode == "dpop") {
				b.Fatalf("%s token: cnf present %v", mode, bound)
			}
			reqs[0] = requests(1, mode == "dpop")[0] // the probe read the body
			b.ReportAllocs()
			b.ResetTimer()
			start, cpu := time.Now(), processCPU()
			for i := range reqs {
				rec := httptest.NewRecorder()
				ba.public.ServeHTTP(rec, reqs[i])
				if rec.Code != http.StatusOK {
					b.Fatalf("token endpoint: %d %s", rec.Code, rec.Body)
				}
			}
			b.ReportMetric(float64(time.Since(start).Microseconds())/float64(b.N), "µs/op")
			// The server's CPU per request (the Redis server's own is not
			// counted): fairer than wall time on a shared machine.
			reportCPU(b, cpu)
		})
	}
}

// decodeClaims returns the claims of a compact JWS, unverified.
func decodeClaims(tb testing.TB, jws string) map[string]any {
	tb.Helper()
	parts := strings.Split(jws, ".")
	if len(parts) != 3 {
		tb.Fatalf("not a compact JWS: %q", jws)
	}
	raw, err := base64.RawURLEncoding.DecodeString(parts[1])
	if err != nil {
		tb.Fatal(err)
	}
	var m map[string]any
	if err := json.Unmarshal(raw, &m); err != nil {
		tb.Fatal(err)
	}
	return m
}
