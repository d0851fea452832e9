package tokens

import (
	"context"
	"errors"
	"math"
	"time"

	"github.com/authd-dev/authd/oauth"
	"github.com/authd-dev/authd/store"
)

// ErrInvalidCredentials is what Users.Authenticate returns (wrapped) for a
// wrong username or password; the wiring maps the users package's own
// sentinel to it.
var ErrInvalidCredentials = errors.New("invalid credentials")

// password is the resource owner password credentials grant (RFC 6749
// §4.3). Failed logins are throttled per username and client address; a
// wrong username and a wrong password get the same answer.
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

// Login checks a resource owner's password, throttling failures per
// username and client address. A wrong username and a wrong password get
// the same invalid_grant; a throttled attempt gets slow_down (429) with a
// retry-after, without checking the password.
func (s *Service) Login(ctx context.Context, username, password, remoteIP string) (store.User, error) {
	if s.cfg.Throttle != nil {
		if ok, wait := s.cfg.Throttle.Allow(username, remoteIP); !ok {
			e := oauth.New(oauth.SlowDown, "too many failed logins, retry later")
			e.RetryAfter = int(math.Ceil(wait.Seconds()))
			return store.User{}, e
		}
	}
	user, err := s.cfg.Users.Authenticate(ctx, username, password)
	switch {
	case err == nil:
		if s.cfg.Throttle != nil {
			s.cfg.Throttle.Success(username)
		}
		return user, nil
	case errors.Is(err, ErrInvalidCredentials):
		if s.cfg.Throttle != nil {
			s.cfg.Throttle.Failure(username, remoteIP)
		}
		return store.User{}, oauth.New(oauth.InvalidGrant, "invalid username or password")
	default:
		return store.User{}, storeError(err, "authenticate user")
	}
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
		if err := s.cfg.Families.CreateFamily(ctx, fam); err != nil {
			return nil, storeError(err, "create refresh family")
		}
		claims.SID = fam.ID
		refresh = tok
	} else {
		claims.SID = newID(16) // a session id even without refresh tokens
	}
	at, err := s.mintAccess(c, now, claims)
	if err != nil {
		return nil, err
	}
	resp := s.bearer(at, scope)
	resp.RefreshToken = refresh
	return resp, nil
}
