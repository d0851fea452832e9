package app_test

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"runtime"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	dto "github.com/prometheus/client_model/go"
	"github.com/spf13/pflag"

	"github.com/authd-dev/authd/internal/app"
	"github.com/authd-dev/authd/internal/config"
	"github.com/authd-dev/authd/internal/redistest"
	"github.com/authd-dev/authd/keys"
	"github.com/authd-dev/authd/oauth"
	"github.com/authd-dev/authd/store"
)

// startWrapped is start with app.Options of the test's choosing (a store
// wrapper) and every log line (debug and up) kept in logs as well as in
// the test log.
func startWrapped(t *testing.T, opts app.Options, logs *syncBuffer, args ...string) *instance {
	t.Helper()
	var w interface{ Write([]byte) (int, error) } = testWriter{t}
	if logs != nil {
		w = multiWriter{testWriter{t}, logs}
	}
	opts.Logger = slog.New(slog.NewTextHandler(w, &slog.HandlerOptions{Level: slog.LevelDebug}))
	opts.Argon2 = testArgon2
	return startApp(t, "", slog.LevelDebug, opts, args...)
}

type multiWriter []interface{ Write([]byte) (int, error) }

func (m multiWriter) Write(p []byte) (int, error) {
	for _, w := range m {
		w.Write(p)
	}
	return len(p), nil
}

// faultyStore fails chosen reads on demand: clientErr for GetClient,
// userErr for GetUserByUsername. A failure function of nil passes the
// call through.
type faultyStore struct {
	store.Store
	clientErr atomic.Pointer[func(ctx context.Context) error]
	userErr   atomic.Pointer[func(ctx context.Context) error]
	denyErr   atomic.Pointer[func(ctx context.Context) error]
}

func (s *faultyStore) Deny(ctx context.Context, d store.Denial) error {
	if f := s.denyErr.Load(); f != nil {
		return (*f)(ctx)
	}
	return s.Store.Deny(ctx, d)
}

func (s *faultyStore) GetClient(ctx context.Context, id string) (store.Client, error) {
	if f := s.clientErr.Load(); f != nil {
		return store.Client{}, (*f)(ctx)
	}
	return s.Store.GetClient(ctx, id)
}

func (s *faultyStore) GetUserByUsername(ctx context.Context, username string) (store.User, error) {
	if f := s.userErr.Load(); f != nil {
		return store.User{}, (*f)(ctx)
	}
	return s.Store.GetUserByUsername(ctx, username)
}

func failWith(err error) *func(context.Context) error {
	f := func(context.Context) error { return err }
	return &f
}

// authURL is an authorization request of client c.
func authURL(in *instance, clientID, redirect string) string {
	return in.Public.URL + "/oauth2/authorize?" + url.Values{"client_id": {clientID}, "response_type": {"code"},
		"redirect_uri": {redirect}, "scope": {"openid"}, "state": {"s1"}}.Encode()
}

// TestAuthorizeRedisOutageIs503Page stops Redis under a running authd in
// the middle of a browser sign-in: the authorization endpoint and the
// login form answer a 503 page with Retry-After (RFC 9110 §10.2.3), not a
// 500 and not "unknown client_id".
func TestAuthorizeRedisOutageIs503Page(t *testing.T) {
	srv := redistest.NewServer(t)
	in := start(t, "", "--store", "redis", "--redis-url", srv.URL(), "--redis-prefix", "authz-outage:", "--client-cache-ttl", "0")
	const redirect = "http://127.0.0.1:9999/callback"
	c := in.createClient(map[string]any{"grant_types": []string{"authorization_code"}, "redirect_uris": []string{redirect}, "scope": "openid"})
	in.createUser("uma", "password-of-uma")
	b := browser(t)
	resp, login := get(t, b, authURL(in, c.ClientID, redirect))
	if resp.StatusCode != 200 {
		t.Fatalf("login page before the outage: %d", resp.StatusCode)
	}

	srv.Stop()
	for name, do := range map[string]func() (*http.Response, string){
		"authorize": func() (*http.Response, string) { return get(t, b, authURL(in, c.ClientID, redirect)) },
		"login form": func() (*http.Response, string) {
			return post(t, b, in.Public.URL+"/oauth2/authorize/login", url.Values{"request": {formField(t, login)}, "username": {"uma"}, "password": {"password-of-uma"}})
		},
	} {
		resp, body := do()
		if resp.StatusCode != http.StatusServiceUnavailable {
			t.Errorf("%s during the outage: %d; want 503\n%s", name, resp.StatusCode, body)
		}
		if resp.Header.Get("Retry-After") == "" {
			t.Errorf("%s: no Retry-After", name)
		}
		if ct := resp.Header.Get("Content-Type"); !strings.HasPrefix(ct, "text/html") {
			t.Errorf("%s: Content-Type %q; want an HTML page", name, ct)
		}
		if strings.Contains(body, "unknown client_id") {
			t.Errorf("%s: an outage was shown as an unknown client", name)
		}
	}
}

