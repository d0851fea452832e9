package users

import (
	"context"
	"log/slog"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/authd-dev/authd/oauth"
	"github.com/authd-dev/authd/store"
)

// memStore is a tiny in-memory UserStore with the store contract's
// semantics.
type memStore struct {
	mu    sync.Mutex
	users map[string]store.User
	err   error // returned by every call when set
	// afterGet, if set, runs after GetUser has read (outside the lock).
	afterGet func(id string)
}

var _ UserStore = (*memStore)(nil)

func newMemStore() *memStore { return &memStore{users: map[string]store.User{}} }

func cloneUser(u store.User) store.User {
	u.Roles = slices.Clone(u.Roles)
	return u
}

func (m *memStore) CreateUser(_ context.Context, u store.User) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.err != nil {
		return m.err
	}
	for _, o := range m.users {
		if o.ID == u.ID || o.Username == u.Username {
			return store.ErrExists
		}
	}
	m.users[u.ID] = cloneUser(u)
	return nil
}

func (m *memStore) GetUser(_ context.Context, id string) (store.User, error) {
	m.mu.Lock()
	err, hook := m.err, m.afterGet
	u, ok := m.users[id]
	m.mu.Unlock()
	if hook != nil {
		hook(id)
	}
	if err != nil {
		return store.User{}, err
	}
	if !ok {
		return store.User{}, store.ErrNotFound
	}
	return cloneUser(u), nil
}

func (m *memStore) GetUserByUsername(_ context.Context, username string) (store.User, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.err != nil {
		return store.User{}, m.err
	}
	for _, u := range m.users {
		if u.Username == username {
			return cloneUser(u), nil
		}
	}
	return store.User{}, store.ErrNotFound
}

func (m *memStore) ListUsers(context.Context) ([]store.User, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.err != nil {
		return nil, m.err
	}
	var out []store.User
	for _, u := range m.users {
		out = append(out, cloneUser(u))
	}
	slices.SortFunc(out, func(a, b store.User) int { return strings.Compare(a.Username, b.Username) })
	return out, nil
}

func (m *memStore) UpdateUser(_ context.Context, id string, update func(*store.User) error) (store.User, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.err != nil {
		return store.User{}, m.err
	}
	u, ok := m.users[id]
	if !ok {
		return store.User{}, store.ErrNotFound
	}
	next := cloneUser(u)
	if err := update(&next); err != nil {
		return store.User{}, err
	}
	next.ID, next.Username = u.ID, u.Username
	m.users[id] = cloneUser(next)
	return next, nil
}

func (m *memStore) DeleteUser(_ context.Context, id string) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.err != nil {
		return m.err
	}
	if _, ok := m.users[id]; !ok {
		return store.ErrNotFound
	}
	delete(m.users, id)
	return nil
}

// clock is a settable test clock.
type clock struct {
	mu  sync.Mutex
	now time.Time
}

func (c *clock) Now() time.Time { c.mu.Lock(); defer c.mu.Unlock(); return c.now }

func (c *clock) Add(d time.Duration) { c.mu.Lock(); c.now = c.now.Add(d); c.mu.Unlock() }

var (
	t0 = time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)
	// fast are argon2id parameters small enough for tests.
	fast  = Argon2id{Time: 1, MemoryKiB: 64, Threads: 1, KeyLen: 32, SaltLen: 16}
	quiet = slog.New(slog.DiscardHandler)
)

// newTestService returns a Service over st with the fast parameters, and
// counts its verifications.
func newTestService(t testing.TB, st *memStore, h Argon2id) (*Service, *clock, *[]string) {
	t.Helper()
	clk := &clock{now: t0}
	s, err := New(testConfig(st, &h, clk.Now))
	if err != nil {
		t.Fatal(err)
	}
	var verified []string
	var mu sync.Mutex
	inner := s.verify
	s.verify = func(phc, password string) (bool, bool, error) {
		mu.Lock()
		verified = append(verified, phc)
		mu.Unlock()
		return inner(phc, password)
	}
	return s, clk, &verified
}

// testConfig is a valid Config over st: a revoker that records, a throttle of 5 per minute, burst
// 10 per username and 20 per minute, burst 50 per address, in memory; a
// budget of 4 hashes, 2 per address.
func testConfig(st *memStore, h *Argon2id, now func() time.Time) Config {
	th, err := NewThrottle(ThrottleConfig{Store: newMemAttempts(), UsernamePerMinute: 5, UsernameBurst: 10, IPPerMinute: 20, IPBurst: 50})
	if err != nil {
		panic(err)
	}
	return Config{Store: st, Revoker: &fakeRevoker{}, Hasher: h, Throttle: th, HashMemoryKiB: 4 * int64(h.MemoryKiB), HashPerIP: 2, Now: now, Logger: quiet}
}

// memAttempts is an in-memory AttemptStore with the store contract's
// semantics (store.Bucket's GCRA under one lock).
type memAttempts struct {
	mu  sync.Mutex
	tat map[string]time.Time
	err error
}

func newMemAttempts() *memAttempts { return &memAttempts{tat: map[string]time.Time{}} }

func (m *memAttempts) TakeAttempt(_ context.Context, now time.Time, bs []store.Bucket) (time.Duration, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.err != nil {
		return 0, m.err
	}
	next := make([]time.Time, len(bs))
	var wait time.Duration
	for i, b := range bs {
		n, w, ok := b.Take(m.tat[b.Key], now)
		if !ok {
			wait = max(wait, w)
		}
		next[i] = n
	}
	if wait > 0 {
		return wait, nil
	}
	for i, b := range bs {
		m.tat[b.Key] = next[i]
	}
	return 0, nil
}

func (m *memAttempts) ReturnAttempt(_ context.Context, now time.Time, bs []store.Bucket) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.err != nil {
		return m.err
	}
	for _, b := range bs {
		if tat, ok := m.tat[b.Key]; ok {
			if n := b.Return(tat, now); n.IsZero() {
				delete(m.tat, b.Key)
			} else {
				m.tat[b.Key] = n
			}
		}
	}
	return nil
}

// wantOAuth fails unless err is an *oauth.Error with code and status.
func wantOAuth(t *testing.T, err error, code string, status int) {
	t.Helper()
	e := oauth.As(err)
	if e == nil || e.Code != code || e.Status != status {
		t.Fatalf("error = %v, want oauth %s/%d", err, code, status)
	}
}
