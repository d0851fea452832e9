package admin

import (
	"context"
	"errors"
	"slices"
	"time"

	"github.com/authd-dev/authd/oauth"
	"github.com/authd-dev/authd/store"
)

// Sessions is the part of the store that keeps SSO sessions.
type Sessions interface {
	GetSession(ctx context.Context, id string) (store.Session, error)
	ListSessions(ctx context.Context, userID string) ([]store.Session, error)
	SessionFamilies(ctx context.Context, id string) ([]string, error)
	DeleteSession(ctx context.Context, id string) (store.Session, error)
}

// Logins ends refresh-token families and their access tokens
// (tokens.Service.EndLogins).
type Logins interface {
	EndLogins(ctx context.Context, fids []string) error
}

// SessionView is a session as the admin API shows it.
type SessionView struct {
	ID           string    `json:"id"`
	AuthTime     time.Time `json:"auth_time"`
	AMR          []string  `json:"amr"`
	CreatedAt    time.Time `json:"created_at"`
	LastActiveAt time.Time `json:"last_active_at"`
	// ExpiresAt is when the session ends if it is not used again: the
	// earlier of its idle and absolute ends.
	ExpiresAt time.Time `json:"expires_at"`
	Clients   []string  `json:"clients"`
}

var errNoSession = oauth.New(oauth.NotFound, "no such session")

func (s *Service) sessions() (Sessions, Logins, error) {
	if s.cfg.Sessions == nil || s.cfg.Logins == nil {
		return nil, nil, errors.New("admin: sessions are not configured")
	}
	return s.cfg.Sessions, s.cfg.Logins, nil
}

// ListSessions returns the user's live SSO sessions, oldest first (404 if
// there is no such user).
func (s *Service) ListSessions(ctx context.Context, userID string) ([]SessionView, error) {
	st, _, err := s.sessions()
	if err != nil {
		return nil, err
	}
	if _, err := s.cfg.Users.Get(ctx, userID); err != nil {
		return nil, err
	}
	list, err := st.ListSessions(ctx, userID)
	if err != nil {
		return nil, err
	}
	out := make([]SessionView, 0, len(list))
	for _, x := range list {
		v := SessionView{ID: x.ID, AuthTime: x.AuthTime, AMR: x.AMR, CreatedAt: x.CreatedAt,
			LastActiveAt: x.LastActiveAt, ExpiresAt: x.LiveUntil(), Clients: x.Clients}
		if v.Clients == nil {
			v.Clients = []string{}
		}
		if v.AMR == nil {
			v.AMR = []string{}
		}
		out = append(out, v)
	}
	return out, nil
}

// DeleteSession ends one of the user's sessions: first the logins begun
// in it (their refresh families revoked, their access tokens denied), then
// the session itself, so a failure leaves it for the retry. A session of
// another user is not found. Back-channel logout is not sent yet.
func (s *Service) DeleteSession(ctx context.Context, userID, sid string) error {
	st, logins, err := s.sessions()
	if err != nil {
		return err
	}
	sess, err := st.GetSession(ctx, sid)
	if errors.Is(err, store.ErrNotFound) || err == nil && sess.UserID != userID {
		return errNoSession
	} else if err != nil {
		return err
	}
	fams, err := st.SessionFamilies(ctx, sid)
	if err := ignoreNotFound(err); err != nil {
		return err
	}
	if err := logins.EndLogins(ctx, fams); err != nil {
		return err
	}
	gone, err := st.DeleteSession(ctx, sid)
	if err := ignoreNotFound(err); err != nil {
		return err
	}
	// Families a code added between the read and the delete.
	var late []string
	for _, f := range gone.Families {
		if !slices.Contains(fams, f) {
			late = append(late, f)
		}
	}
	return logins.EndLogins(ctx, late)
}