// TestAuthorizeClientLookupErrors: only a missing client is "unknown
// client_id"; any other failure to read the client is a server error
// (500 page), on the authorization endpoint and on the login form alike.
func TestAuthorizeClientLookupErrors(t *testing.T) {
	fs := &faultyStore{}
	in := startWrapped(t, app.Options{WrapStore: func(s store.Store) store.Store { fs.Store = s; return fs }}, nil, "--client-cache-ttl", "0")
	const redirect = "http://127.0.0.1:9999/callback"
	c := in.createClient(map[string]any{"grant_types": []string{"authorization_code"}, "redirect_uris": []string{redirect}, "scope": "openid"})
	in.createUser("ulla", "password-of-ulla")
	b := browser(t)
	resp, login := get(t, b, authURL(in, c.ClientID, redirect))
	if resp.StatusCode != 200 {
		t.Fatalf("login page: %d", resp.StatusCode)
	}
	loginForm := func() (*http.Response, string) {
		return post(t, b, in.Public.URL+"/oauth2/authorize/login", url.Values{"request": {formField(t, login)}, "username": {"ulla"}, "password": {"password-of-ulla"}})
	}
	authorize := func() (*http.Response, string) { return get(t, b, authURL(in, c.ClientID, redirect)) }

	cases := []struct {
		name       string
		err        error
		wantStatus int
		wantText   string
	}{
		{"not found", fmt.Errorf("bolt: get client: %w", store.ErrNotFound), 400, "unknown client_id"},
		{"broken store", errors.New("bolt: get client: page checksum mismatch"), 500, "internal error"},
		{"unavailable", fmt.Errorf("bolt: get client: %w", store.ErrUnavailable), 503, "temporarily unavailable"},
	}
	for _, tc := range cases {
		fs.clientErr.Store(failWith(tc.err))
		for step, do := range map[string]func() (*http.Response, string){"authorize": authorize, "login form": loginForm} {
			resp, body := do()
			if resp.StatusCode != tc.wantStatus || !strings.Contains(body, tc.wantText) {
				t.Errorf("%s, %s: %d; want %d %q\n%s", tc.name, step, resp.StatusCode, tc.wantStatus, tc.wantText, body)
			}
			if tc.wantStatus != 400 && strings.Contains(body, "unknown client_id") {
				t.Errorf("%s, %s: a store failure was shown as an unknown client", tc.name, step)
			}
			if resp.Header.Get("Location") != "" {
				t.Errorf("%s, %s: redirected (%s) although the client could not be read", tc.name, step, resp.Header.Get("Location"))
			}
		}
	}
	fs.clientErr.Store(nil)
	if resp, _ := loginForm(); resp.StatusCode != 200 {
		t.Errorf("after the store recovers, the login form answers %d; want the consent page", resp.StatusCode)
	}
}

// requestsByCode reads authd_http_requests_total of one route by code.
func requestsByCode(t *testing.T, in *instance, route string) map[string]float64 {
	t.Helper()
	mfs, err := in.App.Registry.Gather()
	if err != nil {
		t.Fatal(err)
	}
	out := map[string]float64{}
	for _, mf := range mfs {
		if mf.GetName() != "authd_http_requests_total" {
			continue
		}
		for _, m := range mf.GetMetric() {
			if label(m, "route") == route {
				out[label(m, "code")] += m.GetCounter().GetValue()
			}
		}
	}
	return out
}

