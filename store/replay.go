package store

import (
	"context"
	"time"
)

// ReplayCache is a store-wide record of single-use identifiers: the jti of
// a private_key_jwt client assertion (RFC 7523 §3 item 7: "the JWT MUST
// NOT be used more than once"), and later the jti of DPoP proofs
// (RFC 9449 §11.1). Every replica sharing the store sees the same record,
// so an identifier used on one replica is refused on all of them.
//
// Entries end by themselves at their expiresAt; nothing can fill the
// record with entries that outlive the assertion that created them.
type ReplayCache interface {
	// MarkUsed records key as used until expiresAt, atomically: of any
	// number of concurrent calls with the same key, exactly one returns
	// nil; the others, and every later call before expiresAt, return
	// ErrExists. An expiresAt that is not after the backend's clock is an
	// error (nothing would be recorded). Callers namespace their keys
	// (e.g. "assertion\x00<client_id>\x00<jti>").
	MarkUsed(ctx context.Context, key string, expiresAt time.Time) error
}
