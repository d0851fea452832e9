package users

import (
	"net/netip"
	"strings"
	"sync"
	"time"

	"golang.org/x/time/rate"
)

// ThrottleConfig sets how many failed logins are tolerated. Zero fields
// take the defaults.
type ThrottleConfig struct {
	// UsernamePerMinute and UsernameBurst limit failures per username
	// (default 5 per minute, burst 10).
	UsernamePerMinute float64
	UsernameBurst     int
	// IPPerMinute and IPBurst limit failures per client address, IPv6 per
	// /64 (default 20 per minute, burst 50).
	IPPerMinute float64
	IPBurst     int
	// MaxKeys bounds memory: at most this many usernames and as many
	// addresses are tracked (default 100,000 each).
	MaxKeys int
	Now     func() time.Time
}

// Throttle limits failed logins per username and per client address, in
// memory (per replica), with token buckets (golang.org/x/time/rate). Only
// failures spend tokens: a throttled key refuses attempts until a token has
// refilled. Usernames are keyed in their stored form (trimmed, lower case),
// so changing case does not evade the limit.
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

// usernameKey is the username as stored (see NormalizeUsername).
func usernameKey(username string) string { return strings.ToLower(strings.TrimSpace(username)) }

// ipKey is the address, or its /64 for IPv6 (one host usually holds a
// whole /64). Unparsable input is used as is; "" means no address.
func ipKey(ip string) string {
	a, err := netip.ParseAddr(ip)
	if err != nil {
		return ip
	}
	a = a.Unmap()
	if a.Is6() {
		p, _ := a.WithZone("").Prefix(64)
		return p.String()
	}
	return a.String()
}

// Allow reports whether a login attempt for username from ip may proceed
// and, if not, how long until it may. It spends nothing.
func (t *Throttle) Allow(username, ip string) (ok bool, retryAfter time.Duration) {
	now := t.cfg.Now()
	t.mu.Lock()
	defer t.mu.Unlock()
	for _, l := range []*rate.Limiter{t.byUsername[usernameKey(username)], t.byIP[ipKey(ip)]} {
		if l == nil {
			continue
		}
		if tokens := l.TokensAt(now); tokens < 1 {
			w := time.Duration((1 - tokens) / float64(l.Limit()) * float64(time.Second))
			retryAfter = max(retryAfter, w)
		}
	}
	return retryAfter == 0, retryAfter
}

// Failure spends one token of the username and one of the address.
func (t *Throttle) Failure(username, ip string) {
	now := t.cfg.Now()
	t.mu.Lock()
	defer t.mu.Unlock()
	if k := usernameKey(username); k != "" {
		t.limiter(t.byUsername, k, t.cfg.UsernamePerMinute, t.cfg.UsernameBurst, now).AllowN(now, 1)
	}
	if k := ipKey(ip); k != "" {
		t.limiter(t.byIP, k, t.cfg.IPPerMinute, t.cfg.IPBurst, now).AllowN(now, 1)
	}
}

// Success forgets the username's failures (not the address's: one good
// password must not reset an address guessing many accounts).
func (t *Throttle) Success(username string) {
	t.mu.Lock()
	delete(t.byUsername, usernameKey(username))
	t.mu.Unlock()
}

// limiter returns key's limiter, creating it. When the map is full, idle
// entries (refilled completely, so holding no state) are evicted first,
// then arbitrary ones (an attacker flooding the map can thus
// reset some counters; the per-address limit still holds): memory stays bounded even under a flood of keys.
func (t *Throttle) limiter(m map[string]*rate.Limiter, key string, perMinute float64, burst int, now time.Time) *rate.Limiter {
	if l, ok := m[key]; ok {
		return l
	}
	if len(m) >= t.cfg.MaxKeys {
		for k, l := range m {
			if l.TokensAt(now) >= float64(l.Burst()) {
				delete(m, k)
			}
		}
		// Still full: drop arbitrary keys (map order), 1% at a time so
		// that a flood does not rescan the map for every new key.
		target := t.cfg.MaxKeys - max(1, t.cfg.MaxKeys/100)
		for k := range m {
			if len(m) <= target {
				break
			}
			delete(m, k)
		}
	}
	l := rate.NewLimiter(rate.Limit(perMinute/60), burst)
	m[key] = l
	return l
}
