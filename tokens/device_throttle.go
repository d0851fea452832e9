package tokens

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"math"
	"net/netip"
	"time"

	"github.com/authd-dev/authd/oauth"
	"github.com/authd-dev/authd/store"
)

// DeviceThrottle limits device authorization requests (RFC 8628 §3.1):
// each one creates a pending record that lives for DeviceCodeTTL, so
// without a limit one client could fill the store. Every request takes
// an attempt from its client's bucket; a public client's request (RFC
// 6749 §2.1: its client_id is no secret, anyone can send it) also takes
// one from the source address's bucket, so that one address cannot use
// up a public client's bucket for every device of that client.
//
// Refused requests get 429 with Retry-After (RFC 6585 §4) and the error
// code slow_down, the server's code for every throttle (login, dynamic
// registration). RFC 8628 §3.2 defines no error of its own for this
// endpoint (its errors are RFC 6749 §5.2's, and slow_down is a token
// endpoint answer of §3.5); the 429 status and Retry-After are what a
// client acts on, and a device that reads slow_down as §3.5 does waits,
// which is right too.
type DeviceThrottle struct {
	// Store keeps the buckets (the store's, shared by every replica); nil:
	// no throttle.
	Store store.ThrottleStore
	// ClientEvery and ClientBurst shape one client's bucket
	// (--device-authorization-client-per-minute, -burst).
	ClientEvery time.Duration
	ClientBurst int
	// IPEvery and IPBurst shape one address's bucket for public clients
	// (IPv6: per /64; --device-authorization-ip-per-minute, -burst).
	IPEvery time.Duration
	IPBurst int
}

func (t DeviceThrottle) validate() error {
	if t.Store == nil {
		return nil
	}
	if t.ClientEvery < time.Microsecond || t.ClientBurst < 1 || t.IPEvery < time.Microsecond || t.IPBurst < 1 {
		return errors.New("the device throttle's rates must be at least 1µs and bursts at least 1")
	}
	return nil
}

// buckets are the buckets a device authorization request of c from ip
// draws on.
func (t DeviceThrottle) buckets(c store.Client, ip string) []store.Bucket {
	sum := sha256.Sum256([]byte(c.ID))
	out := []store.Bucket{{Key: "da:c:" + hex.EncodeToString(sum[:16]), Every: t.ClientEvery, Burst: t.ClientBurst}}
	if c.TokenEndpointAuthMethod == oauth.AuthNone && ip != "" {
		key := ""
		if a, err := netip.ParseAddr(ip); err != nil {
			s := sha256.Sum256([]byte(ip))
			key = "da:ip?" + hex.EncodeToString(s[:16])
		} else if a = a.Unmap().WithZone(""); a.Is6() {
			p, _ := a.Prefix(64)
			key = "da:ip:" + p.String()
		} else {
			key = "da:ip:" + a.String()
		}
		out = append(out, store.Bucket{Key: key, Every: t.IPEvery, Burst: t.IPBurst})
	}
	return out
}

// take reserves one device authorization for c from ip (reserve, then
// work: the attempt counts before the record is written). It returns the
// buckets to refund if no record gets written, or a slow_down error.
func (t DeviceThrottle) take(ctx context.Context, now time.Time, c store.Client, ip string) ([]store.Bucket, error) {
	if t.Store == nil {
		return nil, nil
	}
	b := t.buckets(c, ip)
	wait, err := t.Store.TakeAttempt(ctx, now, b)
	if err != nil {
		return nil, storeError(err, "device authorization throttle")
	}
	if wait > 0 {
		e := oauth.New(oauth.SlowDown, "too many device authorization requests; retry later")
		e.RetryAfter = int(math.Ceil(wait.Seconds()))
		return nil, e
	}
	return b, nil
}

// refund gives a reserved attempt back (no record was written). A lost
// refund only costs one attempt.
func (t DeviceThrottle) refund(ctx context.Context, now time.Time, b []store.Bucket) {
	if t.Store != nil && len(b) > 0 {
		_ = t.Store.ReturnAttempt(ctx, now, b)
	}
}
