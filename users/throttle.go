package users

import (
	"sync"
	"time"

	"golang.org/x/time/rate"
)

// ThrottleConfig sets how many failed logins are tolerated. Only failures
// spend tokens; a throttled key refuses attempts until tokens refill.
type ThrottleConfig struct {
	// PerUsername: failures per minute and burst, per username (default 5, 10).
	UsernamePerMinute float64
	UsernameBurst     int
	// PerIP: failures per minute and burst, per client address (default 20, 50).
	IPPerMinute float64
	IPBurst     int
	// MaxKeys bounds memory (default 100,000 keys per kind).
	MaxKeys int
	Now     func() time.Time
}

// Throttle limits failed logins per username and per client address, in
// memory (per replica).
type Throttle struct {
	cfg        ThrottleConfig
	mu         sync.Mutex
	byUsername map[string]*rate.Limiter
	byIP       map[string]*rate.Limiter
}

// NewThrottle returns a Throttle with defaults filled in.
func NewThrottle(cfg ThrottleConfig) *Throttle {
	if cfg.UsernamePerMinute <= 0 {
		cfg.UsernamePerMinute = 5
	}
	if cfg.UsernameBurst <= 0 {
		cfg.UsernameBurst = 10
	}
	if cfg.IPPerMinute <= 0 {
		cfg.IPPerMinute = 20
	}
	if cfg.IPBurst <= 0 {
		cfg.IPBurst = 50
	}
	if cfg.MaxKeys <= 0 {
		cfg.MaxKeys = 100_000
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	return &Throttle{cfg: cfg, byUsername: map[string]*rate.Limiter{}, byIP: map[string]*rate.Limiter{}}
}

// Allow reports whether a login attempt may proceed and, if not, how long
// to wait.
func (t *Throttle) Allow(username, ip string) (bool, time.Duration) {
	now := t.cfg.Now()
	t.mu.Lock()
	defer t.mu.Unlock()
	var wait time.Duration
	for _, l := range []*rate.Limiter{t.byUsername[username], t.byIP[ip]} {
		if l == nil {
			continue
		}
		if tokens := l.TokensAt(now); tokens < 1 {
			w := time.Duration((1 - tokens) / float64(l.Limit()) * float64(time.Second))
			wait = max(wait, w)
		}
	}
	return wait == 0, wait
}

// Failure spends a token of the username and of the address.
func (t *Throttle) Failure(username, ip string) {
	now := t.cfg.Now()
	t.mu.Lock()
	defer t.mu.Unlock()
	t.limiter(t.byUsername, username, t.cfg.UsernamePerMinute, t.cfg.UsernameBurst, now).AllowN(now, 1)
	t.limiter(t.byIP, ip, t.cfg.IPPerMinute, t.cfg.IPBurst, now).AllowN(now, 1)
}

// Success forgets the username's failures.
func (t *Throttle) Success(username string) {
	t.mu.Lock()
	delete(t.byUsername, username)
	t.mu.Unlock()
}

func (t *Throttle) limiter(m map[string]*rate.Limiter, key string, perMinute float64, burst int, now time.Time) *rate.Limiter {
	if l, ok := m[key]; ok {
		return l
	}
	if len(m) >= t.cfg.MaxKeys {
		// Drop keys that have refilled completely: they hold no state.
		for k, l := range m {
			if l.TokensAt(now) >= float64(l.Burst()) {
				delete(m, k)
			}
		}
		for k := range m { // still full: drop arbitrary keys (map order)
			if len(m) < t.cfg.MaxKeys {
				break
			}
			delete(m, k)
		}
	}
	l := rate.NewLimiter(rate.Limit(perMinute/60), burst)
	m[key] = l
	return l
}
