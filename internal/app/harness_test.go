package app_test

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/base64"
	"encoding/json"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/spf13/pflag"

	"github.com/authd-dev/authd/internal/app"
	"github.com/authd-dev/authd/internal/config"
	"github.com/authd-dev/authd/internal/redistest"
	"github.com/authd-dev/authd/users"
)

// testArgon2 keeps password hashing cheap in tests.
var testArgon2 = &users.Argon2id{Time: 1, MemoryKiB: 64, Threads: 1, KeyLen: 32, SaltLen: 16}

// instance is one running authd: real app, real store, real HTTP servers.
type instance struct {
	t      *testing.T
	App    *app.App
	Public *httptest.Server
	Admin  *httptest.Server
	Issuer string
	cancel context.CancelFunc
}

// backends lists the stores every end-to-end test runs against.
func backends(t *testing.T) map[string]func(t *testing.T) []string {
	return map[string]func(t *testing.T) []string{
		"bolt": func(t *testing.T) []string { return []string{"--store", "bolt"} },
		"redis": func(t *testing.T) []string {
			rdb := redistest.Client(t)
			return []string{"--store", "redis", "--redis-url", redistest.URL(t), "--redis-prefix", redistest.Prefix(t, rdb)}
		},
	}
}

// forEachStore runs f once per backend.
func forEachStore(t *testing.T, f func(t *testing.T, storeArgs []string)) {
	for name, args := range backends(t) {
		t.Run(name, func(t *testing.T) { f(t, args(t)) })
	}
}

// loadConfig parses args exactly as `authd serve` would.
func loadConfig(t *testing.T, args ...string) config.Config {
	t.Helper()
	fs := pflag.NewFlagSet("serve", pflag.ContinueOnError)
	config.Register(fs)
	if err := fs.Parse(args); err != nil {
		t.Fatalf("parse flags: %v", err)
	}
	cfg, err := config.Load(fs, func(string) string { return "" })
	if err != nil {
		t.Fatalf("load config: %v", err)
	}
	return cfg
}

// start runs an authd on loopback listeners. dataDir "" → a fresh temp dir.
func start(t *testing.T, dataDir string, args ...string) *instance {
	t.Helper()
	return startWith(t, nil, dataDir, args...)
}

// startWith is start with an injected clock (nil: the real one).
func startWith(t *testing.T, now func() time.Time, dataDir string, args ...string) *instance {
	t.Helper()
	return startApp(t, dataDir, slog.LevelWarn, app.Options{Argon2: testArgon2, Now: now}, args...)
}

// startApp is the one way these tests start authd: loopback listeners, a
// dev configuration on dataDir ("" → a fresh temp dir) with args on top,
// and opts as given (a nil Logger logs at level to the test log).
func startApp(t *testing.T, dataDir string, level slog.Level, opts app.Options, args ...string) *instance {
	t.Helper()
	if dataDir == "" {
		dataDir = t.TempDir()
	}
	pubLn, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	admLn, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	issuer := "http://" + pubLn.Addr().String()
	base := []string{"--dev", "--data-dir", dataDir, "--issuer", issuer, "--log-level", strings.ToLower(level.String())}
	cfg := loadConfig(t, append(base, args...)...)
	if opts.Logger == nil {
		opts.Logger = slog.New(slog.NewTextHandler(testWriter{t}, &slog.HandlerOptions{Level: level}))
	}
	ctx, cancel := context.WithCancel(context.Background())
	a, err := app.New(ctx, cfg, opts)
	if err != nil {
		cancel()
		t.Fatalf("app.New: %v", err)
	}
	go a.Run(ctx)
	pub := &httptest.Server{Listener: pubLn, Config: &http.Server{Handler: a.Server.Public()}}
	adm := &httptest.Server{Listener: admLn, Config: &http.Server{Handler: a.Server.Admin()}}
	pub.Start()
	adm.Start()
	in := &instance{t: t, App: a, Public: pub, Admin: adm, Issuer: cfg.Issuer, cancel: cancel}
	t.Cleanup(in.stop)
	return in
}

// syncBuffer collects log output written from the app's goroutines.
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

func (in *instance) stop() {
	if in.cancel == nil {
		return
	}
	in.cancel()
	in.Public.Close()
	in.Admin.Close()
	in.App.Close()
	in.cancel = nil
}

type testWriter struct{ t *testing.T }

func (w testWriter) Write(p []byte) (int, error) {
	w.t.Logf("%s", bytes.TrimRight(p, "\n"))
	return len(p), nil
}

// admin calls the admin API with the dev admin token and decodes the JSON
// answer into out (if non-nil). It returns the status.
func (in *instance) admin(method, path string, body any, out any) int {
	in.t.Helper()
	return in.adminWithToken(in.App.Config.AdminToken, method, path, body, out)
}

func (in *instance) adminWithToken(token, method, path string, body any, out any) int {
	in.t.Helper()
	var rd io.Reader
	if body != nil {
		switch b := body.(type) {
		case string:
			rd = strings.NewReader(b)
		default:
			raw, err := json.Marshal(b)
			if err != nil {
				in.t.Fatal(err)
			}
			rd = bytes.NewReader(raw)
		}
	}
	req, err := http.NewRequest(method, in.Admin.URL+path, rd)
	if err != nil {
		in.t.Fatal(err)
	}
	req.Header.Set("Content-Type", "application/json")
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		in.t.Fatalf("%s %s: %v", method, path, err)
	}
	defer resp.Body.Close()
	raw, _ := io.ReadAll(resp.Body)
	if resp.StatusCode >= 500 {
		in.t.Errorf("%s %s: server error %d: %s", method, path, resp.StatusCode, raw)
	}
	if out != nil && len(raw) > 0 {
		if err := json.Unmarshal(raw, out); err != nil {
			in.t.Fatalf("%s %s: decode %q: %v", method, path, raw, err)
		}
	}
	return resp.StatusCode
}

