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
// # The JWKS cache
//
// The JWKS is cached. A token with an unknown "kid" triggers one refresh
// shared by every concurrent caller; refreshes are at most one per minimum
// interval (WithMinRefreshInterval, 10 s by default, never zero), so
// tokens with garbage key ids cannot make the verifier hammer the issuer;
// Cache-Control max-age and ETag are honoured. Cheap claim checks run
// before any fetch.
//
// When the set is past its max-age and refreshing it fails, the cached
// keys keep serving only within the issuer's stale-if-error allowance
// (RFC 5861 §4; authd sends 24 h), or WithMaxKeyStaleness when the issuer
// sends none, and never longer than WithMaxKeyStaleness (default 24 h);
// must-revalidate, no-cache and no-store allow no stale use. Past that,
// Verify fails closed with ErrStaleKeys (Middleware: 503) until a fetch
// succeeds.
//
// # The revocation feed
//
// With WithRevocationFeed the Verifier also follows authd's revocation feed
// (Server-Sent Events) and rejects revoked tokens; see docs/revocation-feed.md
// in the authd repository. After the feed disconnects, the denylist counts
// as current for WithFeedMaxStaleness (default 2 minutes); past it, Verify
// fails with ErrFeedStale if WithFeedFailClosed was given, and otherwise
// keeps accepting tokens with a logged warning. FeedStatus reports the
// state either way.
//
// # DPoP
//
// Middleware and VerifyRequest also accept DPoP-bound tokens (RFC 9449):
// a token with cnf.jkt must come as "Authorization: DPoP <token>" with one
// DPoP proof header signed by the key it is bound to, and is refused as a
// bearer token (§7.2). Proofs are checked by package verifier/dpop
// against the request's method and URI (WithDPoPBaseURL behind a proxy),
// within WithDPoPMaxAge, and each is accepted once: the default replay
// record is in memory and bounded (WithDPoPReplayCacheSize);
// WithDPoPReplayCache shares one between replicas. Package verifiertest
// mints proofs and bound tokens for tests.
//
// # Transport
//
// Discovery, the JWKS and the feed must use https unless their host is
// loopback; New refuses other plain-http URLs with ErrInsecureURL, and
// redirects to them are not followed, unless WithInsecureAllowHTTP is
// given. Option values that make no sense (a zero or negative interval, a
// nil client, clock or logger) make New fail with ErrInvalidOption.
//
// # Module and versions
//
// The package is the Go module github.com/authd-dev/authd/verifier, apart
// from authd's own, so that a resource server importing it pulls in only
// the standard library, go-jose v4 and golang.org/x/sync; it imports
// nothing of authd. The module follows semantic versioning (this is
// v0.2.0); CHANGELOG.md in its directory lists the changes of every
// release. Package verifiertest provides a fake issuer for tests.
package verifier
