package admin

import (
	"context"
	"errors"
	"time"

	"github.com/authd-dev/authd/oauth"
	"github.com/authd-dev/authd/store"
)

// Sessions is the part of the store that keeps SSO sessions.
type Sessions interface {
	GetSession(ctx context.Context, id string) (store.Session, error)
	ListSessions(ctx context.Context, userID string) ([]store.Session, error)
}

// SessionEnder logs a session out everywhere: its logins ended, the
// record deleted, its clients sent back-channel logout tokens
// (logout.Service.EndSession).
type SessionEnder interface {
	EndSession(ctx context.Context, sid string) error
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

func (s *Service) sessions() (Sessions, SessionEnder, error) {
	if s.cfg.Sessions == nil || s.cfg.Logout == nil {
		return nil, nil, errors.New("admin: sessions are not configured")
	}
	return s.cfg.Sessions, s.cfg.Logout, nil
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

// DeleteSession logs one of the user's sessions out everywhere, the way
// an RP-initiated logout does (package logout): the logins begun in it
// end, the session is deleted and its clients get back-channel logout
// tokens. A session of another user is not found.
func (s *Service) DeleteSession(ctx context.Context, userID, sid string) error {
	st, ender, err := s.sessions()
	if err != nil {
		return err
	}
	sess, err := st.GetSession(ctx, sid)
	if errors.Is(err, store.ErrNotFound) || err == nil && sess.UserID != userID {
		return errNoSession
	} else if err != nil {
		return err
	}
	return ender.EndSession(ctx, sid)
}
