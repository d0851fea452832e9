package verifier

import "errors"

// Errors returned by Verify, wrapped with details; test them with errors.Is.
var (
	// ErrMalformed means the token is not a well-formed JWS compact JWT, or
	// a claim has the wrong JSON type (RFC 7519 §7.2).
	ErrMalformed = errors.New("verifier: malformed token")
	// ErrUnsupportedAlg means the "alg" header is not in the allowlist
	// (RFC 8725 §3.1); "none" and HMAC algorithms never are.
	ErrUnsupportedAlg = errors.New("verifier: unsupported signing algorithm")
	// ErrWrongType means the "typ" header is not "at+jwt" (RFC 9068 §4).
	ErrWrongType = errors.New("verifier: token type is not at+jwt")
	// ErrUnknownKey means no published key matches the token's "kid" and
	// "alg", even after refreshing the JWKS (or the refresh failed or was
	// not allowed yet by the minimum refresh interval).
	ErrUnknownKey = errors.New("verifier: unknown signing key")
	// ErrInvalidSignature means the signature does not verify.
	ErrInvalidSignature = errors.New("verifier: invalid signature")
	// ErrInvalidIssuer means "iss" is not exactly the configured issuer
	// (RFC 9068 §4, step 3).
	ErrInvalidIssuer = errors.New("verifier: invalid issuer")
	// ErrInvalidAudience means "aud" does not contain the configured
	// audience (RFC 9068 §4, step 4).
	ErrInvalidAudience = errors.New("verifier: invalid audience")
	// ErrExpired means "exp" has passed, beyond the leeway (RFC 7519 §4.1.4).
	ErrExpired = errors.New("verifier: token expired")
	// ErrNotYetValid means "nbf" or "iat" lies in the future, beyond the
	// leeway (RFC 7519 §4.1.5, §4.1.6).
	ErrNotYetValid = errors.New("verifier: token not yet valid")
	// ErrRevoked means the revocation feed lists the token, its session,
	// its user or its client.
	ErrRevoked = errors.New("verifier: token revoked")
	// ErrFeedNotReady means the revocation feed has not delivered its first
	// snapshot in time, so revocation cannot be checked: Verify fails closed.
	ErrFeedNotReady = errors.New("verifier: revocation feed not ready")
	// ErrStaleKeys means the cached JWKS is past its freshness lifetime
	// and its stale-if-error allowance (bounded by WithMaxKeyStaleness),
	// and refreshing it fails: Verify fails closed until a fetch succeeds.
	ErrStaleKeys = errors.New("verifier: JWKS is stale and cannot be refreshed")
	// ErrFeedStale means the revocation feed has been disconnected for
	// longer than WithFeedMaxStaleness allows and WithFeedFailClosed was
	// given: revocations may be missing, so Verify fails closed.
	ErrFeedStale = errors.New("verifier: revocation feed disconnected for too long")
)

// Errors returned by New, wrapped with details.
var (
	// ErrInvalidOption means an option was given a value that makes no
	// sense (a non-positive interval, a nil client, clock or logger, …).
	ErrInvalidOption = errors.New("verifier: invalid option")
	// ErrInsecureURL means discovery, the JWKS or the revocation feed
	// would be fetched over plain http from a host that is not loopback,
	// and WithInsecureAllowHTTP was not given.
	ErrInsecureURL = errors.New("verifier: plain http outside loopback")
)