func label(m *dto.Metric, name string) string {
	for _, l := range m.GetLabel() {
		if l.GetName() == name {
			return l.GetValue()
		}
	}
	return ""
}

// TestClientCancellationIsNotAServerError: a client that disconnects while
// authd waits on the store (a load generator stopping, a browser closing)
// is counted as 499 and logged as the client's cancellation, never as a
// 500 or an ERROR line, on the token endpoint and the authorization
// endpoint.
func TestClientCancellationIsNotAServerError(t *testing.T) {
	fs := &faultyStore{}
	logs := &syncBuffer{}
	in := startWrapped(t, app.Options{WrapStore: func(s store.Store) store.Store { fs.Store = s; return fs }}, logs, "--client-cache-ttl", "0")
	const redirect = "http://127.0.0.1:9999/callback"
	c := in.createClient(map[string]any{"grant_types": []string{"authorization_code", "password"}, "redirect_uris": []string{redirect}, "scope": "openid"})
	in.createUser("ursula", "password-of-ursula")

	entered := make(chan struct{}, 1)
	block := func(ctx context.Context) error { // waits for the client to go away, as a slow store would
		entered <- struct{}{}
		select {
		case <-ctx.Done():
			return fmt.Errorf("store: %w", ctx.Err())
		case <-time.After(10 * time.Second):
			return errors.New("the request's context was never cancelled")
		}
	}
	steps := []struct {
		route string
		arm   func()
		req   func(ctx context.Context) *http.Request
	}{
		{"token", func() { fs.userErr.Store(&block) }, func(ctx context.Context) *http.Request {
			form := url.Values{"grant_type": {"password"}, "username": {"ursula"}, "password": {"password-of-ursula"}}
			r, _ := http.NewRequestWithContext(ctx, http.MethodPost, in.Public.URL+"/oauth2/token", strings.NewReader(form.Encode()))
			r.Header.Set("Content-Type", "application/x-www-form-urlencoded")
			r.SetBasicAuth(url.QueryEscape(c.ClientID), url.QueryEscape(c.ClientSecret))
			return r
		}},
		{"authorize", func() { fs.clientErr.Store(&block) }, func(ctx context.Context) *http.Request {
			r, _ := http.NewRequestWithContext(ctx, http.MethodGet, authURL(in, c.ClientID, redirect), nil)
			return r
		}},
	}
	for _, st := range steps {
		t.Run(st.route, func(t *testing.T) {
			st.arm()
			defer fs.userErr.Store(nil)
			defer fs.clientErr.Store(nil)
			ctx, cancel := context.WithCancel(context.Background())
			done := make(chan error, 1)
			go func() {
				resp, err := http.DefaultClient.Do(st.req(ctx))
				if err == nil {
					resp.Body.Close()
				}
				done <- err
			}()
			select {
			case <-entered:
			case <-time.After(10 * time.Second):
				t.Fatal("the request never reached the store")
			}
			cancel()
			select {
			case err := <-done:
				if !errors.Is(err, context.Canceled) {
					t.Fatalf("client: %v; want its own cancellation", err)
				}
			case <-time.After(10 * time.Second):
				t.Fatal("the client never returned")
			}
			if !eventually(t, 5*time.Second, func() bool { return requestsByCode(t, in, st.route)["499"] == 1 }) {
				t.Fatalf("requests of route %s by code: %v; want one 499", st.route, requestsByCode(t, in, st.route))
			}
			if n := requestsByCode(t, in, st.route)["500"]; n != 0 {
				t.Errorf("%v cancelled requests counted as 500", n)
			}
		})
	}
	if strings.Contains(logs.String(), "level=ERROR") {
		t.Errorf("a client's cancellation was logged as an error:\n%s", logs.String())
	}
	if !strings.Contains(logs.String(), "client cancelled the request") {
		t.Errorf("the cancellation was not logged as the client's:\n%s", logs.String())
	}
}

// logLines returns the lines of logs that contain every one of subs.
func logLines(logs *syncBuffer, subs ...string) []string {
	var out []string
	for _, l := range strings.Split(logs.String(), "\n") {
		all := true
		for _, s := range subs {
			all = all && strings.Contains(l, s)
		}
		if all {
			out = append(out, l)
		}
	}
	return out
}

