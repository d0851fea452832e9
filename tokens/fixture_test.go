package tokens

import (
	"bytes"
	"context"
	"crypto/sha256"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/url"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/authd-dev/authd/internal/redistest"
	"github.com/authd-dev/authd/oauth"
	"github.com/authd-dev/authd/store"
	"github.com/authd-dev/authd/store/bolt"
	"github.com/authd-dev/authd/store/redis"
)

// The per-grant tests run the real Service over a real store (bbolt, and
// Redis under a unique prefix), the real key manager and an in-memory
// user directory; faultyStore and flakySigner inject failures into given
// calls.

var errInjected = fmt.Errorf("injected failure: %w", store.ErrUnavailable)

// testClock is a settable clock shared by the service and the store.
type testClock struct {
	mu  sync.Mutex
	now time.Time
}

func (c *testClock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.now
}

func (c *testClock) Add(d time.Duration) {
	c.mu.Lock()
	c.now = c.now.Add(d)
	c.mu.Unlock()
}

// backingStore is what the fixture needs of a backend.
type backingStore interface {
	Families
	DenyWriter
	DenyReader
}

// faultyStore passes every call to a real store, except that the next n
// calls of a named method fail with store.ErrUnavailable (fail(name, n)).
type faultyStore struct {
	inner backingStore
	mu    sync.Mutex
	fails map[string]int
	calls map[string]int
}

func (f *faultyStore) fail(method string, n int) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.fails[method] = n
}

func (f *faultyStore) count(method string) int {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.calls[method]
}

func (f *faultyStore) trip(method string) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.calls[method]++
	if f.fails[method] > 0 {
		f.fails[method]--
		return fmt.Errorf("%s: %w", method, errInjected)
	}
	return nil
}

func (f *faultyStore) CreateFamily(ctx context.Context, fam store.Family) error {
	if err := f.trip("CreateFamily"); err != nil {
		return err
	}
	return f.inner.CreateFamily(ctx, fam)
}

func (f *faultyStore) GetFamily(ctx context.Context, id string) (store.Family, error) {
	if err := f.trip("GetFamily"); err != nil {
		return store.Family{}, err
	}
	return f.inner.GetFamily(ctx, id)
}

func (f *faultyStore) RotateRefresh(ctx context.Context, r store.Rotation) (store.RotateResult, error) {
	if err := f.trip("RotateRefresh"); err != nil {
		return store.RotateResult{}, err
	}
	return f.inner.RotateRefresh(ctx, r)
}

func (f *faultyStore) RevokeFamily(ctx context.Context, id string) error {
	if err := f.trip("RevokeFamily"); err != nil {
		return err
	}
	return f.inner.RevokeFamily(ctx, id)
}

func (f *faultyStore) Deny(ctx context.Context, d store.Denial) error {
	if err := f.trip("Deny"); err != nil {
		return err
	}
	return f.inner.Deny(ctx, d)
}

func (f *faultyStore) DenyState(ctx context.Context, q store.DenyQuery) (store.DenyState, error) {
	if err := f.trip("DenyState"); err != nil {
		return store.DenyState{}, err
	}
	return f.inner.DenyState(ctx, q)
}

// flakySigner is the real key manager, except that the next n Sign calls
// fail.
type flakySigner struct {
	Signer
	mu    sync.Mutex
	fails int
}

func (s *flakySigner) failNext(n int) {
	s.mu.Lock()
	s.fails = n
	s.mu.Unlock()
}

func (s *flakySigner) Sign(alg, typ string, payload []byte) (string, string, error) {
	s.mu.Lock()
	fail := s.fails > 0
	if fail {
		s.fails--
	}
	s.mu.Unlock()
	if fail {
		return "", "", errors.New("injected signing failure")
	}
	return s.Signer.Sign(alg, typ, payload)
}

// memUsers is a user directory; lookups can be made to fail.
type memUsers struct {
	mu         sync.Mutex
	users      map[string]store.User
	lookupFail int
}

func (m *memUsers) put(u store.User) {
	m.mu.Lock()
	m.users[u.ID] = u
	m.mu.Unlock()
}

func (m *memUsers) update(id string, f func(*store.User)) {
	m.mu.Lock()
	u := m.users[id]
	f(&u)
	m.users[id] = u
	m.mu.Unlock()
}

func (m *memUsers) remove(id string) {
	m.mu.Lock()
	delete(m.users, id)
	m.mu.Unlock()
}

func (m *memUsers) Login(_ context.Context, username, password, _ string) (store.User, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	for _, u := range m.users {
		if u.Username == username && u.PasswordHash == "plain:"+password {
			return u, nil
		}
	}
	return store.User{}, oauth.New(oauth.InvalidGrant, "invalid username or password")
}

func (m *memUsers) Lookup(_ context.Context, id string) (store.User, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.lookupFail > 0 {
		m.lookupFail--
		return store.User{}, fmt.Errorf("lookup: %w", errInjected)
	}
	u, ok := m.users[id]
	if !ok {
		return store.User{}, fmt.Errorf("user %s: %w", id, store.ErrNotFound)
	}
	return u, nil
}

const testIssuer = "https://issuer.example"

type fixture struct {
	t      *testing.T
	svc    *Service
	st     *faultyStore
	users  *memUsers
	signer *flakySigner
	clock  *testClock
	mu     sync.Mutex
	events []SecurityEvent
}

// forEachBackend runs f against bbolt and Redis.
func forEachBackend(t *testing.T, f func(t *testing.T, open func(t *testing.T, clk *testClock) backingStore)) {
	t.Run("bolt", func(t *testing.T) { f(t, openBolt) })
	t.Run("redis", func(t *testing.T) { f(t, openRedis) })
}

