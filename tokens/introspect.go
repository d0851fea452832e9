package tokens

import (
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/json"
	"errors"
	"strings"
	"sync"
	"time"

	"github.com/authd-dev/authd/store"
)

// Verifier checks a compact JWS against the keys authd publishes.
type Verifier interface {
	Verify(token string) (payload []byte, kid, typ string, err error)
	// Published reports whether kid is still in the JWKS.
	Published(kid string) bool
}

// DenyReader reads the denylist entries that may cover one token.
type DenyReader interface {
	DenyState(ctx context.Context, q store.DenyQuery) (store.DenyState, error)
}

// Introspection is the RFC 7662 §2.2 response.
type Introspection struct {
	Active    bool     `json:"active"`
	Scope     string   `json:"scope,omitempty"`
	ClientID  string   `json:"client_id,omitempty"`
	Subject   string   `json:"sub,omitempty"`
	Audience  Audience `json:"aud,omitempty"`
	Issuer    string   `json:"iss,omitempty"`
	ExpiresAt int64    `json:"exp,omitempty"`
	IssuedAt  int64    `json:"iat,omitempty"`
	ID        string   `json:"jti,omitempty"`
	TokenType string   `json:"token_type,omitempty"`
	SID       string   `json:"sid,omitempty"`
	Roles     []string `json:"roles,omitempty"`
	// Actor is the act claim of a delegated token (RFC 8693 §4.1).
	Actor *Actor `json:"act,omitempty"`
	// Confirmation is the key a DPoP-bound token is bound to (RFC 9449
	// §6.2: introspection returns cnf.jkt; token_type is then "DPoP").
	Confirmation *Confirmation `json:"cnf,omitempty"`
	// userInfoClaims: the token's userinfo_claims (claims.go), not shown.
	userInfoClaims []string
}

var inactive = &Introspection{Active: false}

// verifiedCache remembers the claims of access tokens whose signature was
// verified, keyed by the token's SHA-256, until they expire. Verification
// of the same bytes with the same key never changes its answer; the key
// being withdrawn is checked on every hit, and revocation (the denylist)
// is read on every call, so caching loses nothing.
type verifiedCache struct {
	mu      sync.RWMutex
	entries map[[32]byte]cachedClaims
	max     int
}

type cachedClaims struct {
	kid    string
	claims AccessClaims
}

func newVerifiedCache(max int) *verifiedCache {
	return &verifiedCache{entries: make(map[[32]byte]cachedClaims, max), max: max}
}

func (c *verifiedCache) get(k [32]byte) (cachedClaims, bool) {
	c.mu.RLock()
	v, ok := c.entries[k]
	c.mu.RUnlock()
	return v, ok
}

// put stores v; when full, it first drops expired entries and, if still
// full, an arbitrary half (map order), which bounds memory without an LRU's
// per-hit bookkeeping.
func (c *verifiedCache) put(k [32]byte, v cachedClaims, now int64) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if len(c.entries) >= c.max {
		for key, e := range c.entries {
			if e.claims.ExpiresAt <= now {
				delete(c.entries, key)
			}
		}
		for key := range c.entries {
			if len(c.entries) < c.max/2 {
				break
			}
			delete(c.entries, key)
		}
	}
	c.entries[k] = v
}

// Introspect answers RFC 7662 for token: active only for an access token
// authd signed with a key it still publishes, unexpired and not revoked by
// any denylist rule, or for the current refresh token of a live login of
// the asking client. Everything else, garbage included, is inactive.
func (s *Service) Introspect(ctx context.Context, client store.Client, token, hint string) (*Introspection, error) {
	if token == "" || len(token) > 8192 {
		return inactive, nil
	}
	if strings.Count(token, ".") == 2 && hint != "refresh_token" || hint == "access_token" {
		if in, ok, err := s.introspectAccess(ctx, token); ok || err != nil {
			return in, err
		}
	}
	return s.introspectRefresh(ctx, client, token)
}

// introspectAccess returns ok=false when token is not an access token of
// ours, so the caller may try the refresh-token path.
func (s *Service) introspectAccess(ctx context.Context, token string) (*Introspection, bool, error) {
	claims, ours, active, err := s.activeAccess(ctx, token)
	if !ours || err != nil {
		return nil, ours, err
	}
	if !active {
		return inactive, true, nil
	}
	tt := TokenTypeBearer
	if claims.Confirmation != nil {
		tt = TokenTypeDPoP
	}
	return &Introspection{
		Active: true, Scope: claims.Scope, ClientID: claims.ClientID, Subject: claims.Subject,
		Audience: claims.Audience, Issuer: claims.Issuer, ExpiresAt: claims.ExpiresAt,
		IssuedAt: claims.IssuedAt, ID: claims.ID, TokenType: tt, SID: claims.SID, Roles: claims.Roles,
		Actor: claims.Actor, Confirmation: claims.Confirmation, userInfoClaims: claims.UserInfoClaims,
	}, true, nil
}

