package tokens

import (
	"context"
	"time"

	"github.com/authd-dev/authd/oauth"
	"github.com/authd-dev/authd/store"
)

// password is the resource owner password credentials grant (RFC 6749
// §4.3). The users service throttles attempts per username and client
// address and bounds the hashing; a wrong username and a wrong password
// get the same answer.
func (s *Service) password(ctx context.Context, req *Request, scope string, audience []string) (*Response, error) {
	username, password := req.Form.Get("username"), req.Form.Get("password")
	if username == "" || password == "" {
		return nil, oauth.New(oauth.InvalidRequest, "username and password are required")
	}
	user, err := s.Login(ctx, username, password, req.RemoteIP)
	if err != nil {
		return nil, err
	}
	return s.issueForUser(ctx, req.Client, user, scope, s.audienceFor(req.Client, audience), s.cfg.Now())
}

// Login checks a resource owner's password for the password grant and the
// login form of the authorization endpoint (users.Service.Login): a wrong
// username or password is invalid_grant, a throttled attempt slow_down
// (429, Retry-After) and a full hashing budget temporarily_unavailable
// (503, Retry-After), both without checking the password.
func (s *Service) Login(ctx context.Context, username, password, remoteIP string) (store.User, error) {
	user, err := s.cfg.Users.Login(ctx, username, password, remoteIP)
	if err != nil {
		if oauth.As(err) != nil {
			return store.User{}, err
		}
		return store.User{}, storeError(err, "log in")
	}
	return user, nil
}

// issueForUser starts a login: a new refresh-token family (when the client
// may refresh) and the first access token.
func (s *Service) issueForUser(ctx context.Context, c store.Client, u store.User, scope string, aud Audience, authTime time.Time) (*Response, error) {
	now := s.cfg.Now()
	claims := AccessClaims{
		Subject:  u.ID,
		Audience: aud,
		Scope:    scope,
		AuthTime: authTime.Unix(),
		Roles:    u.Roles,
	}
	var refresh string
	if contains(c.GrantTypes, GrantRefreshToken) {
		fam, tok, err := s.newFamily(c, u.ID, scope, aud, authTime, now)
		if err != nil {
			return nil, err
		}
		fam.JKT = familyBinding(ctx, c) // RFC 9449 §5 (dpop.go)
		if err := s.cfg.Families.CreateFamily(ctx, fam); err != nil {
			return nil, storeError(err, "create refresh family")
		}
		s.families.put(fam, now) // the first refresh skips the read too
		claims.SID = fam.ID
		refresh = tok
	} else {
		claims.SID = newID(16) // a session id even without refresh tokens
	}
	at, err := s.mintAccess(ctx, c, now, claims)
	if err != nil {
		return nil, err
	}
	resp := s.bearer(at, scope)
	resp.RefreshToken = refresh
	return resp, nil
}
