package tokens

import (
	"context"
	"errors"
	"slices"
	"strings"
	"time"

	"github.com/authd-dev/authd/oauth"
	"github.com/authd-dev/authd/store"
)

var (
	errBadSubjectToken = oauth.New(oauth.InvalidGrant, "the subject_token is invalid, expired, revoked or not addressed to this client")
	errBadActorToken   = oauth.New(oauth.InvalidGrant, "the actor_token is invalid, expired or revoked")
)

// tokenExchange is the token exchange grant of RFC 8693 §2. The shared
// steps ran before it (client authenticated, grant allowed, scope within
// the client's, every audience/resource among the client's audience
// entries: invalid_target, §2.2.2). The policy (CONTRACT.md):
//
//   - the subject token is an access token or an ID token authd issued,
//     active, whose aud contains the requesting client's client_id;
//   - with an actor_token it is delegation (§1.1): the new token names the
//     actor in act, nesting the prior actors (§4.1); without one it is
//     impersonation, allowed only if the client's
//     token_exchange_impersonation says so;
//   - the audience is the requested one, else the client's audience
//     entries; a client without any cannot exchange (invalid_target);
//   - the scope is narrowed to the subject token's (never widened): the
//     requested scope must lie within it (invalid_scope), no request means
//     the intersection of the subject token's scope and the client's;
//   - the new token keeps the subject's sub and sid (so ending the login
//     ends the derived tokens too), takes the requesting client's
//     client_id, and the user's current roles.
//
// requested_token_type refresh_token (token_exchange_refresh) starts a
// refresh-token family for the subject user instead.
//
// DPoP (RFC 9449): like every grant, the exchanged access token is bound
// to the key of the exchange request's own proof (cnf.jkt, §6.1), and is a
// bearer token without one. The subject token's cnf need not match and is
// not carried over: RFC 8693 says nothing of sender constraints, and RFC
// 9449 binds a token to the key of the request that obtained it (§5). The
// exchanging client is the subject token's audience — a resource server
// that received it, and checked its proof, from the key holder — and never
// holds that key itself; what binds the exchange to it is its own client
// authentication and the subject token's aud, and its own proof binds
// what it gets. (A DPoP-bound subject token thus does not leak its
// binding to a third party: the new token names the exchanging client.)
func (s *Service) tokenExchange(ctx context.Context, req *Request, scope string, audience []string) (*Response, error) {
	f := req.Form
	if err := singleValued(f, "subject_token", "subject_token_type", "actor_token", "actor_token_type", "requested_token_type"); err != nil {
		return nil, err
	}
	subjectTok, subjectType := f.Get("subject_token"), f.Get("subject_token_type")
	actorTok, actorType := f.Get("actor_token"), f.Get("actor_token_type")
	requested := f.Get("requested_token_type")
	// §2.1: subject_token and subject_token_type are REQUIRED;
	// actor_token_type is REQUIRED with actor_token and MUST NOT be sent
	// without it.
	switch {
	case subjectTok == "" || subjectType == "":
		return nil, oauth.New(oauth.InvalidRequest, "subject_token and subject_token_type are required")
	case !slices.Contains(exchangeTypes, subjectType):
		return nil, oauth.New(oauth.InvalidRequest, "subject_token_type %q is not supported", subjectType)
	case (actorTok == "") != (actorType == ""):
		return nil, oauth.New(oauth.InvalidRequest, "actor_token and actor_token_type go together")
	case actorType != "" && !slices.Contains(exchangeTypes, actorType):
		return nil, oauth.New(oauth.InvalidRequest, "actor_token_type %q is not supported", actorType)
	case requested != "" && requested != oauth.TokenTypeAccessToken && requested != oauth.TokenTypeRefreshToken:
		return nil, oauth.New(oauth.InvalidRequest, "requested_token_type %q is not supported", requested)
	case actorTok == "" && !req.Client.TokenExchangeImpersonation:
		return nil, oauth.New(oauth.InvalidRequest, "actor_token is required: this client may not impersonate (token_exchange_impersonation)")
	}
	wantRefresh := requested == oauth.TokenTypeRefreshToken
	if wantRefresh && (!req.Client.TokenExchangeRefresh || !contains(req.Client.GrantTypes, GrantRefreshToken)) {
		return nil, oauth.New(oauth.InvalidRequest, "this client may not ask for refresh tokens by token exchange (token_exchange_refresh)")
	}

	subject, err := s.readExchangeToken(ctx, subjectTok, subjectType)
	if errors.Is(err, errTokenNotActive) || err == nil && !contains(subject.Audience, req.Client.ID) {
		return nil, errBadSubjectToken
	} else if err != nil {
		return nil, err
	}
	act := subject.Actor // impersonation keeps the prior actors: it never launders a delegation
	if actorTok != "" {
		actor, err := s.readExchangeToken(ctx, actorTok, actorType)
		if errors.Is(err, errTokenNotActive) {
			return nil, errBadActorToken
		} else if err != nil {
			return nil, err
		}
		act = &Actor{Subject: actor.Subject, Act: chainActors(actor.Actor, subject.Actor)}
		if !actor.User {
			act.ClientID = actor.ClientID
		}
	}
	if act.depth() > MaxActorDepth {
		return nil, oauth.New(oauth.InvalidRequest, "the delegation chain is longer than %d actors", MaxActorDepth)
	}

	if strings.TrimSpace(f.Get("scope")) == "" {
		scope = intersectScope(subject.Scope, req.Client.Scope)
	} else if scope, err = narrowScope(scope, subject.Scope); err != nil {
		return nil, err // invalid_scope: wider than the subject token's
	}
	aud := Audience(audience)
	if len(aud) == 0 {
		if len(req.Client.Audience) == 0 {
			return nil, oauth.New(oauth.InvalidTarget, "the client has no audience entries to exchange tokens for")
		}
		aud = req.Client.Audience
	}

	var user store.User
	if subject.User {
		if user, err = s.exchangeUser(ctx, subject); err != nil {
			return nil, err
		}
	}
	now := s.cfg.Now()
	if wantRefresh {
		switch {
		case !subject.User:
			return nil, oauth.New(oauth.InvalidRequest, "a refresh token needs a user subject: the subject_token is a client's")
		case act != nil:
			return nil, oauth.New(oauth.InvalidRequest, "a refresh token cannot carry a delegation (act): ask for an access token")
		}
		return s.exchangeRefresh(ctx, req.Client, subject, scope, aud, now)
	}
	claims := AccessClaims{Subject: subject.Subject, Audience: aud, Scope: scope, SID: subject.SID, Actor: act}
	if subject.User {
		claims.Roles, claims.AuthTime = user.Roles, subject.AuthTime
	}
	at, err := s.mintAccess(ctx, req.Client, now, claims)
	if err != nil {
		return nil, err
	}
	resp := s.bearer(at, scope)
	resp.IssuedTokenType = oauth.TokenTypeAccessToken
	return resp, nil
}

