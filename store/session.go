package store

import (
	"context"
	"errors"
	"slices"
	"time"
)

// MaxSessionFamilies bounds Session.Families: past it, the oldest family
// ids are dropped (those logins then end by their own lifetimes, not with
// the session).
const MaxSessionFamilies = 256

// Session is a single sign-on session of one browser (OIDC Core §3.1.2.3:
// the End-User's authenticated session at the OP). Its ID is the "sid" of
// the ID tokens issued in it; it is a digest of the browser's cookie, so
// the store never holds the cookie itself.
type Session struct {
	ID     string `json:"id"`
	UserID string `json:"user_id"`
	// AuthTime is when the user last authenticated (OIDC Core §2 auth_time).
	AuthTime time.Time `json:"auth_time"`
	// AMR are the authentication methods used (RFC 8176), e.g. ["pwd"];
	// ACR the authentication context class reached.
	AMR          []string  `json:"amr,omitempty"`
	ACR          string    `json:"acr,omitempty"`
	CreatedAt    time.Time `json:"created_at"`
	LastActiveAt time.Time `json:"last_active_at"`
	// ExpiresAt is the absolute end (--session-max-lifetime);
	// IdleExpiresAt ends the session if it is not used (--session-idle-ttl).
	ExpiresAt     time.Time `json:"expires_at"`
	IdleExpiresAt time.Time `json:"idle_expires_at"`
	// Clients got codes in this session, in the order they first did;
	// Families are the refresh-token families begun in it (logout revokes
	// them), oldest first, at most MaxSessionFamilies. Families are kept
	// apart from the record every authorization reads: GetSession,
	// ListSessions and TouchSession return the session without them;
	// SessionFamilies and DeleteSession return them.
	Clients  []string `json:"clients,omitempty"`
	Families []string `json:"families,omitempty"`
}

// LiveUntil is the earlier of IdleExpiresAt and ExpiresAt (a zero one sets
// no bound), the one expiry rule both backends apply.
func (s Session) LiveUntil() time.Time {
	switch {
	case s.IdleExpiresAt.IsZero():
		return s.ExpiresAt
	case s.ExpiresAt.IsZero() || s.IdleExpiresAt.Before(s.ExpiresAt):
		return s.IdleExpiresAt
	default:
		return s.ExpiresAt
	}
}

// ExpiredAt reports whether the session is gone at now.
func (s Session) ExpiredAt(now time.Time) bool {
	end := s.LiveUntil()
	return !end.IsZero() && !now.Before(end)
}

// SessionTouch is one use of a session: a code issued to ClientID that
// begins FamilyID (either may be empty).
type SessionTouch struct {
	Now time.Time
	// IdleTTL is the new idle window, capped by the session's ExpiresAt.
	IdleTTL time.Duration
	// Slack spares the rewrite of the session record: when ClientID is
	// already recorded and LastActiveAt is less than Slack before Now,
	// LastActiveAt and IdleExpiresAt stay as they are (FamilyID is still
	// added). The idle end then comes at most Slack early, never late.
	Slack    time.Duration
	ClientID string
	FamilyID string
}

// Apply is the touch step both backends implement: LastActiveAt=Now,
// IdleExpiresAt=min(Now+IdleTTL, ExpiresAt), ClientID and FamilyID added
// once each; within Slack (see SessionTouch) only FamilyID. It reports
// whether the record other than Families changed.
func (t SessionTouch) Apply(s *Session) bool {
	changed := !t.fresh(*s)
	if changed {
		s.LastActiveAt = t.Now
		s.IdleExpiresAt = t.Now.Add(t.IdleTTL)
		if !s.ExpiresAt.IsZero() && s.IdleExpiresAt.After(s.ExpiresAt) {
			s.IdleExpiresAt = s.ExpiresAt
		}
		if t.ClientID != "" && !slices.Contains(s.Clients, t.ClientID) {
			s.Clients = append(s.Clients, t.ClientID)
		}
	}
	if t.FamilyID != "" && !slices.Contains(s.Families, t.FamilyID) {
		s.Families = append(s.Families, t.FamilyID)
		if n := len(s.Families) - MaxSessionFamilies; n > 0 {
			s.Families = slices.Delete(s.Families, 0, n)
		}
	}
	return changed
}

// fresh reports whether the touch may leave the record as it is.
func (t SessionTouch) fresh(s Session) bool {
	return t.Slack > 0 && t.Now.Sub(s.LastActiveAt) < t.Slack && !t.Now.Before(s.LastActiveAt) &&
		(t.ClientID == "" || slices.Contains(s.Clients, t.ClientID))
}

// ErrBadSession is wrapped by CreateSession for a record without an ID,
// a user or an ExpiresAt.
var ErrBadSession = errors.New("store: invalid session")

// Check reports whether s may be stored.
func (s Session) Check() error {
	if s.ID == "" || s.UserID == "" || s.ExpiresAt.IsZero() || len(s.ID) > 128 {
		return ErrBadSession
	}
	return nil
}

// SessionStore keeps SSO sessions. Records expire by themselves at
// LiveUntil; GetSession, ListSessions and DeleteSession judge expiry by
// the backend's clock, TouchSession by SessionTouch.Now.
type SessionStore interface {
	// CreateSession stores a new session; ErrExists if the ID is taken.
	CreateSession(ctx context.Context, s Session) error
	// GetSession returns a live session (without Families, in one read);
	// ErrNotFound if it is missing or expired.
	GetSession(ctx context.Context, id string) (Session, error)
	// TouchSession atomically applies t (SessionTouch.Apply) to a live
	// session and returns it as stored (without Families); ErrNotFound if
	// it is missing or expired at t.Now.
	TouchSession(ctx context.Context, id string, t SessionTouch) (Session, error)
	// SessionFamilies returns the families begun in a live session,
	// oldest first; ErrNotFound if it is missing or expired.
	SessionFamilies(ctx context.Context, id string) ([]string, error)
	// ListSessions returns the user's live sessions, oldest first.
	ListSessions(ctx context.Context, userID string) ([]Session, error)
	// DeleteSession removes the session and returns it as it was, with
	// its Families (for the caller to end what was begun in it);
	// ErrNotFound if it is missing or expired. A backend that deleted it
	// but cannot yet vouch for the delete (a durable Redis store whose
	// replicas did not acknowledge) returns the record together with an
	// ErrUnavailable error.
	DeleteSession(ctx context.Context, id string) (Session, error)
}
