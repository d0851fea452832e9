package users

import (
	"context"
	"errors"
	"fmt"
	"math"
	"sync"

	"github.com/prometheus/client_golang/prometheus"
	"golang.org/x/sync/semaphore"

	"github.com/authd-dev/authd/oauth"
	"github.com/authd-dev/authd/store"
)

// errBusy is what authenticate returns when the hashing budget (or the
// address's share of it) is in use and nothing was checked; Login turns
// it into temporarily_unavailable.
var errBusy = errors.New("users: password hashing is at capacity")

// hashSlots bounds the memory of concurrent password hashes with a
// weighted semaphore: each hash weighs its argon2id memory (KiB), the
// whole budget is Config.HashMemoryKiB, and one client address may hold
// at most Config.HashPerIP hashes at once.
type hashSlots struct {
	sem    *semaphore.Weighted
	budget int64
	perIP  int
	mu     sync.Mutex
	byIP   map[string]int // addresses with hashes in flight only
	inUse  prometheus.Gauge
}

func newHashSlots(budgetKiB int64, perIP int, inUse prometheus.Gauge) *hashSlots {
	return &hashSlots{sem: semaphore.NewWeighted(budgetKiB), budget: budgetKiB, perIP: perIP, byIP: map[string]int{}, inUse: inUse}
}

// weight is what a hash of memKiB weighs: its memory, at most the whole
// budget (so that a stored hash with a huge m can still run, alone).
func (h *hashSlots) weight(memKiB uint32) int64 { return min(int64(memKiB), h.budget) }

// tryAcquire takes a slot of memKiB for ip without waiting; false when the
// budget or ip's share is in use. release gives it back.
func (h *hashSlots) tryAcquire(ip string, memKiB uint32) (release func(), ok bool) {
	key := ipKey(ip)
	if key != "" {
		h.mu.Lock()
		if h.byIP[key] >= h.perIP {
			h.mu.Unlock()
			return nil, false
		}
		h.byIP[key]++
		h.mu.Unlock()
	}
	w := h.weight(memKiB)
	if !h.sem.TryAcquire(w) {
		h.forget(key)
		return nil, false
	}
	h.inUse.Add(float64(w) * 1024)
	return func() {
		h.inUse.Sub(float64(w) * 1024)
		h.sem.Release(w)
		h.forget(key)
	}, true
}

// acquire waits (until ctx ends) for a slot of memKiB: for the admin API,
// whose hashes must not be refused but still fit the budget.
func (h *hashSlots) acquire(ctx context.Context, memKiB uint32) (release func(), err error) {
	w := h.weight(memKiB)
	if err := h.sem.Acquire(ctx, w); err != nil {
		return nil, err
	}
	h.inUse.Add(float64(w) * 1024)
	return func() { h.inUse.Sub(float64(w) * 1024); h.sem.Release(w) }, nil
}

func (h *hashSlots) forget(key string) {
	if key == "" {
		return
	}
	h.mu.Lock()
	if h.byIP[key]--; h.byIP[key] <= 0 {
		delete(h.byIP, key)
	}
	h.mu.Unlock()
}

// loginMetrics count what Login did.
type loginMetrics struct {
	verifications prometheus.Counter
	throttled     prometheus.Counter
	busy          prometheus.Counter
	hashMemory    prometheus.Gauge
}

func newLoginMetrics(reg prometheus.Registerer) *loginMetrics {
	m := &loginMetrics{
		verifications: prometheus.NewCounter(prometheus.CounterOpts{Name: "authd_password_verifications_total",
			Help: "Password hashes verified by logins (unknown usernames included)."}),
		throttled: prometheus.NewCounter(prometheus.CounterOpts{Name: "authd_login_throttled_total",
			Help: "Logins refused by the throttle (slow_down) without checking the password."}),
		busy: prometheus.NewCounter(prometheus.CounterOpts{Name: "authd_password_hash_busy_total",
			Help: "Logins refused because the password-hashing memory budget was in use."}),
		hashMemory: prometheus.NewGauge(prometheus.GaugeOpts{Name: "authd_password_hash_memory_bytes",
			Help: "Memory of the password hashes running now (bounded by --password-hash-memory)."}),
	}
	if reg != nil {
		reg.MustRegister(m.verifications, m.throttled, m.busy, m.hashMemory)
	}
	return m
}