// TestRequestIDReachesDomainLogLines: the request id (the caller's
// X-Request-Id, or one authd made) is on every line a request logs, the
// domain packages' lines included, not only on the access-log line.
func TestRequestIDReachesDomainLogLines(t *testing.T) {
	fs := &faultyStore{}
	logs := &syncBuffer{}
	in := startWrapped(t, app.Options{WrapStore: func(s store.Store) store.Store { fs.Store = s; return fs }}, logs)

	body := strings.NewReader(`{"client_name":"rid","grant_types":["password"]}`)
	req, _ := http.NewRequest(http.MethodPost, in.Admin.URL+"/admin/clients", body)
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("Authorization", "Bearer "+in.App.Config.AdminToken)
	req.Header.Set("X-Request-Id", "rid-adapter-1")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	var c registeredClient
	json.NewDecoder(resp.Body).Decode(&c)
	resp.Body.Close()
	if resp.StatusCode != http.StatusCreated {
		t.Fatalf("create client: %d", resp.StatusCode)
	}
	if got := logLines(logs, "client registered"); len(got) != 1 || !strings.Contains(got[0], "request_id=rid-adapter-1") {
		t.Errorf("the clients package's line of the request lacks its id: %q", got)
	}

	fs.userErr.Store(failWith(fmt.Errorf("redis get user: %w", store.ErrUnavailable)))
	form := url.Values{"grant_type": {"password"}, "username": {"ursula"}, "password": {"pw-of-ursula"}}
	req, _ = http.NewRequest(http.MethodPost, in.Public.URL+"/oauth2/token", strings.NewReader(form.Encode()))
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	req.SetBasicAuth(url.QueryEscape(c.ClientID), url.QueryEscape(c.ClientSecret))
	resp, err = http.DefaultClient.Do(req) // no X-Request-Id: authd makes one
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	id := resp.Header.Get("X-Request-Id")
	if resp.StatusCode != http.StatusServiceUnavailable || id == "" {
		t.Fatalf("token during the outage: %d, X-Request-Id %q", resp.StatusCode, id)
	}
	lines := logLines(logs, "redis get user")
	if len(lines) == 0 {
		t.Fatalf("the store failure was not logged:\n%s", logs.String())
	}
	for _, l := range lines {
		if !strings.Contains(l, "request_id="+id) {
			t.Errorf("a line of the request lacks its id %s: %s", id, l)
		}
	}
	if got := logLines(logs, "msg=request ", "route=token", "request_id="+id); len(got) != 1 {
		t.Errorf("access-log lines of the request: %q; want one with its id", got)
	}
}

// TestRunOwnsEveryBackgroundLoop: App.Run returns only once every
// background loop it started (key rotation, the revocation feed) has
// stopped; none is left running behind it.
func TestRunOwnsEveryBackgroundLoop(t *testing.T) {
	running := func() bool {
		s := stacks()
		return strings.Contains(s, "feed.(*Hub).Run") || strings.Contains(s, "keys.(*Manager).Run")
	}
	// Earlier tests' instances stop asynchronously (their harness does not
	// wait for Run); let them finish first.
	if !eventually(t, 10*time.Second, func() bool { return !running() }) {
		t.Fatalf("loops of earlier tests still running:\n%s", stacks())
	}
	cfg := loadConfig(t, "--dev", "--data-dir", t.TempDir(), "--log-level", "warn")
	a, err := app.New(context.Background(), cfg, app.Options{Logger: slog.New(slog.NewTextHandler(testWriter{t}, nil)), Argon2: testArgon2})
	if err != nil {
		t.Fatal(err)
	}
	defer a.Close()
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- a.Run(ctx) }()
	if !eventually(t, 5*time.Second, func() bool {
		s := stacks()
		return strings.Contains(s, "feed.(*Hub).Run") && strings.Contains(s, "keys.(*Manager).Run")
	}) {
		t.Fatalf("the background loops did not start:\n%s", stacks())
	}
	cancel()
	select {
	case err := <-done:
		if err != nil {
			t.Fatalf("Run: %v", err)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("Run did not return after its context ended")
	}
	if running() {
		t.Errorf("a background loop outlived Run:\n%s", stacks())
	}
}

