package recipes

// recipe:begin verifier
import (
	"context"

	"github.com/authd-dev/authd/verifier"
)

// NewVerifier returns a verifier for access tokens of issuer meant for
// audience. It reads the issuer's discovery document for the JWKS, and
// checks typ at+jwt, the algorithm allowlist, the kid against the JWKS,
// iss, aud, exp, nbf and iat (RFC 9068 §4). Create one at start-up and
// reuse it; v.Verify(ctx, token) returns the claims or an error that
// wraps verifier.ErrExpired, ErrInvalidAudience, … Add
// verifier.WithRevocationFeed(clientID, secret) to refuse revoked tokens
// too, and use v.Middleware(handler) for HTTP.
func NewVerifier(ctx context.Context, issuer, audience string) (*verifier.Verifier, error) {
	return verifier.New(ctx, issuer,
		verifier.WithAudience(audience),
		verifier.WithAlgorithms("RS256", "ES256"),
	)
}

// recipe:end verifier