// Login checks a resource owner's password for the password grant and the
// login form, in this order: the throttle takes one attempt from the
// username's and the address's buckets (refused: slow_down, 429, with
// RetryAfter, and no hash is computed); a hashing slot is taken without
// waiting (none free: temporarily_unavailable, 503, RetryAfter 1); the
// password is verified; the attempt is given back when the login
// succeeds or the password was never checked. A wrong username and a
// wrong password get the same invalid_grant and cost the same. A store
// failure is returned wrapped (store.ErrUnavailable for an outage).
func (s *Service) Login(ctx context.Context, username, password, remoteIP string) (store.User, error) {
	buckets := s.cfg.Throttle.buckets(username, remoteIP)
	wait, err := s.cfg.Throttle.store.TakeAttempt(ctx, s.cfg.Now(), buckets)
	if err != nil {
		return store.User{}, fmt.Errorf("users: login throttle: %w", err)
	}
	if wait > 0 {
		s.metrics.throttled.Inc()
		e := oauth.New(oauth.SlowDown, "too many failed logins, retry later")
		e.RetryAfter = int(math.Ceil(wait.Seconds()))
		return store.User{}, e
	}
	u, err := s.authenticate(ctx, username, password, remoteIP)
	if !errors.Is(err, ErrInvalidCredentials) {
		// Success, or nothing was checked: the attempt is not spent.
		// A lost refund only costs the user one attempt.
		if rerr := s.cfg.Throttle.store.ReturnAttempt(context.WithoutCancel(ctx), s.cfg.Now(), buckets); rerr != nil {
			s.cfg.Logger.WarnContext(ctx, "login throttle refund failed", "err", rerr)
		}
	}
	switch {
	case err == nil:
		return u, nil
	case errors.Is(err, ErrInvalidCredentials):
		return store.User{}, oauth.New(oauth.InvalidGrant, "invalid username or password")
	case errors.Is(err, errBusy):
		s.metrics.busy.Inc()
		e := oauth.New(oauth.TemporarilyUnavailable, "the server is busy checking other sign-ins, retry in a moment")
		e.RetryAfter = 1
		return store.User{}, e
	default:
		return store.User{}, err
	}
}

// authenticate checks a username and password. A wrong username and a
// wrong password both cost one argon2id verification (an unknown user's
// against a dummy hash made at New) and return ErrInvalidCredentials;
// errBusy means no hashing slot was free for ip and nothing was checked.
// A hash made with other parameters than the Hasher's is remade and
// stored, best effort.
func (s *Service) authenticate(ctx context.Context, username, password, ip string) (store.User, error) {
	if len(password) > MaxPasswordLen {
		return store.User{}, ErrInvalidCredentials // refused unhashed, whoever the user
	}
	name, nerr := NormalizeUsername(username)
	var u store.User
	var err error
	if nerr == nil {
		u, err = s.cfg.Store.GetUserByUsername(ctx, name)
	}
	known := nerr == nil && err == nil
	if !known && nerr == nil && !errors.Is(err, store.ErrNotFound) {
		return store.User{}, fmt.Errorf("users: authenticate: %w", err)
	}
	phc := s.dummy // equal work for unknown users: no enumeration by timing
	if known {
		phc = u.PasswordHash
	}
	release, ok := s.slots.tryAcquire(ip, hashMemoryKiB(phc, s.cfg.Hasher.MemoryKiB))
	if !ok {
		return store.User{}, errBusy
	}
	s.metrics.verifications.Inc()
	ok, rehash, err := s.verify(phc, password)
	release()
	switch {
	case !known:
		return store.User{}, ErrInvalidCredentials
	case err != nil:
		s.cfg.Logger.ErrorContext(ctx, "stored password hash is unreadable", "user_id", u.ID, "err", err)
		return store.User{}, ErrInvalidCredentials
	case !ok:
		return store.User{}, ErrInvalidCredentials
	}
	if rehash {
		s.rehash(ctx, u, password)
	}
	return u, nil
}

// hashMemoryKiB is the argon2id memory a PHC string asks for (fallback for
// one that does not parse: Verify then fails without hashing anyway).
func hashMemoryKiB(phc string, fallback uint32) uint32 {
	p, _, _, err := parsePHC(phc)
	if err != nil {
		return fallback
	}
	return p.MemoryKiB
}

// hash hashes a new password within the hashing budget, waiting for room
// (the admin API: authenticated, never refused, still bounded).
func (s *Service) hash(ctx context.Context, password string) (string, error) {
	release, err := s.slots.acquire(ctx, s.cfg.Hasher.MemoryKiB)
	if err != nil {
		return "", fmt.Errorf("users: wait for hashing memory: %w", err)
	}
	defer release()
	return s.cfg.Hasher.Hash(password)
}

// rehash stores a hash of password made with the current parameters,
// unless the hash changed since u was read or the hashing budget is in
// use (it is retried at the next login). Failures are logged only: the
// login itself succeeded.
func (s *Service) rehash(ctx context.Context, u store.User, password string) {
	release, ok := s.slots.tryAcquire("", s.cfg.Hasher.MemoryKiB)
	if !ok {
		return
	}
	hash, err := s.cfg.Hasher.Hash(password)
	release()
	if err == nil {
		_, err = s.cfg.Store.UpdateUser(ctx, u.ID, func(r *store.User) error {
			if r.PasswordHash == u.PasswordHash {
				r.PasswordHash = hash
			}
			return nil
		})
	}
	if err != nil {
		s.cfg.Logger.WarnContext(ctx, "password rehash failed", "user_id", u.ID, "err", err)
		return
	}
	s.cfg.Logger.InfoContext(ctx, "password rehashed with current parameters", "user_id", u.ID)
}
