package store

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"time"
)

// RegistrationToken is an initial access token of dynamic client
// registration (RFC 7591 §3: "an OAuth 2.0 access token … provisioned out
// of band" that authorizes calls to the registration endpoint). The store
// keeps only its digest.
type RegistrationToken struct {
	// ID names the token in the admin API (RegistrationTokenID of the
	// digest); filled by ListRegistrationTokens, never stored.
	ID string `json:"-"`
	// Digest is a keyed digest of the token; never the token.
	Digest []byte `json:"digest"`
	// Uses is how many registrations the token may still authorize (≥ 1).
	Uses int `json:"uses"`
	// CreatedAt is when it was issued; ExpiresAt when it stops working,
	// and the record expires by itself.
	CreatedAt time.Time `json:"created_at"`
	ExpiresAt time.Time `json:"expires_at"`
}

// RegistrationTokens keeps initial access tokens. Records expire by
// themselves at ExpiresAt (TTL on every backend), judged by the backend's
// clock.
type RegistrationTokens interface {
	// CreateRegistrationToken stores a new token; ErrExists if the digest
	// is taken. Uses must be ≥ 1 and ExpiresAt in the future.
	CreateRegistrationToken(ctx context.Context, t RegistrationToken) error
	// UseRegistrationToken atomically takes one use of the token: of
	// parallel callers on any replica, at most Uses succeed. A token that
	// is missing, expired or used up is ErrNotFound (a used-up token is
	// deleted by its last use).
	UseRegistrationToken(ctx context.Context, digest []byte) error
	// CheckRegistrationToken reports whether the token is live (unexpired,
	// with a use left) without taking a use: ErrNotFound if not. A caller
	// checks first and takes the use (UseRegistrationToken) when its work
	// is about to succeed, so that a refused request spends nothing.
	CheckRegistrationToken(ctx context.Context, digest []byte) error
	// ListRegistrationTokens returns the live tokens (unexpired, with uses
	// left), oldest first, with ID, Uses, CreatedAt and ExpiresAt (times
	// to the millisecond at least).
	ListRegistrationTokens(ctx context.Context) ([]RegistrationToken, error)
	// DeleteRegistrationToken ends the token with that ID at once: a use
	// after it returns is ErrNotFound. ErrNotFound if there is none.
	DeleteRegistrationToken(ctx context.Context, id string) error
}

// RegistrationTokenID is the admin API's name of the token with digest:
// 96 bits of a hash of the digest, so that it says nothing about the
// token and needs no stored field (tokens issued before IDs existed have
// one too).
func RegistrationTokenID(digest []byte) string {
	sum := sha256.Sum256(append([]byte("authd registration token id\x00"), digest...))
	return hex.EncodeToString(sum[:12])
}
