// Package verifier lets resource servers check authd access tokens locally,
// without a round trip to the issuer per request.
//
// A Verifier validates JWT access tokens as RFC 9068 §4 prescribes: the
// "typ" header is "at+jwt", the "alg" is in an explicit allowlist (never
// "none" or an HMAC algorithm), the signature verifies with a key from the
// issuer's JWKS, "iss" equals the issuer exactly, "aud" contains the
// resource server's audience, and "exp", "nbf" and "iat" hold within a small
// leeway.
//
// The JWKS is cached. A token with an unknown "kid" triggers one refresh
// shared by every concurrent caller; refreshes are at most one per minimum
// interval, so tokens with garbage key ids cannot make the verifier hammer
// the issuer; Cache-Control max-age and ETag are honoured. Cheap claim
// checks run before any fetch.
//
// With WithRevocationFeed the Verifier also follows authd's revocation feed
// (Server-Sent Events) and rejects revoked tokens; see docs/revocation-feed.md
// in the authd repository.
//
// The package imports nothing of authd; only the standard library, go-jose
// and golang.org/x/sync. Package verifiertest provides a fake issuer for
// tests.
package verifier
