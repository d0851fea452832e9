package users

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"net/netip"
	"time"

	"github.com/authd-dev/authd/store"
)

// AttemptStore is the part of the store the throttle uses: token buckets
// shared by every replica (store.ThrottleStore).
type AttemptStore interface {
	TakeAttempt(ctx context.Context, now time.Time, buckets []store.Bucket) (time.Duration, error)
	ReturnAttempt(ctx context.Context, now time.Time, buckets []store.Bucket) error
}

// MaxThrottleSetting bounds the throttle's rates and bursts, so that a
// bucket's arithmetic stays exact in every backend (microseconds below
// 2^53).
const MaxThrottleSetting = 1_000_000

// ThrottleConfig shapes the login throttle. Every field is required; the
// defaults live in internal/config.
type ThrottleConfig struct {
	Store AttemptStore
	// UsernamePerMinute and UsernameBurst limit attempts per username.
	UsernamePerMinute, UsernameBurst int
	// IPPerMinute and IPBurst limit attempts per client address (IPv6
	// per /64).
	IPPerMinute, IPBurst int
}

// Throttle limits login attempts per username and per client address,
// with token buckets kept in the store, so that every replica sharing the
// store shares them. An attempt is taken from both buckets atomically
// before the password is checked and given back when the login succeeds
// (or the password was never checked), so parallel guesses can never
// evaluate more passwords than the burst: "reserve, then work".
//
// Buckets are keyed on bounded forms, never on raw input: a username by
// the SHA-256 of its stored form (NormalizeUsername: case and surrounding
// spaces do not evade the limit), an address by itself or its /64. A
// username that NormalizeUsername rejects counts only against the address.
type Throttle struct {
	store    AttemptStore
	user, ip store.Bucket // shapes; Key filled per attempt
}

// NewThrottle validates cfg and returns a Throttle.
func NewThrottle(cfg ThrottleConfig) (*Throttle, error) {
	if cfg.Store == nil {
		return nil, errors.New("users: throttle Store is required")
	}
	for _, v := range []int{cfg.UsernamePerMinute, cfg.UsernameBurst, cfg.IPPerMinute, cfg.IPBurst} {
		if v < 1 || v > MaxThrottleSetting {
			return nil, fmt.Errorf("users: throttle rates and bursts must be 1 to %d, got %d", MaxThrottleSetting, v)
		}
	}
	return &Throttle{
		store: cfg.Store,
		user:  store.Bucket{Every: time.Minute / time.Duration(cfg.UsernamePerMinute), Burst: cfg.UsernameBurst},
		ip:    store.Bucket{Every: time.Minute / time.Duration(cfg.IPPerMinute), Burst: cfg.IPBurst},
	}, nil
}

// usernameKey is the bucket key of a username: "u:" and 128 bits of the
// SHA-256 of its stored form, or "" for a username that cannot exist.
func usernameKey(username string) string {
	name, err := NormalizeUsername(username)
	if err != nil {
		return ""
	}
	sum := sha256.Sum256([]byte(name))
	return "u:" + hex.EncodeToString(sum[:16])
}

// ipKey is the bucket key of a client address: the address, or its /64
// for IPv6 (one host usually holds a whole /64). Input that is not an
// address is digested; "" means no address.
func ipKey(ip string) string {
	if ip == "" {
		return ""
	}
	a, err := netip.ParseAddr(ip)
	if err != nil {
		sum := sha256.Sum256([]byte(ip))
		return "ip?" + hex.EncodeToString(sum[:16])
	}
	a = a.Unmap().WithZone("")
	if a.Is6() {
		p, _ := a.Prefix(64)
		return "ip:" + p.String()
	}
	return "ip:" + a.String()
}

// buckets are the buckets an attempt for username from ip draws on.
func (t *Throttle) buckets(username, ip string) []store.Bucket {
	out := make([]store.Bucket, 0, 2)
	if k := usernameKey(username); k != "" {
		b := t.user
		b.Key = k
		out = append(out, b)
	}
	if k := ipKey(ip); k != "" {
		b := t.ip
		b.Key = k
		out = append(out, b)
	}
	return out
}
