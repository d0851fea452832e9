package clients

import (
	"context"
	"errors"
	"log/slog"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/authd-dev/authd/oauth"
	"github.com/authd-dev/authd/store"
)

// memStore is a tiny in-memory ClientStore with the store contract's
// semantics (copies in and out, ErrExists, ErrNotFound, update errors
// returned unchanged).
type memStore struct {
	mu      sync.Mutex
	clients map[string]store.Client
	gets    int
	// afterGet, if set, runs after GetClient has read a record and before
	// it returns it (outside the lock): a write can overlap the read there.
	afterGet func(id string)
}

var _ ClientStore = (*memStore)(nil)

func newMemStore() *memStore { return &memStore{clients: map[string]store.Client{}} }

func clone(c store.Client) store.Client {
	c.SecretDigest = slices.Clone(c.SecretDigest)
	c.GrantTypes = slices.Clone(c.GrantTypes)
	c.RedirectURIs = slices.Clone(c.RedirectURIs)
	c.PostLogoutRedirectURIs = slices.Clone(c.PostLogoutRedirectURIs)
	c.JWKS = slices.Clone(c.JWKS)
	c.Audience = slices.Clone(c.Audience)
	return c
}

func (m *memStore) CreateClient(_ context.Context, c store.Client) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	if _, ok := m.clients[c.ID]; ok {
		return store.ErrExists
	}
	m.clients[c.ID] = clone(c)
	return nil
}

func (m *memStore) GetClient(_ context.Context, id string) (store.Client, error) {
	m.mu.Lock()
	m.gets++
	c, ok := m.clients[id]
	c = clone(c)
	hook := m.afterGet
	m.mu.Unlock()
	if !ok {
		return store.Client{}, store.ErrNotFound
	}
	if hook != nil {
		hook(id)
	}
	return c, nil
}

func (m *memStore) ListClients(context.Context) ([]store.Client, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	var out []store.Client
	for _, c := range m.clients {
		out = append(out, clone(c))
	}
	slices.SortFunc(out, func(a, b store.Client) int { return strings.Compare(a.ID, b.ID) })
	return out, nil
}

func (m *memStore) UpdateClient(_ context.Context, id string, update func(*store.Client) error) (store.Client, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	c, ok := m.clients[id]
	if !ok {
		return store.Client{}, store.ErrNotFound
	}
	c = clone(c)
	if err := update(&c); err != nil {
		return store.Client{}, err
	}
	c.ID = id
	m.clients[id] = clone(c)
	return clone(c), nil
}

func (m *memStore) DeleteClient(_ context.Context, id string) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	if _, ok := m.clients[id]; !ok {
		return store.ErrNotFound
	}
	delete(m.clients, id)
	return nil
}

// memReplay is an in-memory store.ReplayCache judged by its clock.
type memReplay struct {
	mu   sync.Mutex
	now  func() time.Time
	used map[string]time.Time
}

func newMemReplay(now func() time.Time) *memReplay {
	return &memReplay{now: now, used: map[string]time.Time{}}
}

func (m *memReplay) MarkUsed(_ context.Context, key string, exp time.Time) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	now := m.now()
	if !exp.After(now) {
		return errors.New("memReplay: expiry in the past")
	}
	if e, ok := m.used[key]; ok && now.Before(e) {
		return store.ErrExists
	}
	m.used[key] = exp
	return nil
}

var (
	testKey = []byte("0123456789abcdef0123456789abcdef")
	t0      = time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)
)

// clock is a settable test clock.
type clock struct {
	mu  sync.Mutex
	now time.Time
}

func (c *clock) Now() time.Time { c.mu.Lock(); defer c.mu.Unlock(); return c.now }

func (c *clock) Add(d time.Duration) { c.mu.Lock(); c.now = c.now.Add(d); c.mu.Unlock() }

// quiet discards logs.
var quiet = slog.New(slog.DiscardHandler)

const (
	testIssuer        = "https://authd.example"
	testTokenEndpoint = "https://authd.example/token"
)

func newTestRegistry(t testing.TB) (*Registry, *memStore, *clock) {
	t.Helper()
	st, clk := newMemStore(), &clock{now: t0}
	r, err := NewRegistry(Config{Store: st, SecretKey: testKey, Now: clk.Now, Logger: quiet, Issuer: testIssuer, TokenEndpoint: testTokenEndpoint, Replay: newMemReplay(clk.Now)})
	if err != nil {
		t.Fatal(err)
	}
	return r, st, clk
}

// wantOAuth fails unless err is an *oauth.Error with code and status.
func wantOAuth(t *testing.T, err error, code string, status int) *oauth.Error {
	t.Helper()
	e := oauth.As(err)
	if e == nil {
		t.Fatalf("error = %v, want oauth %s", err, code)
	}
	if e.Code != code || e.Status != status {
		t.Fatalf("error = %s/%d (%v), want %s/%d", e.Code, e.Status, e, code, status)
	}
	return e
}
