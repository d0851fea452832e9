package tokens

import (
	"context"
	"errors"
	"strings"
	"time"

	"github.com/authd-dev/authd/store"
)

// Revoke implements RFC 7009 §2.1 for the authenticated client. A refresh
// token revokes its whole login (and so the login's access tokens); an
// access token goes on the denylist until it expires. A token of another
// client, an unknown or malformed token: no effect, no error (§2.2). The
// hint only orders the attempts; it is never trusted.
func (s *Service) Revoke(ctx context.Context, client store.Client, token, hint string) error {
	if token == "" || len(token) > 8192 {
		return nil
	}
	tryAccess := func() (bool, error) {
		claims, ok := s.verifyAccess(token)
		if !ok {
			return false, nil
		}
		if claims.ClientID != client.ID {
			return true, nil // not this client's token: no effect
		}
		now := s.cfg.Now()
		exp := time.Unix(claims.ExpiresAt, 0)
		if !exp.After(now) {
			return true, nil
		}
		err := s.cfg.Deny.Deny(ctx, store.Denial{Kind: store.DenyJTI, Value: claims.ID, At: now, ExpiresAt: exp})
		return true, err
	}
	tryRefresh := func() (bool, error) {
		fid, ok := s.parseRefreshToken(token, client.ID)
		if !ok {
			return false, nil
		}
		return true, s.revokeFamily(ctx, fid)
	}
	first, second := tryAccess, tryRefresh
	if hint == "refresh_token" || strings.Count(token, ".") != 2 {
		first, second = tryRefresh, tryAccess
	}
	done, err := first()
	if err == nil && !done {
		_, err = second()
	}
	if err != nil {
		return storeError(err, "revoke token")
	}
	return nil
}

// revokeFamily ends a login: the family is marked revoked and its access
// tokens are denylisted by sid.
func (s *Service) revokeFamily(ctx context.Context, fid string) error {
	if err := s.cfg.Families.RevokeFamily(ctx, fid); err != nil {
		if errors.Is(err, store.ErrNotFound) {
			return nil
		}
		return err
	}
	return s.denySID(ctx, fid, s.cfg.Now())
}
