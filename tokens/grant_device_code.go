package tokens

import (
	"context"
	"errors"
	"strings"
	"time"

	"github.com/authd-dev/authd/oauth"
	"github.com/authd-dev/authd/store"
)

// GrantDeviceCode is the device authorization grant (RFC 8628 §3.4).
const GrantDeviceCode = oauth.GrantDeviceCode

// SessionReader reads an SSO session (store.SessionStore); a missing or
// ended one is store.ErrNotFound.
type SessionReader interface {
	GetSession(ctx context.Context, id string) (store.Session, error)
}

var errBadDeviceCode = oauth.New(oauth.InvalidGrant, "the device_code is invalid, was used, or belongs to another client")

// deviceCode is the device access token request (RFC 8628 §3.4): one
// store round trip (PollDeviceAuth) tells the state, applies slow_down and
// consumes an approved authorization, whose tokens are then issued as the
// code flow issues them. Every answer but success is a 400 of §3.5.
func (s *Service) deviceCode(ctx context.Context, req *Request, _ string, _ []string) (*Response, error) {
	code := req.Form.Get("device_code")
	if code == "" {
		return nil, oauth.New(oauth.InvalidRequest, "device_code is required")
	}
	if len(code) > 128 {
		return nil, errBadDeviceCode
	}
	now := s.cfg.Now()
	res, err := s.cfg.Devices.PollDeviceAuth(ctx, store.DevicePoll{DeviceDigest: deviceDigest(code), ClientID: req.Client.ID, Now: now})
	switch {
	case errors.Is(err, store.ErrNotFound):
		return nil, errBadDeviceCode
	case err != nil:
		return nil, storeError(err, "poll device authorization")
	case res.Expired:
		return nil, oauth.DeviceError(oauth.ExpiredToken, "the device_code has expired; start again")
	}
	switch res.Auth.State {
	case store.DeviceApproved:
		return s.issueDevice(ctx, req.Client, res.Auth, now)
	case store.DeviceDenied:
		return nil, oauth.DeviceError(oauth.AccessDenied, "the user denied the request")
	}
	if res.SlowDown {
		return nil, oauth.DeviceError(oauth.SlowDown, "polling too fast; wait %d seconds between requests", int64(res.Auth.Interval/time.Second))
	}
	return nil, oauth.DeviceError(oauth.AuthorizationPending, "the user has not answered yet")
}

// issueDevice starts the login of an approved device authorization, as
// the code flow's exchange does: a refresh-token family under the id the
// verification page recorded in the SSO session (a refresh token is
// returned only to a client with the refresh_token grant), an access token
// whose sid is the family, an ID token for the openid scope whose sid is
// the SSO session.
func (s *Service) issueDevice(ctx context.Context, c store.Client, a store.DeviceAuth, now time.Time) (*Response, error) {
	fid := a.FamilyID
	if fid == "" {
		fid = newID(16)
	}
	refresh := s.newRefreshToken(c.ID, fid)
	expires, idle := now.Add(s.cfg.RefreshTokenMaxLifetime), now.Add(s.cfg.RefreshTokenTTL)
	if idle.After(expires) {
		idle = expires
	}
	fam := store.Family{
		ID: fid, ClientID: c.ID, Subject: a.Subject, Scope: a.Scope, Audience: s.audienceFor(c, a.Audience),
		AuthTime: a.AuthTime, CreatedAt: now, ExpiresAt: expires, IdleExpiresAt: idle,
		Current: digest(refresh), SessionID: a.SessionID,
	}
	fam.JKT = familyBinding(ctx, c) // RFC 9449 §5 (dpop.go): a public client's login is bound to its proof's key
	if a.SessionID != "" && s.cfg.Sessions != nil {
		// The session the user approved in must still stand: logging it
		// out ends the logins begun in it, and this one was (it was
		// recorded in the session when the user approved).
		if _, err := s.cfg.Sessions.GetSession(ctx, a.SessionID); errors.Is(err, store.ErrNotFound) {
			return nil, errBadDeviceCode
		} else if err != nil {
			return nil, storeError(err, "read session")
		}
	}
	user, err := s.checkLogin(ctx, c, fam, GrantDeviceCode)
	if errors.Is(err, errLoginEnded) {
		return nil, errBadDeviceCode
	} else if err != nil {
		return nil, err
	}
	if err := s.cfg.Families.CreateFamily(ctx, fam); err != nil {
		return nil, storeError(err, "create refresh family")
	}
	s.families.put(fam, now) // the first refresh skips the read too
	at, err := s.mintAccess(ctx, c, now, AccessClaims{
		Subject: fam.Subject, Audience: fam.Audience, Scope: fam.Scope,
		AuthTime: fam.AuthTime.Unix(), Roles: user.Roles, SID: fam.ID,
	})
	if err != nil {
		return nil, err
	}
	resp := s.bearer(at, fam.Scope)
	if contains(strings.Fields(fam.Scope), oauth.ScopeOpenID) {
		if resp.IDToken, err = s.mintIDToken(c, user, fam, "", at, now, nil); err != nil {
			return nil, err
		}
	}
	if contains(c.GrantTypes, GrantRefreshToken) {
		resp.RefreshToken = refresh
	}
	return resp, nil
}