func openBolt(t *testing.T, clk *testClock) backingStore {
	t.Helper()
	st, err := bolt.Open(filepath.Join(t.TempDir(), "authd.db"), bolt.Options{Now: clk.Now, SweepInterval: -1})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	return st
}

func openRedis(t *testing.T, clk *testClock) backingStore {
	t.Helper()
	rdb := redistest.Client(t)
	st, err := redis.Open(context.Background(), redis.Options{URL: redistest.URL(t), Prefix: redistest.Prefix(t, rdb), Now: clk.Now,
		Logger: slog.New(slog.DiscardHandler)})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	return st
}

// testConfig is a valid Config as internal/config would fill it.
func testConfig() Config {
	return Config{
		Issuer:                  testIssuer,
		DefaultAudience:         []string{testIssuer},
		DefaultAlg:              "RS256",
		AccessTokenTTL:          15 * time.Minute,
		IDTokenTTL:              time.Hour,
		RefreshTokenTTL:         72 * time.Hour,
		RefreshTokenMaxLifetime: 720 * time.Hour,
		RefreshReuseMaxRetries:  3,
		RefreshMACKeys:          [][]byte{bytes.Repeat([]byte{1}, 32)},
		CodeKey:                 bytes.Repeat([]byte{2}, 32),
		Logger:                  slog.New(slog.NewTextHandler(io.Discard, nil)),
	}
}

func newFixture(t *testing.T, backing backingStore, clk *testClock, mod func(*Config)) *fixture {
	t.Helper()
	km, err := benchManager()
	if err != nil {
		t.Fatal(err)
	}
	f := &fixture{t: t, clock: clk, users: &memUsers{users: map[string]store.User{}},
		st: &faultyStore{inner: backing, fails: map[string]int{}, calls: map[string]int{}}, signer: &flakySigner{Signer: km}}
	cfg := testConfig()
	cfg.Signer, cfg.Families, cfg.Deny, cfg.DenyReader, cfg.Verifier, cfg.Users = f.signer, f.st, f.st, f.st, km, f.users
	cfg.Now = clk.Now
	cfg.OnSecurityEvent = func(ev SecurityEvent) {
		f.mu.Lock()
		f.events = append(f.events, ev)
		f.mu.Unlock()
	}
	if mod != nil {
		mod(&cfg)
	}
	if f.svc, err = New(cfg); err != nil {
		t.Fatal(err)
	}
	return f
}

func (f *fixture) reuseEvents() int {
	f.mu.Lock()
	defer f.mu.Unlock()
	return len(f.events)
}

// clients of the tests.
func (f *fixture) webClient() store.Client {
	return store.Client{ID: "web", GrantTypes: []string{GrantAuthorizationCode, GrantRefreshToken, GrantPassword},
		RedirectURIs: []string{"https://app.example/cb", "https://app.example/other"}, Scope: "openid profile read write",
		Audience: []string{"https://api.example", "https://other.example"}, TokenEndpointAuthMethod: "client_secret_basic",
		IssuedAt: f.clock.Now().Add(-time.Hour)}
}

func (f *fixture) publicClient() store.Client {
	return store.Client{ID: "spa", GrantTypes: []string{GrantAuthorizationCode, GrantRefreshToken},
		RedirectURIs: []string{"https://spa.example/cb"}, Scope: "openid read", TokenEndpointAuthMethod: "none",
		IssuedAt: f.clock.Now().Add(-time.Hour)}
}

func (f *fixture) addUser(id string) store.User {
	u := store.User{ID: id, Username: id, PasswordHash: "plain:pw-" + id, Roles: []string{"member"}}
	f.users.put(u)
	return u
}

// token runs a token request.
func (f *fixture) token(c store.Client, form url.Values) (*Response, error) {
	return f.svc.Token(context.Background(), &Request{Client: c, Form: form, RemoteIP: "192.0.2.1"})
}

// authorize validates q for c, signs user in and issues a code.
func (f *fixture) code(c store.Client, q url.Values, user string) string {
	f.t.Helper()
	q.Set("client_id", c.ID)
	q.Set("response_type", "code")
	req, err := f.svc.ValidateAuthorize(c, q)
	if err != nil {
		f.t.Fatalf("ValidateAuthorize: %v", err)
	}
	req.Subject, req.AuthTime = user, f.clock.Now().Unix()
	code, err := f.svc.IssueCode(context.Background(), c, req)
	if err != nil {
		f.t.Fatalf("IssueCode: %v", err)
	}
	return code
}

// introspect returns whether token is active for c.
func (f *fixture) active(c store.Client, token string) bool {
	f.t.Helper()
	in, err := f.svc.Introspect(context.Background(), c, token, "")
	if err != nil {
		f.t.Fatalf("introspect: %v", err)
	}
	return in.Active
}

// oauthCode is the OAuth error code of err ("" for nil or another error).
func oauthCode(err error) string {
	if e := oauth.As(err); e != nil {
		return e.Code
	}
	if err != nil {
		return "non-oauth: " + err.Error()
	}
	return ""
}

// verifierFor returns a PKCE verifier and its S256 challenge (RFC 7636
// §4.1, §4.2).
func verifierFor(seed string) (verifier, challenge string) {
	verifier = strings.Repeat(seed, 43/len(seed)+1)[:43]
	sum := sha256.Sum256([]byte(verifier))
	return verifier, b64.EncodeToString(sum[:])
}

// claims returns the verified claims of an access token.
func (f *fixture) claims(tok string) AccessClaims {
	f.t.Helper()
	c, ok := f.svc.verifyAccess(tok)
	if !ok {
		f.t.Fatalf("not an access token of ours: %q", tok)
	}
	return c
}
