// Package logout ends SSO sessions: RP-initiated logout (OpenID Connect
// RP-Initiated Logout 1.0), the admin API's session delete, and the
// back-channel logout tokens both send (OpenID Connect Back-Channel
// Logout 1.0).
package logout

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/url"
	"slices"

	"github.com/authd-dev/authd/authorize"
	"github.com/authd-dev/authd/clients"
	"github.com/authd-dev/authd/oauth"
	"github.com/authd-dev/authd/store"
	"github.com/authd-dev/authd/tokens"
)

// Sessions is the part of the store that keeps SSO sessions.
type Sessions interface {
	GetSession(ctx context.Context, id string) (store.Session, error)
	SessionFamilies(ctx context.Context, id string) ([]string, error)
	DeleteSession(ctx context.Context, id string) (store.Session, error)
}

// Logins ends refresh-token families and their access tokens
// (tokens.Service.EndLogins).
type Logins interface {
	EndLogins(ctx context.Context, fids []string) error
}

// Clients reads registered clients (clients.Registry.Get).
type Clients interface {
	Get(ctx context.Context, id string) (clients.Metadata, error)
}

// Hints checks an id_token_hint (tokens.Service.LogoutHint).
type Hints interface {
	LogoutHint(token string) (tokens.LogoutHint, error)
}

// Notifier queues a back-channel logout token (Backchannel.Send); it must
// not block.
type Notifier interface {
	Send(n Notice) bool
}

var (
	_ Hints    = (*tokens.Service)(nil)
	_ Logins   = (*tokens.Service)(nil)
	_ Clients  = (*clients.Registry)(nil)
	_ Notifier = (*Backchannel)(nil)
)

// Config configures a Service.
type Config struct {
	Sessions Sessions
	Logins   Logins
	Clients  Clients
	Hints    Hints
	// Backchannel sends logout tokens (nil: none are sent).
	Backchannel Notifier
	// DefaultAlg signs logout tokens of clients without an
	// id_token_signed_response_alg.
	DefaultAlg string
	// Issuer is the iss of front-channel logout URIs (Front-Channel
	// Logout 1.0 §2).
	Issuer string
	Logger *slog.Logger
}

// Service runs the logout use cases.
type Service struct{ cfg Config }

// New validates cfg and returns the Service.
func New(cfg Config) (*Service, error) {
	if cfg.Sessions == nil || cfg.Logins == nil || cfg.Clients == nil || cfg.Hints == nil || cfg.DefaultAlg == "" || cfg.Issuer == "" {
		return nil, errors.New("logout: Sessions, Logins, Clients, Hints, DefaultAlg and Issuer are required")
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.Default()
	}
	return &Service{cfg: cfg}, nil
}

// EndSession logs a session out everywhere (End, for callers that have
// no page to load front-channel logout URIs in: the admin API, "Not
// you?").
func (s *Service) EndSession(ctx context.Context, sid string) error {
	_, err := s.End(ctx, sid)
	return err
}

// Ended is what ending a session leaves the browser to do: the
// front-channel logout URIs of the session's clients (Front-Channel
// Logout 1.0 §4), each to be loaded in an iframe of the signed-out page.
type Ended struct {
	Frontchannel []string
}

// End logs a session out everywhere: first the logins begun in it
// (their refresh families revoked, their access tokens denied), then the
// session record, so that a failure leaves the session for the retry;
// then every client of the session with a backchannel_logout_uri is sent
// a logout token (queued: this never waits for a client), and the
// front-channel logout URIs of its clients are returned. A session
// already gone is not an error (another replica or request ended it and
// notified its clients).
func (s *Service) End(ctx context.Context, sid string) (Ended, error) {
	fams, err := s.cfg.Sessions.SessionFamilies(ctx, sid)
	if errors.Is(err, store.ErrNotFound) {
		return Ended{}, nil
	} else if err != nil {
		return Ended{}, fmt.Errorf("logout: read session: %w", err)
	}
	if err := s.cfg.Logins.EndLogins(ctx, fams); err != nil {
		return Ended{}, err
	}
	gone, err := s.cfg.Sessions.DeleteSession(ctx, sid)
	switch {
	case errors.Is(err, store.ErrNotFound):
		return Ended{}, nil
	case err != nil && gone.ID != "":
		// Deleted, but not yet held by enough replicas (a durable Redis
		// store: ErrUnavailable with the record). The clients are told
		// now — a retry would find the session gone and tell nobody —
		// and the caller gets the error (503: try again).
		s.notify(ctx, gone)
		return Ended{}, fmt.Errorf("logout: delete session: %w", err)
	case err != nil:
		return Ended{}, fmt.Errorf("logout: delete session: %w", err)
	}
	// Families a code added between the read and the delete.
	var late []string
	for _, f := range gone.Families {
		if !slices.Contains(fams, f) {
			late = append(late, f)
		}
	}
	if err := s.cfg.Logins.EndLogins(ctx, late); err != nil {
		return Ended{}, err
	}
	return s.notify(ctx, gone), nil
}