// stacks is every goroutine's stack.
func stacks() string {
	buf := make([]byte, 1<<20)
	return string(buf[:runtime.Stack(buf, true)])
}

// TestAdminDeleteRevokesFirst: deleting a user or a client revokes its
// access tokens before it deletes, so a failed revocation (503) leaves the
// record in place and the operator's retry does the whole job, instead of
// a deleted user whose tokens stay active and a retry that answers 404.
func TestAdminDeleteRevokesFirst(t *testing.T) {
	fs := &faultyStore{}
	in := startWrapped(t, app.Options{WrapStore: func(s store.Store) store.Store { fs.Store = s; return fs }}, nil)
	rs := in.createClient(map[string]any{"client_name": "resource server", "grant_types": []string{"client_credentials"}})
	c := loginClient(in)
	u := in.createUser("vera", "password-of-vera")
	userTok := password(in, c, "vera", "password-of-vera")
	clientTok := in.token(rs.ClientID, rs.ClientSecret, url.Values{"grant_type": {"client_credentials"}})
	other := in.createClient(map[string]any{"client_name": "doomed", "grant_types": []string{"client_credentials"}})
	otherTok := in.token(other.ClientID, other.ClientSecret, url.Values{"grant_type": {"client_credentials"}})
	if userTok.Status != 200 || clientTok.Status != 200 || otherTok.Status != 200 {
		t.Fatalf("tokens: %d %d %d", userTok.Status, clientTok.Status, otherTok.Status)
	}
	time.Sleep(1100 * time.Millisecond) // revocation watermarks have one-second resolution

	for _, tc := range []struct {
		name, path string
		token      string
	}{
		{"user", "/admin/users/" + u.ID, userTok.AccessToken},
		{"client", "/admin/clients/" + other.ClientID, otherTok.AccessToken},
	} {
		t.Run(tc.name, func(t *testing.T) {
			fs.denyErr.Store(failWith(fmt.Errorf("redis deny: %w", store.ErrUnavailable)))
			if st := rawAdmin(t, in, http.MethodDelete, tc.path); st != http.StatusServiceUnavailable {
				t.Fatalf("delete while revocation fails: %d; want 503", st)
			}
			if st := in.admin(http.MethodGet, tc.path, nil, nil); st != http.StatusOK {
				t.Fatalf("after the failed delete, GET %s: %d; want the record still there", tc.path, st)
			}
			fs.denyErr.Store(nil)
			if st := in.admin(http.MethodDelete, tc.path, nil, nil); st != http.StatusNoContent {
				t.Fatalf("the retry: %d; want 204", st)
			}
			if st := in.admin(http.MethodGet, tc.path, nil, nil); st != http.StatusNotFound {
				t.Errorf("after the retry, GET: %d; want 404", st)
			}
			if got := in.introspect(rs, tc.token); got.Active {
				t.Errorf("the %s's access token is still active after its deletion", tc.name)
			}
		})
	}
}

// rawAdmin calls the admin API and returns the status, a 5xx included.
func rawAdmin(t *testing.T, in *instance, method, path string) int {
	t.Helper()
	req, _ := http.NewRequest(method, in.Admin.URL+path, nil)
	req.Header.Set("Authorization", "Bearer "+in.App.Config.AdminToken)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	return resp.StatusCode
}

// TestDiscoveryDerivesFromTheVocabulary: discovery lists exactly what
// package oauth and keys.Algorithms declare, so a new algorithm or method
// cannot be implemented without being advertised, or the other way round.
func TestDiscoveryDerivesFromTheVocabulary(t *testing.T) {
	in := start(t, "")
	resp, body := get(t, http.DefaultClient, in.Public.URL+"/.well-known/openid-configuration")
	if resp.StatusCode != 200 {
		t.Fatalf("discovery: %d", resp.StatusCode)
	}
	var doc map[string]any
	if err := json.Unmarshal([]byte(body), &doc); err != nil {
		t.Fatal(err)
	}
	list := func(name string) []string {
		var out []string
		for _, v := range doc[name].([]any) {
			out = append(out, v.(string))
		}
		return out
	}
	for name, want := range map[string][]string{
		"grant_types_supported":                            oauth.GrantTypes(),
		"token_endpoint_auth_methods_supported":            oauth.AuthMethods(),
		"token_endpoint_auth_signing_alg_values_supported": {"RS256", "ES256", "HS256"}, // private_key_jwt, client_secret_jwt
		"id_token_signing_alg_values_supported":            keys.Algorithms(),
		"revocation_endpoint_auth_methods_supported":       oauth.ConfidentialAuthMethods(),
		"introspection_endpoint_auth_methods_supported":    oauth.ConfidentialAuthMethods(),
		"scopes_supported":                                 oauth.Scopes(),
		"claims_supported":                                 oauth.Claims(),
		"acr_values_supported":                             oauth.ACRValues(),
		"code_challenge_methods_supported":                 {oauth.PKCEMethodS256},
		"response_types_supported":                         {oauth.ResponseTypeCode},
	} {
		if got := list(name); !slices.Equal(got, want) {
			t.Errorf("%s = %v; want %v", name, got, want)
		}
	}
}

