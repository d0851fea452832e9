package verifier

import (
	"errors"
	"fmt"

	"github.com/authd-dev/authd/verifier/dpop"
)

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

// Errors of VerifyRequest (and so of Middleware) besides those of Verify,
// wrapped with details; test them with errors.Is.
var (
	// ErrNoCredentials means the request has no Authorization header with
	// the Bearer (RFC 6750 §2.1) or DPoP (RFC 9449 §7.1) scheme.
	ErrNoCredentials = errors.New("verifier: no access token in the request")
	// ErrMalformedRequest means the Authorization header is repeated or its
	// token is not a b64token (RFC 6750 §2.1), or the request's target URI
	// cannot be built for the DPoP htu check.
	ErrMalformedRequest = errors.New("verifier: malformed Authorization header")
	// ErrInvalidDPoPProof means the DPoP proof is missing, repeated, or
	// fails a check of RFC 9449 §4.3 (it is dpop.ErrInvalidProof, so either
	// name matches). Middleware answers error="invalid_dpop_proof".
	ErrInvalidDPoPProof = dpop.ErrInvalidProof
	// ErrDPoPReplay means the proof's jti was used before within its
	// window (RFC 9449 §11.1). It wraps ErrInvalidDPoPProof; a ReplayCache
	// returns it for a key already recorded.
	ErrDPoPReplay = fmt.Errorf("%w: proof already used", ErrInvalidDPoPProof)
	// ErrKeyBinding means a token presented with the DPoP scheme is not
	// bound to the proof's key: its cnf.jkt is another key's thumbprint,
	// or it has none (RFC 9449 §7.1). Middleware answers
	// error="invalid_token".
	ErrKeyBinding = errors.New("verifier: the access token is not bound to the DPoP proof's key")
	// ErrDPoPBoundBearer means a DPoP-bound token (one with cnf.jkt) came
	// with the Bearer scheme: whoever copied it lacks the key, and RFC 9449
	// §7.2 has it refused.
	ErrDPoPBoundBearer = errors.New("verifier: DPoP-bound access token presented as a bearer token")
	// ErrDPoPUnavailable means the replay cache could not record the proof
	// (the in-memory one is full, or a shared one failed): the request may
	// well be valid, and Middleware answers 503.
	ErrDPoPUnavailable = errors.New("verifier: DPoP replay record unavailable")
)