// notify queues a logout token for every client of the session that
// registered a backchannel_logout_uri (Back-Channel Logout 1.0 §2.5) and
// returns the front-channel logout URIs of those that registered one
// (Front-Channel Logout 1.0 §2: with iss and sid when the client asked
// for them with frontchannel_logout_session_required).
func (s *Service) notify(ctx context.Context, sess store.Session) Ended {
	var out Ended
	for _, id := range sess.Clients {
		c, err := s.cfg.Clients.Get(ctx, id)
		if err != nil {
			if !errors.Is(err, store.ErrNotFound) && oauth.As(err) == nil {
				s.cfg.Logger.WarnContext(ctx, "logout: read client", "client_id", id, "err", err)
			}
			continue
		}
		if c.FrontchannelLogoutURI != "" {
			out.Frontchannel = append(out.Frontchannel, s.frontchannelURI(c, sess.ID))
		}
		if c.BackchannelLogoutURI == "" || s.cfg.Backchannel == nil {
			continue
		}
		alg := c.IDTokenSignedAlg
		if alg == "" {
			alg = s.cfg.DefaultAlg
		}
		if !s.cfg.Backchannel.Send(Notice{URI: c.BackchannelLogoutURI, ClientID: id, Alg: alg, Subject: sess.UserID, SessionID: sess.ID}) {
			s.cfg.Logger.WarnContext(ctx, "back-channel logout queue full: logout token dropped", "client_id", id)
		}
	}
	return out
}

// frontchannelURI is the client's frontchannel_logout_uri, with the
// query parameters iss and sid added when it asked for them (§2; its
// own query is kept, as §2 allows one).
func (s *Service) frontchannelURI(c clients.Metadata, sid string) string {
	if !c.FrontchannelLogoutSessionRequired {
		return c.FrontchannelLogoutURI
	}
	u, err := url.Parse(c.FrontchannelLogoutURI)
	if err != nil { // validated at registration
		return c.FrontchannelLogoutURI
	}
	q := u.Query()
	q.Set("iss", s.cfg.Issuer)
	q.Set("sid", sid)
	u.RawQuery = q.Encode()
	return u.String()
}

// Request is an end_session request (RP-Initiated Logout 1.0 §2) and the
// browser's session cookie.
type Request struct {
	IDTokenHint           string
	ClientID              string
	PostLogoutRedirectURI string
	State                 string
	// Cookie is the browser's SSO session cookie ("" for none).
	Cookie string
}

// Decision is what an end_session request leads to.
type Decision struct {
	// Now: log out without asking (a valid id_token_hint for the
	// browser's session, or no session at all).
	Now bool
	// SessionID is the browser's live session ("" for none).
	SessionID string
	// ClientID and ClientName: the client the request is from, if known.
	ClientID, ClientName string
	// RedirectURI is the registered post_logout_redirect_uri to send the
	// browser to, with State (§3); "" for the signed-out page.
	RedirectURI, State string
}

// Maximum lengths of the request parameters.
const (
	maxParamLen = 2048
	maxHintLen  = 16384
)

// Check validates an end_session request (RP-Initiated Logout 1.0 §2,
// §3) and decides whether the logout may happen without asking: the
// id_token_hint must be an ID token authd issued (expired accepted), the
// client_id one of its audiences; a post_logout_redirect_uri must exactly
// match one the client registered, and needs the client to be known.
// Errors are *oauth.Error for the error page (never a redirect).
func (s *Service) Check(ctx context.Context, r Request) (Decision, error) {
	d := Decision{State: r.State}
	if len(r.ClientID) > maxParamLen || len(r.PostLogoutRedirectURI) > maxParamLen || len(r.State) > maxParamLen || len(r.IDTokenHint) > maxHintLen {
		return d, oauth.New(oauth.InvalidRequest, "a logout parameter is too long")
	}
	var hint *tokens.LogoutHint
	if r.IDTokenHint != "" {
		h, err := s.cfg.Hints.LogoutHint(r.IDTokenHint)
		if err != nil {
			return d, oauth.New(oauth.InvalidRequest, "id_token_hint is not an ID token this server issued").WithCause(err)
		}
		hint = &h
		switch {
		case r.ClientID != "" && !slices.Contains(h.Audience, r.ClientID):
			// §2: client_id must match the id_token_hint's audience.
			return d, oauth.New(oauth.InvalidRequest, "client_id is not an audience of id_token_hint")
		case r.ClientID == "" && len(h.Audience) == 1:
			r.ClientID = h.Audience[0]
		}
	}
	if r.ClientID != "" {
		c, err := s.cfg.Clients.Get(ctx, r.ClientID)
		if err != nil {
			if errors.Is(err, store.ErrNotFound) || oauth.As(err) != nil {
				return d, oauth.New(oauth.InvalidRequest, "unknown client_id")
			}
			return d, fmt.Errorf("logout: read client: %w", err)
		}
		d.ClientID, d.ClientName = c.ClientID, c.ClientName
		if r.PostLogoutRedirectURI != "" {
			// §3: exact match with a registered post_logout_redirect_uri.
			if !slices.Contains(c.PostLogoutRedirectURIs, r.PostLogoutRedirectURI) {
				return d, oauth.New(oauth.InvalidRequest, "post_logout_redirect_uri is not registered for this client")
			}
			d.RedirectURI = r.PostLogoutRedirectURI
		}
	} else if r.PostLogoutRedirectURI != "" {
		// §3: the OP must be able to tell which client's list to check.
		return d, oauth.New(oauth.InvalidRequest, "post_logout_redirect_uri needs id_token_hint or client_id")
	}
	if r.Cookie != "" && len(r.Cookie) <= 128 {
		sess, err := s.cfg.Sessions.GetSession(ctx, authorize.SessionID(r.Cookie))
		switch {
		case errors.Is(err, store.ErrNotFound):
		case err != nil:
			return d, fmt.Errorf("logout: read session: %w", err)
		default:
			d.SessionID = sess.ID
			// §2: with a hint for this session's user (and session, when
			// the hint names one) the End-User need not be asked.
			d.Now = hint != nil && hint.Subject == sess.UserID && (hint.SessionID == "" || hint.SessionID == sess.ID)
			return d, nil
		}
	}
	d.Now = true // no session to end: nothing to confirm
	return d, nil
}