// memoryOptions are the options of a backend registered by a test.
type memoryOptions struct {
	Size  int
	Peers []string
}

// registerMemory registers the test backend once per test binary.
var registerMemory sync.Once

func registerMemoryBackend() {
	config.RegisterStore(config.StoreBackend{
		Name: "test-memory", Usage: "a test's", NewOptions: func() any { return &memoryOptions{} },
		Settings: []config.StoreSetting{
			{Name: "test-memory-size", Default: "8", Usage: "entries", Field: func(o any) any { return &o.(*memoryOptions).Size }},
			{Name: "test-memory-peers", Usage: "peers", Field: func(o any) any { return &o.(*memoryOptions).Peers }},
		},
		Validate: func(_ *config.Config, o any) error {
			if o.(*memoryOptions).Size <= 0 {
				return config.Invalid("test-memory-size", "must be positive")
			}
			return nil
		},
	})
}

// TestStoreBackendEntryCarriesItsSettings: a backend's settings and their
// validation come with its registry entry alone: registered once, its
// settings are flags, AUTHD_* variables and YAML keys like any other, its
// check runs when it is selected, and the selected backend's options are
// what the constructor gets.
func TestStoreBackendEntryCarriesItsSettings(t *testing.T) {
	registerMemory.Do(registerMemoryBackend)
	base := []string{"--dev", "--data-dir", t.TempDir()}
	load := func(env map[string]string, args ...string) (config.Config, error) {
		fs := pflag.NewFlagSet("serve", pflag.ContinueOnError)
		config.Register(fs)
		if err := fs.Parse(append(base, args...)); err != nil {
			return config.Config{}, err
		}
		return config.Load(fs, func(k string) string { return env[k] })
	}

	cfg, err := load(nil, "--store", "test-memory", "--test-memory-peers", "a", "--test-memory-peers", "b")
	if err != nil {
		t.Fatal(err)
	}
	if o, ok := cfg.StoreOptions().(*memoryOptions); !ok || o.Size != 8 || !slices.Equal(o.Peers, []string{"a", "b"}) {
		t.Errorf("options from flags and defaults: %+v", cfg.StoreOptions())
	}
	cfg, err = load(map[string]string{"AUTHD_STORE": "test-memory", "AUTHD_TEST_MEMORY_SIZE": "5"})
	if err != nil {
		t.Fatal(err)
	}
	if o := cfg.StoreOptions().(*memoryOptions); o.Size != 5 {
		t.Errorf("size from the environment: %d; want 5", o.Size)
	}
	file := filepath.Join(t.TempDir(), "authd.yaml")
	if err := os.WriteFile(file, []byte("store: test-memory\ntest-memory-size: 0\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	_, err = load(nil, "--config", file)
	var se *config.SettingError
	if !errors.As(err, &se) || se.Setting != "test-memory-size" || !strings.Contains(se.Source, "line 2") {
		t.Errorf("a bad value in the file: %v; want an error naming --test-memory-size and the file line", err)
	}
	if _, err := load(nil, "--store", "nosuch"); err == nil || !strings.Contains(err.Error(), "bolt, redis, test-memory") {
		t.Errorf("unknown store: %v; want the registered names", err)
	}
	if _, err := load(nil, "--test-memory-size", "0"); err != nil {
		t.Errorf("a backend's check ran although another backend is selected: %v", err)
	}
}
