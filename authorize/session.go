package authorize

import (
	"context"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"errors"
	"fmt"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/authd-dev/authd/oauth"
	"github.com/authd-dev/authd/store"
)

// Single sign-on sessions.
//
// A browser that signed in holds a cookie with 256 random bits; the store
// keeps the session under a digest of it (SessionID), so neither a copy of
// the store nor an ID token's sid gives the cookie. A valid session
// resolves the login prompt of any client's request, unless the request
// asks to authenticate again (OIDC Core §3.1.2.1: prompt=login, max_age
// exceeded, an id_token_hint naming another user). Every sign-in creates a
// new session under a new cookie (no fixation); one of the same user it
// replaces keeps its clients and families.

// Sessions is the part of the store that keeps SSO sessions.
type Sessions interface {
	CreateSession(ctx context.Context, s store.Session) error
	GetSession(ctx context.Context, id string) (store.Session, error)
	TouchSession(ctx context.Context, id string, t store.SessionTouch) (store.Session, error)
	DeleteSession(ctx context.Context, id string) (store.Session, error)
}

// IDTokenHints checks an id_token_hint for a client and returns its
// subject (tokens.Service.IDTokenHint).
type IDTokenHints interface {
	IDTokenHint(clientID, token string) (string, error)
}

// SessionCookie is the session cookie the HTTP layer sets after a
// sign-in: the value and when the session ends at the latest.
type SessionCookie struct {
	Value   string
	Expires time.Time
}

// SessionID is the store key (and sid) of the session a cookie value
// names: the base64url SHA-256 of the value.
func SessionID(cookie string) string {
	sum := sha256.Sum256([]byte(cookie))
	return base64.RawURLEncoding.EncodeToString(sum[:])
}

// newSecret is 32 random bytes, base64url.
func newSecret() string {
	b := make([]byte, 32)
	rand.Read(b)
	return base64.RawURLEncoding.EncodeToString(b)
}

// maxMaxAge caps max_age (a century), so that the comparison cannot
// overflow a time.Duration.
const maxMaxAge = 100 * 365 * 24 * 3600

// authParams are the request parameters of OIDC Core §3.1.2.1 that decide
// whether an existing session may be used.
type authParams struct {
	forceLogin bool  // prompt=login or select_account, or max_age=0
	maxAge     int64 // seconds; -1 when absent
	hintSub    string
}

// parseAuthParams reads prompt (already checked by parsePrompt), max_age,
// id_token_hint and login_hint. acr_values and ui_locales are accepted:
// one authentication method and one language are all authd has.
func (f *Flow) parseAuthParams(q url.Values, clientID string) (authParams, string, error) {
	p := authParams{maxAge: -1}
	for _, name := range []string{"max_age", "id_token_hint", "login_hint", "acr_values", "ui_locales"} {
		if len(q[name]) > 1 {
			return p, "", oauth.New(oauth.InvalidRequest, "parameter %q is repeated", name)
		}
	}
	for _, v := range strings.Fields(q.Get("prompt")) {
		if v == "login" || v == "select_account" { // one account to select: sign in again
			p.forceLogin = true
		}
	}
	if v, ok := q["max_age"]; ok {
		n, err := strconv.ParseInt(v[0], 10, 64)
		if err != nil || n < 0 {
			return p, "", oauth.New(oauth.InvalidRequest, "max_age must be a non-negative number of seconds")
		}
		p.maxAge = min(n, maxMaxAge)
		if n == 0 { // OIDC Core §3.1.2.1: max_age=0 is prompt=login
			p.forceLogin = true
		}
	}
	if h := q.Get("id_token_hint"); h != "" {
		if f.cfg.Hints == nil {
			return p, "", oauth.New(oauth.InvalidRequest, "id_token_hint is not supported")
		}
		sub, err := f.cfg.Hints.IDTokenHint(clientID, h)
		if err != nil {
			return p, "", oauth.New(oauth.InvalidRequest, "id_token_hint is not an ID token issued to this client").WithCause(err)
		}
		p.hintSub = sub
	}
	hint := q.Get("login_hint")
	if len(hint) > 256 {
		hint = ""
	}
	return p, hint, nil
}

