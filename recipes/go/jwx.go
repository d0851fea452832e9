package recipes

// recipe:begin jwx
import (
	"context"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/lestrrat-go/httprc/v3"
	"github.com/lestrrat-go/jwx/v3/jwk"
	"github.com/lestrrat-go/jwx/v3/jws"
	"github.com/lestrrat-go/jwx/v3/jwt"
)

// JWX checks authd access tokens with lestrrat-go/jwx. jwt.Parse with a
// key set picks the key by kid and takes the algorithm from the key's
// "alg" (never from the token), and with WithIssuer and WithAudience
// checks iss, aud, exp, nbf and iat. The "typ" header and an explicit
// algorithm allowlist are checked by hand after the signature.
type JWX struct {
	keys     jwk.Set
	issuer   string
	audience string
}

// NewJWX caches the JWKS at jwksURL (the "jwks_uri" of the issuer's
// discovery document); the cache refreshes it in the background.
func NewJWX(ctx context.Context, jwksURL, issuer, audience string) (*JWX, error) {
	cache, err := jwk.NewCache(ctx, httprc.NewClient())
	if err != nil {
		return nil, err
	}
	if err := cache.Register(ctx, jwksURL); err != nil { // fetches it once
		return nil, err
	}
	keys, err := cache.CachedSet(jwksURL)
	if err != nil {
		return nil, err
	}
	return &JWX{keys: keys, issuer: issuer, audience: audience}, nil
}

// Verify returns the verified token.
func (j *JWX) Verify(raw string) (jwt.Token, error) {
	tok, err := jwt.Parse([]byte(raw),
		jwt.WithKeySet(j.keys),
		jwt.WithIssuer(j.issuer),
		jwt.WithAudience(j.audience),
		jwt.WithAcceptableSkew(30*time.Second),
	)
	if err != nil {
		return nil, err
	}
	msg, err := jws.Parse([]byte(raw))
	if err != nil {
		return nil, err
	}
	h := msg.Signatures()[0].ProtectedHeaders()
	typ, _ := h.Type()
	if t := strings.ToLower(typ); t != "at+jwt" && t != "application/at+jwt" {
		return nil, fmt.Errorf("typ %q is not at+jwt", typ)
	}
	alg, _ := h.Algorithm()
	if !slices.Contains([]string{"RS256", "ES256"}, alg.String()) {
		return nil, fmt.Errorf("alg %s is not allowed", alg)
	}
	return tok, nil
}

// recipe:end jwx
