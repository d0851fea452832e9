package tokens

import (
	"context"
	"errors"

	"github.com/authd-dev/authd/oauth"
	"github.com/authd-dev/authd/store"
)

// errLoginEnded says a login (refresh-token family) no longer stands: its
// user or client is gone, was re-created or was revoked since it started.
// Callers answer invalid_grant (or an inactive introspection) and never
// say which check failed.
var errLoginEnded = errors.New("tokens: the login no longer stands")

// ErrSignInEnded is wrapped by IssueCode's access_denied when the user's
// sign-in no longer stands (the user was deleted or revoked since): an
// SSO session that signed the request in must end, and the user sign in
// again.
var ErrSignInEnded = errors.New("tokens: the sign-in no longer stands")

// checkLogin applies the checks every use of a login makes, in one place:
// the refresh grant (RFC 6749 §6), the code exchange (§4.1.3), the refresh
// token's introspection (RFC 7662 §2.2) and IssueCode.
//
//   - the presenting client is the login's client, registered no later
//     than the login started (a deleted and re-created client gets a new
//     IssuedAt, and must not inherit the old one's logins);
//   - the client is still allowed grant;
//   - the user still exists and was not revoked since the login started:
//     User.NotBefore must be before the family's creation and must not
//     fall in a later second than the authentication (auth_time has a
//     precision of one second, so a revocation in the very second of the
//     sign-in does not end it; the creation time, kept to the microsecond,
//     still ends every family created before the revocation).
//
// It returns errLoginEnded (wrapped) when the login must end, or a store
// error when the user could not be read.
func (s *Service) checkLogin(ctx context.Context, c store.Client, fam store.Family, grant string) (store.User, error) {
	switch {
	case fam.ClientID != c.ID:
		return store.User{}, errLoginEnded
	case c.IssuedAt.After(fam.CreatedAt):
		return store.User{}, errLoginEnded
	case !contains(c.GrantTypes, grant):
		return store.User{}, errLoginEnded
	}
	user, err := s.cfg.Users.Lookup(ctx, fam.Subject)
	switch {
	case errors.Is(err, store.ErrNotFound):
		return store.User{}, errLoginEnded
	case err != nil:
		return store.User{}, storeError(err, "look up user")
	}
	if !user.NotBefore.IsZero() &&
		(!fam.CreatedAt.After(user.NotBefore) || fam.AuthTime.Unix() < user.NotBefore.Unix()) {
		return store.User{}, errLoginEnded
	}
	return user, nil
}

// ensureDenied makes sure the access tokens of a revoked login are on the
// denylist. A family can be revoked without its "sid" entry (reuse was
// detected but the deny write failed and the client saw 503): the next
// request that meets the revoked family completes the job. It reads first
// so that replaying a dead token does not write (nor feed) anything.
func (s *Service) ensureDenied(ctx context.Context, fid string) error {
	st, err := s.cfg.DenyReader.DenyState(ctx, store.DenyQuery{SID: fid})
	if err == nil && !st.SID.IsZero() {
		return nil
	}
	if err != nil && !errors.Is(err, store.ErrUnavailable) {
		return storeError(err, "read denylist")
	}
	if err := s.denySID(ctx, fid, s.cfg.Now()); err != nil {
		return denyFailed(err)
	}
	return nil
}

// denyFailed is the answer when a login's access tokens could not be put
// on the denylist: the request fails (503, retry later) rather than leave
// them active; the retry finishes the revocation.
func denyFailed(err error) error {
	e := oauth.New(oauth.TemporarilyUnavailable, "the token store is unavailable, retry later").WithCause(err)
	e.RetryAfter = 1
	return e
}