// activeAccess is the one judgement of an access token that introspection
// (RFC 7662 §2.2) and token exchange (RFC 8693 §2.1) make: ours when authd
// signed it with a key it still publishes; active when, besides, it is of
// this issuer, unexpired and not revoked by any denylist rule.
func (s *Service) activeAccess(ctx context.Context, token string) (claims AccessClaims, ours, active bool, err error) {
	claims, ok := s.verifyAccess(token)
	if !ok {
		return AccessClaims{}, false, false, nil
	}
	if claims.ExpiresAt <= s.cfg.Now().Unix() || claims.Issuer != s.cfg.Issuer {
		return claims, true, false, nil
	}
	revoked, err := s.revoked(ctx, claims)
	if err != nil {
		return claims, true, false, storeError(err, "read denylist")
	}
	return claims, true, !revoked, nil
}

// verifyAccess checks the signature (through the cache) and decodes the
// claims of an access token.
func (s *Service) verifyAccess(token string) (AccessClaims, bool) {
	if s.cfg.Verifier == nil {
		return AccessClaims{}, false
	}
	key := sha256.Sum256([]byte(token))
	if c, ok := s.verified.get(key); ok {
		return c.claims, s.cfg.Verifier.Published(c.kid)
	}
	payload, kid, typ, err := s.cfg.Verifier.Verify(token)
	if err != nil || !strings.EqualFold(typ, TypeAccessToken) {
		return AccessClaims{}, false
	}
	var claims AccessClaims
	if err := json.Unmarshal(payload, &claims); err != nil || claims.ID == "" {
		return AccessClaims{}, false
	}
	s.verified.put(key, cachedClaims{kid: kid, claims: claims}, s.cfg.Now().Unix())
	return claims, true
}

// revoked reads every denylist rule for the token: from the local mirror
// while it is fresh (denymirror.go), else from the store in one round
// trip. A watermark covers tokens issued at or before it (iat has second
// precision, so a token issued in the same second as a revocation counts
// as revoked: failing closed).
func (s *Service) revoked(ctx context.Context, c AccessClaims) (bool, error) {
	q := store.DenyQuery{JTI: c.ID, SID: c.SID, Subject: c.Subject, ClientID: c.ClientID}
	st, ok := store.DenyState{}, false
	if s.mirror != nil {
		st, ok = s.mirror.state(q)
	}
	if !ok {
		var err error
		if st, err = s.cfg.DenyReader.DenyState(ctx, q); err != nil {
			return false, err
		}
	}
	covers := func(at time.Time) bool { return !at.IsZero() && c.IssuedAt <= at.Unix() }
	return !st.JTI.IsZero() || !st.SID.IsZero() || covers(st.Subject) || covers(st.Client), nil
}

// introspectRefresh reports a refresh token of the asking client.
func (s *Service) introspectRefresh(ctx context.Context, client store.Client, token string) (*Introspection, error) {
	fid, ok := s.parseRefreshToken(token, client.ID)
	if !ok {
		return inactive, nil
	}
	f, err := s.cfg.Families.GetFamily(ctx, fid)
	switch {
	case errors.Is(err, store.ErrNotFound):
		return inactive, nil
	case err != nil:
		return nil, storeError(err, "read refresh family")
	}
	now := s.cfg.Now()
	if f.Revoked || f.ExpiredAt(now) || !equalDigest(f.Current, digest(token)) {
		return inactive, nil
	}
	// The same checks as a refresh: a token the grant would refuse is not
	// active (RFC 7662 §2.2).
	if _, err := s.checkLogin(ctx, client, f, GrantRefreshToken); errors.Is(err, errLoginEnded) {
		return inactive, nil
	} else if err != nil {
		return nil, err
	}
	in := &Introspection{
		Active: true, Scope: f.Scope, ClientID: f.ClientID, Subject: f.Subject, Audience: s.familyAudience(client, f),
		Issuer: s.cfg.Issuer, ExpiresAt: f.IdleExpiresAt.Unix(), IssuedAt: issuedAt(f).Unix(),
		TokenType: "refresh_token", SID: f.ID,
	}
	if f.JKT != "" { // a public client's DPoP-bound login (RFC 9449 §5)
		in.Confirmation = &Confirmation{JKT: f.JKT}
	}
	return in, nil
}

// issuedAt is when the family's current refresh token was issued.
func issuedAt(f store.Family) time.Time {
	if f.RotatedAt.IsZero() {
		return f.CreatedAt
	}
	return f.RotatedAt
}

func equalDigest(a, b []byte) bool { return hmac.Equal(a, b) }
