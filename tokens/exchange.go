package tokens

import (
	"context"
	"encoding/json"
	"errors"
	"strings"

	"github.com/authd-dev/authd/oauth"
)

// Actor is the act claim of a delegated token (RFC 8693 §4.1): the party
// acting for the subject — its sub, and its client_id when it is a client —
// and, nested in Act, the prior actors of a delegation chain.
type Actor struct {
	Subject  string `json:"sub"`
	ClientID string `json:"client_id,omitempty"`
	Act      *Actor `json:"act,omitempty"`
}

// MaxActorDepth bounds a delegation chain (nested act claims): a deeper
// chain is refused rather than grown without end.
const MaxActorDepth = 8

// depth counts the actors of the chain a heads.
func (a *Actor) depth() int {
	n := 0
	for ; a != nil; a = a.Act {
		n++
	}
	return n
}

// chainActors returns a copy of chain a with chain b appended after its
// last actor. Claims of cached tokens are shared, so nothing is changed in
// place.
func chainActors(a, b *Actor) *Actor {
	if a == nil {
		return b
	}
	c := *a
	c.Act = chainActors(a.Act, b)
	return &c
}

// exchangeToken is what token exchange learns from a subject or actor
// token (RFC 8693 §2.1) that authd issued and that is still active.
type exchangeToken struct {
	Subject  string
	ClientID string // the client the token was issued to (azp of an ID token)
	SID      string
	Scope    string
	Audience Audience
	IssuedAt int64
	AuthTime int64
	Actor    *Actor
	// User: the subject is a user (a login's token, or an ID token), not
	// a client acting for itself.
	User bool
}

// errTokenNotActive: the token is not one authd issued, or no longer active.
var errTokenNotActive = errors.New("tokens: the token is not active")

// maxExchangeTokenLen bounds subject and actor tokens before any work.
const maxExchangeTokenLen = 8192

// exchangeTypes are the token types accepted as subject_token_type and
// actor_token_type (RFC 8693 §3). Refresh tokens are not: they are bound
// to the client they were issued to and never leave it.
var exchangeTypes = []string{oauth.TokenTypeAccessToken, oauth.TokenTypeIDToken, oauth.TokenTypeJWT}

// readExchangeToken checks a subject or actor token of type typ: an access
// token by the same judgement as introspection (activeAccess); an ID token
// by signature, iss, exp and the denylist; "jwt" is either. It returns
// errTokenNotActive for every token it does not accept, or a store error.
func (s *Service) readExchangeToken(ctx context.Context, tok, typ string) (exchangeToken, error) {
	if tok == "" || len(tok) > maxExchangeTokenLen || strings.Count(tok, ".") != 2 {
		return exchangeToken{}, errTokenNotActive
	}
	if typ == oauth.TokenTypeAccessToken || typ == oauth.TokenTypeJWT {
		claims, ours, active, err := s.activeAccess(ctx, tok)
		switch {
		case err != nil:
			return exchangeToken{}, err
		case ours && !active:
			return exchangeToken{}, errTokenNotActive
		case ours:
			return exchangeToken{
				Subject: claims.Subject, ClientID: claims.ClientID, SID: claims.SID, Scope: claims.Scope,
				Audience: claims.Audience, IssuedAt: claims.IssuedAt, AuthTime: claims.AuthTime,
				Actor: claims.Actor, User: claims.SID != "",
			}, nil
		case typ == oauth.TokenTypeAccessToken:
			return exchangeToken{}, errTokenNotActive
		}
	}
	return s.readIDToken(ctx, tok)
}

// readIDToken accepts an ID token authd issued (OIDC Core §2): signed with
// a published key, typed JWT, of this issuer,
// unexpired, and not covered by a denylist rule of its sid or subject. An
// ID token carries no scope.
func (s *Service) readIDToken(ctx context.Context, tok string) (exchangeToken, error) {
	if s.cfg.Verifier == nil {
		return exchangeToken{}, errTokenNotActive
	}
	// The typ must be the ID token's own: authd signs other JWTs with the
	// same keys (access tokens at+jwt, back-channel logout tokens
	// logout+jwt, whose aud is a client too), and none of them is a sign-in.
	payload, _, typ, err := s.cfg.Verifier.Verify(tok)
	if err != nil || !strings.EqualFold(typ, TypeIDToken) {
		return exchangeToken{}, errTokenNotActive
	}
	var c IDClaims
	if err := json.Unmarshal(payload, &c); err != nil || c.Subject == "" || c.Issuer != s.cfg.Issuer ||
		c.ExpiresAt <= s.cfg.Now().Unix() || len(c.Audience) == 0 {
		return exchangeToken{}, errTokenNotActive
	}
	revoked, err := s.revoked(ctx, AccessClaims{SID: c.SID, Subject: c.Subject, ClientID: c.AuthorizedParty, IssuedAt: c.IssuedAt})
	if err != nil {
		return exchangeToken{}, storeError(err, "read denylist")
	}
	if revoked {
		return exchangeToken{}, errTokenNotActive
	}
	return exchangeToken{
		Subject: c.Subject, ClientID: c.AuthorizedParty, SID: c.SID, Audience: c.Audience,
		IssuedAt: c.IssuedAt, AuthTime: c.AuthTime, User: true,
	}, nil
}
