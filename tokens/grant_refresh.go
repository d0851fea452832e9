package tokens

import (
	"context"
	"errors"

	"github.com/authd-dev/authd/oauth"
	"github.com/authd-dev/authd/store"
)

var errBadRefresh = oauth.New(oauth.InvalidGrant, "the refresh token is invalid, expired or revoked")

// refresh is RFC 6749 §6 with rotation: every use returns a new refresh
// token and ends the old one. Presenting a rotated token again outside the
// leeway revokes the whole family (RFC 9700 §4.14.2); inside the leeway the
// immediately previous token gets the same successor again, so a client
// that lost a response can retry without forking the login.
func (s *Service) refresh(ctx context.Context, req *Request, _ string, _ []string) (*Response, error) {
	presented := req.Form.Get("refresh_token")
	if presented == "" {
		return nil, oauth.New(oauth.InvalidRequest, "refresh_token is required")
	}
	fid, ok := s.parseRefreshToken(presented, req.Client.ID)
	if !ok {
		return nil, errBadRefresh
	}
	now := s.cfg.Now()
	next := s.newRefreshToken(req.Client.ID, fid)
	// The sealed successor only serves retries inside the leeway; without
	// a leeway it is not stored (60 bytes less per login).
	var sealed []byte
	if s.cfg.RefreshReuseLeeway > 0 {
		var err error
		if sealed, err = sealSuccessor(presented, fid, next); err != nil {
			return nil, err
		}
	}
	res, err := s.cfg.Families.RotateRefresh(ctx, store.Rotation{
		FamilyID:   fid,
		Presented:  digest(presented),
		Next:       digest(next),
		SealedNext: sealed,
		Now:        now,
		IdleTTL:    s.cfg.RefreshTokenTTL,
		Leeway:     s.cfg.RefreshReuseLeeway,
		MaxRetries: s.cfg.RefreshReuseMaxRetries,
	})
	switch {
	case errors.Is(err, store.ErrReused):
		s.reuseDetected(ctx, req, fid)
		return nil, errBadRefresh
	case errors.Is(err, store.ErrNotFound), errors.Is(err, store.ErrRevoked):
		return nil, errBadRefresh
	case err != nil:
		return nil, storeError(err, "rotate refresh token")
	}
	fam := res.Family
	if res.Retried {
		if next, err = s.openSuccessor(presented, req.Client.ID, fid, fam.SealedCurrent); err != nil {
			return nil, err
		}
	}

	// The login must still stand: same client, client not re-registered
	// since, user not deleted or revoked since it started.
	user, err := s.cfg.Users.Lookup(ctx, fam.Subject)
	switch {
	case errors.Is(err, store.ErrNotFound):
		s.endFamily(ctx, fid)
		return nil, errBadRefresh
	case err != nil:
		return nil, storeError(err, "look up user")
	}
	if fam.ClientID != req.Client.ID || req.Client.IssuedAt.After(fam.CreatedAt) ||
		(!user.NotBefore.IsZero() && !fam.CreatedAt.After(user.NotBefore)) {
		s.endFamily(ctx, fid)
		return nil, errBadRefresh
	}

	scope, err := narrowScope(req.Form.Get("scope"), fam.Scope)
	if err != nil {
		return nil, err
	}
	aud := Audience(fam.Audience)
	if requested := req.Form["audience"]; len(requested) > 0 || len(req.Form["resource"]) > 0 {
		narrowed, err := checkAudience(req.Form, fam.Audience)
		if err != nil {
			return nil, err
		}
		aud = narrowed
	}
	at, err := s.mintAccess(req.Client, now, AccessClaims{
		Subject:  fam.Subject,
		Audience: aud,
		Scope:    scope,
		AuthTime: fam.AuthTime.Unix(),
		Roles:    user.Roles,
		SID:      fid,
	})
	if err != nil {
		return nil, err
	}
	resp := s.bearer(at, scope)
	resp.RefreshToken = next
	if res.Retried {
		s.metrics.retries.Inc()
	}
	return resp, nil
}

// endFamily revokes a family that can no longer be used; failures are
// logged, the request fails either way.
func (s *Service) endFamily(ctx context.Context, fid string) {
	if err := s.cfg.Families.RevokeFamily(ctx, fid); err != nil && !errors.Is(err, store.ErrNotFound) {
		s.cfg.Logger.WarnContext(ctx, "revoke refresh family", "sid", fid, "err", err)
	}
}
