package tokens

import (
	"context"
	"crypto/rand"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"time"

	"github.com/authd-dev/authd/store"
)

// TypeAccessToken is the JOSE "typ" of access tokens (RFC 9068 §2.1).
const TypeAccessToken = "at+jwt"

// TypeIDToken is the JOSE "typ" of ID tokens (RFC 7519 §5.1 "JWT").
const TypeIDToken = "JWT"

// Audience marshals as a string when it has one member and as an array
// otherwise (RFC 7519 §4.1.3 allows both).
type Audience []string

// MarshalJSON implements json.Marshaler.
func (a Audience) MarshalJSON() ([]byte, error) {
	if len(a) == 1 {
		return json.Marshal(a[0])
	}
	return json.Marshal([]string(a))
}

// UnmarshalJSON accepts a string or an array of strings.
func (a *Audience) UnmarshalJSON(b []byte) error {
	var one string
	if err := json.Unmarshal(b, &one); err == nil {
		*a = Audience{one}
		return nil
	}
	var many []string
	if err := json.Unmarshal(b, &many); err != nil {
		return fmt.Errorf("aud: %w", err)
	}
	*a = many
	return nil
}

// AccessClaims are the claims of an access token (RFC 9068 §2.2).
type AccessClaims struct {
	Issuer    string   `json:"iss"`
	Subject   string   `json:"sub"`
	Audience  Audience `json:"aud"`
	ExpiresAt int64    `json:"exp"`
	IssuedAt  int64    `json:"iat"`
	ID        string   `json:"jti"`
	ClientID  string   `json:"client_id"`
	Scope     string   `json:"scope,omitempty"`
	// User tokens only.
	AuthTime int64    `json:"auth_time,omitempty"`
	Roles    []string `json:"roles,omitempty"`
	SID      string   `json:"sid,omitempty"`
	// UserInfoClaims are the claims the authorization request's claims
	// parameter asked userinfo for (OIDC Core §5.5; claims.go).
	UserInfoClaims []string `json:"userinfo_claims,omitempty"`
	// Actor is the act claim of a token issued by delegation (RFC 8693
	// §4.1; grant_token_exchange.go).
	Actor *Actor `json:"act,omitempty"`
	// Confirmation binds a DPoP-bound token to its key (RFC 9449 §6.1).
	Confirmation *Confirmation `json:"cnf,omitempty"`
}

// newID returns n random bytes, base64url-encoded.
func newID(n int) string {
	b := make([]byte, n)
	rand.Read(b) // never fails (crypto/rand documents it)
	return base64.RawURLEncoding.EncodeToString(b)
}

// accessAlg is the client's access-token alg, else the default.
func (s *Service) accessAlg(c store.Client) string {
	if c.AccessTokenSigningAlg != "" {
		return c.AccessTokenSigningAlg
	}
	return s.cfg.DefaultAlg
}

// audienceFor is the requested audience, else the client's, else the
// default (the issuer).
func (s *Service) audienceFor(c store.Client, requested []string) Audience {
	switch {
	case len(requested) > 0:
		return requested
	case len(c.Audience) > 0:
		return c.Audience
	default:
		return s.cfg.DefaultAudience
	}
}

// mintAccess signs an access token; claims get iss, iat, exp and jti here,
// and cnf when the token request carried a DPoP proof (ctx, dpop.go).
func (s *Service) mintAccess(ctx context.Context, c store.Client, now time.Time, claims AccessClaims) (string, error) {
	if jkt := jktFrom(ctx); jkt != "" {
		claims.Confirmation = &Confirmation{JKT: jkt}
	}
	claims.Issuer = s.cfg.Issuer
	claims.IssuedAt = now.Unix()
	claims.ExpiresAt = claims.IssuedAt + int64(s.cfg.AccessTokenTTL/time.Second)
	claims.ID = newID(16)
	claims.ClientID = c.ID
	payload, err := json.Marshal(&claims)
	if err != nil {
		return "", fmt.Errorf("encode access token claims: %w", err)
	}
	tok, _, err := s.cfg.Signer.Sign(s.accessAlg(c), TypeAccessToken, payload)
	if err != nil {
		return "", fmt.Errorf("sign access token: %w", err)
	}
	return tok, nil
}

func (s *Service) bearer(access string, scope string) *Response {
	return &Response{
		AccessToken: access,
		TokenType:   TokenTypeBearer,
		ExpiresIn:   int64(s.cfg.AccessTokenTTL / time.Second),
		Scope:       scope,
	}
}