// exchangeUser reads the subject user: gone, or revoked after the subject
// token was issued (User.NotBefore, which outlives the denylist's subject
// watermark for ID tokens), is invalid_grant.
func (s *Service) exchangeUser(ctx context.Context, subject exchangeToken) (store.User, error) {
	user, err := s.cfg.Users.Lookup(ctx, subject.Subject)
	switch {
	case errors.Is(err, store.ErrNotFound):
		return store.User{}, errBadSubjectToken
	case err != nil:
		return store.User{}, storeError(err, "look up user")
	case !user.NotBefore.IsZero() && subject.IssuedAt <= user.NotBefore.Unix():
		return store.User{}, errBadSubjectToken
	}
	return user, nil
}

// exchangeRefresh issues requested_token_type refresh_token: a new login
// (refresh-token family) of the subject user for the requesting client,
// whose refresh grant then yields access tokens. The answer's access_token
// member holds the refresh token (RFC 8693 §2.2.1), token_type N_A.
func (s *Service) exchangeRefresh(ctx context.Context, c store.Client, subject exchangeToken, scope string, aud Audience, now time.Time) (*Response, error) {
	authTime := subject.AuthTime
	if authTime == 0 {
		authTime = subject.IssuedAt
	}
	fam, tok, err := s.newFamily(c, subject.Subject, scope, aud, time.Unix(authTime, 0), now)
	if err != nil {
		return nil, err
	}
	fam.JKT = familyBinding(ctx, c) // RFC 9449 §5 (dpop.go)
	if err := s.cfg.Families.CreateFamily(ctx, fam); err != nil {
		return nil, storeError(err, "create refresh family")
	}
	s.families.put(fam, now) // the first refresh skips the read too
	return &Response{
		AccessToken: tok, TokenType: oauth.TokenTypeNA, IssuedTokenType: oauth.TokenTypeRefreshToken,
		ExpiresIn: int64(fam.IdleExpiresAt.Sub(now) / time.Second), Scope: scope,
	}, nil
}

// intersectScope returns the scopes of a that b also has, in a's order.
func intersectScope(a, b string) string {
	allowed := strings.Fields(b)
	var out []string
	for _, s := range strings.Fields(a) {
		if contains(allowed, s) && !contains(out, s) {
			out = append(out, s)
		}
	}
	return strings.Join(out, " ")
}