// registeredClient is the admin API's answer to a client registration.
type registeredClient struct {
	ClientID     string   `json:"client_id"`
	ClientSecret string   `json:"client_secret"`
	GrantTypes   []string `json:"grant_types"`
	Scope        string   `json:"scope"`
}

// createClient registers a client and fails the test unless it got 201.
func (in *instance) createClient(meta map[string]any) registeredClient {
	in.t.Helper()
	var c registeredClient
	if st := in.admin(http.MethodPost, "/admin/clients", meta, &c); st != http.StatusCreated {
		in.t.Fatalf("create client: status %d", st)
	}
	return c
}

// tokenResponse is a token endpoint answer, success or error.
type tokenResponse struct {
	Status       int
	Header       http.Header
	AccessToken  string `json:"access_token"`
	TokenType    string `json:"token_type"`
	ExpiresIn    int64  `json:"expires_in"`
	RefreshToken string `json:"refresh_token"`
	Scope        string `json:"scope"`
	IDToken      string `json:"id_token"`
	Error        string `json:"error"`
	Description  string `json:"error_description"`
}

// token posts form to the token endpoint with Basic client credentials
// (id/secret empty: none).
func (in *instance) token(id, secret string, form url.Values) tokenResponse {
	in.t.Helper()
	return in.do(in.formPost("/oauth2/token", form, id, secret))
}

func (in *instance) do(req *http.Request) tokenResponse {
	in.t.Helper()
	var tr tokenResponse
	tr.Status, tr.Header = doJSON(in.t, req, "token endpoint", &tr)
	return tr
}

// formPost builds a form POST to path on the public listener, with Basic
// client authentication (RFC 6749 §2.3.1) when id is set.
func (in *instance) formPost(path string, form url.Values, id, secret string) *http.Request {
	in.t.Helper()
	req, err := http.NewRequest(http.MethodPost, in.Public.URL+path, strings.NewReader(form.Encode()))
	if err != nil {
		in.t.Fatal(err)
	}
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	if id != "" {
		req.SetBasicAuth(url.QueryEscape(id), url.QueryEscape(secret))
	}
	return req
}

// doJSON sends req and decodes a non-empty answer into out; what names
// the endpoint when the answer is not JSON. A 5xx other than 503 is an
// error of the test whatever the caller expected.
func doJSON(t testing.TB, req *http.Request, what string, out any) (int, http.Header) {
	t.Helper()
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	raw, _ := io.ReadAll(resp.Body)
	if len(raw) > 0 {
		if err := json.Unmarshal(raw, out); err != nil {
			t.Fatalf("%s answered non-JSON (%d): %q", what, resp.StatusCode, raw)
		}
	}
	if resp.StatusCode >= 500 && resp.StatusCode != http.StatusServiceUnavailable {
		t.Errorf("%s server error %d: %s", what, resp.StatusCode, raw)
	}
	return resp.StatusCode, resp.Header
}

// decodeClaims returns the (unverified) claims of a JWT for inspection;
// signature checks are done separately with a second JOSE library.
func decodeClaims(t *testing.T, jwt string) map[string]any {
	t.Helper()
	parts := strings.Split(jwt, ".")
	if len(parts) != 3 {
		t.Fatalf("not a compact JWS: %q", jwt)
	}
	var claims map[string]any
	raw, err := base64URLDecode(parts[1])
	if err != nil {
		t.Fatal(err)
	}
	if err := json.Unmarshal(raw, &claims); err != nil {
		t.Fatal(err)
	}
	return claims
}

// eventually polls cond until it holds or d passes.
func eventually(t *testing.T, d time.Duration, cond func() bool) bool {
	t.Helper()
	deadline := time.Now().Add(d)
	for time.Now().Before(deadline) {
		if cond() {
			return true
		}
		time.Sleep(20 * time.Millisecond)
	}
	return cond()
}

// sharedRedisArgs are the settings of replicas sharing one Redis store: one
// issuer, prefix, KEK and admin token.
func sharedRedisArgs(t *testing.T) []string {
	t.Helper()
	rdb := redistest.Client(t)
	kek := make([]byte, 32)
	rand.Read(kek)
	return []string{"--store", "redis", "--redis-url", redistest.URL(t), "--redis-prefix", redistest.Prefix(t, rdb),
		"--kek", base64.StdEncoding.EncodeToString(kek), "--admin-token", "replica-admin-token-0123456789",
		"--issuer", "http://127.0.0.1:8080"}
}

// fakeClock is a settable clock shared by replicas.
type fakeClock struct{ ns atomic.Int64 }

func newFakeClock(t time.Time) *fakeClock { c := &fakeClock{}; c.ns.Store(t.UnixNano()); return c }
func (c *fakeClock) Now() time.Time       { return time.Unix(0, c.ns.Load()) }
func (c *fakeClock) Add(d time.Duration)  { c.ns.Add(int64(d)) }