// resume signs the interaction in with the browser's session when the
// request allows it. A store failure is returned; a missing or expired
// session is no session.
func (f *Flow) resume(ctx context.Context, it *interaction, p authParams, cookie string) error {
	if f.cfg.Sessions == nil || cookie == "" || len(cookie) > 128 {
		return nil
	}
	s, err := f.cfg.Sessions.GetSession(ctx, SessionID(cookie))
	switch {
	case errors.Is(err, store.ErrNotFound):
		return nil
	case err != nil:
		return fmt.Errorf("authorize: read session: %w", err)
	}
	now := f.cfg.Now()
	switch {
	case p.forceLogin:
		return nil
	case p.maxAge >= 0 && now.Sub(s.AuthTime) > time.Duration(p.maxAge)*time.Second:
		return nil // OIDC Core §3.1.2.1: authenticate again
	case p.hintSub != "" && p.hintSub != s.UserID:
		return nil // another user: login_required with prompt=none (§3.1.2.6)
	}
	it.req.Subject, it.req.AuthTime, it.req.SessionID = s.UserID, s.AuthTime.Unix(), s.ID
	return nil
}

// startSession creates the session of a sign-in under a new cookie; the
// session of the same user this browser had is folded into it and
// deleted (its clients and families carry over), another user's is left
// to expire.
func (f *Flow) startSession(ctx context.Context, it *interaction, user store.User, oldCookie string) error {
	if f.cfg.Sessions == nil {
		return nil
	}
	now := f.cfg.Now()
	cookie := newSecret()
	s := store.Session{
		ID: SessionID(cookie), UserID: user.ID, AuthTime: now.Truncate(time.Second), AMR: []string{oauth.AMRPassword}, ACR: oauth.ACRPassword,
		CreatedAt: now, LastActiveAt: now,
		ExpiresAt: now.Add(f.cfg.SessionMaxLifetime), IdleExpiresAt: now.Add(f.cfg.SessionIdleTTL),
	}
	if s.IdleExpiresAt.After(s.ExpiresAt) {
		s.IdleExpiresAt = s.ExpiresAt
	}
	if oldCookie != "" && len(oldCookie) <= 128 {
		if o, err := f.cfg.Sessions.GetSession(ctx, SessionID(oldCookie)); err == nil && o.UserID == user.ID {
			// Deleted first: DeleteSession hands over its families.
			gone, err := f.cfg.Sessions.DeleteSession(ctx, o.ID)
			if err != nil && !errors.Is(err, store.ErrNotFound) {
				return fmt.Errorf("authorize: replace session: %w", err)
			}
			s.Clients, s.Families = slices.Clone(gone.Clients), slices.Clone(gone.Families)
		}
	}
	if err := f.cfg.Sessions.CreateSession(ctx, s); err != nil {
		return fmt.Errorf("authorize: create session: %w", err)
	}
	it.req.SessionID = s.ID
	it.cookie = &SessionCookie{Value: cookie, Expires: s.ExpiresAt}
	return nil
}

// endSession deletes a session that no longer stands.
func (f *Flow) endSession(ctx context.Context, id string) error {
	if _, err := f.cfg.Sessions.DeleteSession(ctx, id); err != nil && !errors.Is(err, store.ErrNotFound) {
		return fmt.Errorf("authorize: end session: %w", err)
	}
	return nil
}

// touchSlackDivisor sets SessionTouch.Slack to a twentieth of the idle
// TTL: a known client's authorizations less than that apart leave the
// session record as it is, so the idle end may come up to 5% of the idle
// TTL early (72 min of the default 24 h), never late.
const touchSlackDivisor = 20

// enterSession records, before the code is issued, that the client gets
// a code in the session and the family the code begins, so that ending
// the session can end the login. ok false: the session ended meanwhile.
func (f *Flow) enterSession(ctx context.Context, it *interaction) (ok bool, err error) {
	if f.cfg.Sessions == nil || it.req.SessionID == "" {
		return true, nil
	}
	if it.req.FamilyID == "" {
		it.req.FamilyID = newSecret()[:22]
	}
	_, err = f.cfg.Sessions.TouchSession(ctx, it.req.SessionID, store.SessionTouch{
		Now: f.cfg.Now(), IdleTTL: f.cfg.SessionIdleTTL, Slack: f.cfg.SessionIdleTTL / touchSlackDivisor,
		ClientID: it.client.ID, FamilyID: it.req.FamilyID,
	})
	switch {
	case errors.Is(err, store.ErrNotFound):
		return false, nil
	case err != nil:
		return false, fmt.Errorf("authorize: touch session: %w", err)
	}
	return true, nil
}
