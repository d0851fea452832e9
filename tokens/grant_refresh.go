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
//
// Everything that can fail (the login checks, scope and audience, signing
// the access token) runs before the rotation commits: a failure leaves the
// family untouched, so the client's honest retry with the same token is a
// normal rotation, never "reuse".
//
// A login this replica rotated last is checked against the family cache
// (familycache.go) instead of a read of the store; the rotation still
// judges the token against the family as stored, and a check that fails
// on the cached family is made again on a fresh read, which answers.
// Without a hit this is one store call more: the read.
func (s *Service) refresh(ctx context.Context, req *Request, _ string, _ []string) (*Response, error) {
	presented := req.Form.Get("refresh_token")
	if presented == "" {
		return nil, oauth.New(oauth.InvalidRequest, "refresh_token is required")
	}
	fid, ok := s.parseRefreshToken(presented, req.Client.ID)
	if !ok {
		return nil, errBadRefresh
	}
	if fam, ok := s.families.get(fid, s.cfg.Now()); ok && settledBinding(fam, req.Client) {
		resp, err := s.rotate(ctx, req, presented, fam, true)
		if !errors.Is(err, errStaleFamily) {
			return resp, err
		}
		s.families.drop(fid)
	}
	fam, err := s.liveFamily(ctx, fid, errBadRefresh)
	if err != nil {
		return nil, err
	}
	return s.rotate(ctx, req, presented, fam, false)
}

// rotate is the rest of refresh once the family is known: the checks, the
// access token and the rotation. With cached (fam came from the family
// cache) a refusal that the family's contents decide (binding, login
// ended, scope, audience) is errStaleFamily and ends nothing: the caller
// makes the checks again on a fresh read, whose refusal is the answer. A
// failure of what the family does not decide (reading the user, signing)
// is the answer either way; nothing has committed.
func (s *Service) rotate(ctx context.Context, req *Request, presented string, fam store.Family, cached bool) (*Response, error) {
	fid := fam.ID
	refused := func(err error) (*Response, error) {
		if cached {
			return nil, errStaleFamily
		}
		return nil, err
	}
	// RFC 9449 §5: a bound login refreshes only with a proof of its key;
	// refused here, before anything commits, it revokes nothing.
	if err := checkFamilyBinding(ctx, fam); err != nil {
		return refused(err)
	}
	user, err := s.checkLogin(ctx, req.Client, fam, GrantRefreshToken)
	if errors.Is(err, errLoginEnded) {
		if cached {
			return refused(err)
		}
		s.endFamily(ctx, fid)
		return nil, errBadRefresh
	} else if err != nil {
		return nil, err
	}
	// RFC 6749 §6: the scope may narrow, never widen; so may the audience.
	scope, err := narrowScope(req.Form.Get("scope"), fam.Scope)
	if err != nil {
		return refused(err)
	}
	aud := s.familyAudience(req.Client, fam)
	if len(req.Form["audience"]) > 0 || len(req.Form["resource"]) > 0 {
		if aud, err = checkAudience(req.Form, aud); err != nil {
			return refused(err)
		}
	}
	now := s.cfg.Now()
	at, err := s.mintAccess(ctx, req.Client, now, AccessClaims{
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

	next := s.newRefreshToken(req.Client.ID, fid)
	// The sealed successor only serves retries inside the leeway; without
	// a leeway it is not stored (60 bytes less per login).
	var sealed []byte
	if s.cfg.RefreshReuseLeeway > 0 {
		if sealed, err = sealSuccessor(presented, fid, next); err != nil {
			return nil, err
		}
	}
	// The commit: from here on the store's answer decides, cached or not.
	res, err := s.cfg.Families.RotateRefresh(ctx, store.Rotation{
		FamilyID:   fid,
		Presented:  digest(presented),
		Next:       digest(next),
		SealedNext: sealed,
		Now:        now,
		IdleTTL:    s.cfg.RefreshTokenTTL,
		Leeway:     s.cfg.RefreshReuseLeeway,
		MaxRetries: s.cfg.RefreshReuseMaxRetries,
		BindJKT:    newBinding(ctx, req.Client, fam), // "" on a cached family: settledBinding
	})
	if err != nil {
		s.families.drop(fid)
	}
	if err := s.rotateError(ctx, req, fam, err, errBadRefresh); err != nil {
		return nil, err
	}
	if res.Retried {
		if next, err = s.openSuccessor(presented, req.Client.ID, fid, res.Family.SealedCurrent); err != nil {
			return nil, err
		}
		s.metrics.retries.Inc()
	}
	s.families.put(res.Family, now)
	resp := s.bearer(at, scope)
	resp.RefreshToken = next
	return resp, nil
}

// liveFamily reads the family a refresh token or code names, before
// anything is committed. A missing family answers bad; a revoked one too,
// once its access tokens are surely denylisted.
func (s *Service) liveFamily(ctx context.Context, fid string, bad error) (store.Family, error) {
	fam, err := s.cfg.Families.GetFamily(ctx, fid)
	switch {
	case errors.Is(err, store.ErrNotFound):
		return store.Family{}, bad
	case err != nil:
		return store.Family{}, storeError(err, "read refresh family")
	case fam.Revoked:
		if err := s.ensureDenied(ctx, fid); err != nil {
			return store.Family{}, err
		}
		return store.Family{}, bad
	}
	return fam, nil
}

// rotateError maps the outcome of RotateRefresh; nil when it committed
// (or was an honoured retry).
func (s *Service) rotateError(ctx context.Context, req *Request, fam store.Family, err error, bad error) error {
	switch {
	case err == nil:
		return nil
	case errors.Is(err, store.ErrReused):
		if derr := s.reuseDetected(ctx, req, fam); derr != nil {
			return derr
		}
		return bad
	case errors.Is(err, store.ErrRevoked):
		// Revoked between our read and the rotation.
		if derr := s.ensureDenied(ctx, fam.ID); derr != nil {
			return derr
		}
		return bad
	case errors.Is(err, store.ErrNotFound):
		return bad
	default:
		return storeError(err, "rotate refresh token")
	}
}

// familyAudience is the audience a login's tokens carry: the one resolved
// when the login started (stored since issue 8), or, for a family stored
// before that without one, what it resolves to now.
func (s *Service) familyAudience(c store.Client, fam store.Family) Audience {
	return s.audienceFor(c, fam.Audience)
}

// endFamily revokes a family that can no longer be used; failures are
// logged, the request fails either way.
func (s *Service) endFamily(ctx context.Context, fid string) {
	s.families.drop(fid)
	if err := s.cfg.Families.RevokeFamily(ctx, fid); err != nil && !errors.Is(err, store.ErrNotFound) {
		s.cfg.Logger.WarnContext(ctx, "revoke refresh family", "sid", fid, "err", err)
	}
}
