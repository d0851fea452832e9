package server

import (
	"context"
	"crypto/rand"
	"crypto/subtle"
	"encoding/base64"
	"net/http"
	"net/url"
	"strings"
	"time"

	"github.com/authd-dev/authd/logout"
	"github.com/authd-dev/authd/oauth"
)

// PathEndSession is the end_session_endpoint (OpenID Connect
// RP-Initiated Logout 1.0 §2); its confirmation form posts back to it.
const PathEndSession = "/oauth2/logout"

// LogoutFlow is the logout use case (package logout).
type LogoutFlow interface {
	Check(ctx context.Context, r logout.Request) (logout.Decision, error)
	End(ctx context.Context, sid string) (logout.Ended, error)
}

var _ LogoutFlow = (*logout.Service)(nil)

// logoutCSRFCookie is the double-submit token of the confirmation form,
// scoped to the endpoint.
const logoutCSRFCookie = "authd_logout_csrf"

// errLogoutCSRF: a confirmation not posted from authd's own page.
var errLogoutCSRF = oauth.New(oauth.InvalidRequest, "the sign-out form expired or came from another site; start again from the application")

// logoutParams are the request parameters of RP-Initiated Logout 1.0 §2
// that authd acts on; ui_locales and logout_hint are accepted and unused
// (one language; the session says who is signed in).
var logoutParams = []string{"id_token_hint", "client_id", "post_logout_redirect_uri", "state"}

// handleEndSession serves RP-initiated logout: the request by GET or
// form POST (§2), then the confirmation form's POST (decision=logout).
func (s *Server) handleEndSession(w http.ResponseWriter, r *http.Request) {
	q := r.URL.Query()
	if r.Method == http.MethodPost {
		if err := s.parseForm(w, r); err != nil {
			s.showError(w, r, err)
			return
		}
		q = r.PostForm
	}
	for _, p := range append(logoutParams, "decision", "request") {
		if len(q[p]) > 1 {
			s.showError(w, r, oauth.New(oauth.InvalidRequest, "parameter %q is repeated", p))
			return
		}
	}
	confirm := r.Method == http.MethodPost && q.Get("decision") != ""
	if confirm {
		// The request's parameters came back in the form's "request".
		sealed, err := url.ParseQuery(q.Get("request"))
		c, cerr := r.Cookie(logoutCSRFCookie)
		if err != nil || cerr != nil || len(c.Value) != 43 ||
			subtle.ConstantTimeCompare([]byte(c.Value), []byte(sealed.Get("csrf"))) != 1 {
			s.showError(w, r, errLogoutCSRF)
			return
		}
		decision := q.Get("decision")
		q = sealed
		if decision != "logout" {
			s.stillSignedIn(w, r, q)
			return
		}
	}
	d, err := s.cfg.Logout.Check(r.Context(), logout.Request{
		IDTokenHint: q.Get("id_token_hint"), ClientID: q.Get("client_id"),
		PostLogoutRedirectURI: q.Get("post_logout_redirect_uri"), State: q.Get("state"),
		Cookie: s.sessionCookie(r),
	})
	if err != nil {
		s.showError(w, r, err)
		return
	}
	if !d.Now && !confirm {
		s.confirmLogout(w, r, q, d)
		return
	}
	var ended logout.Ended
	if d.SessionID != "" {
		if ended, err = s.cfg.Logout.End(r.Context(), d.SessionID); err != nil {
			s.showError(w, r, err)
			return
		}
	}
	s.clearSessionCookie(w)
	var target string
	if d.RedirectURI != "" {
		// §3: back to the registered URI, with state when one was sent.
		target = d.RedirectURI
		if d.State != "" {
			sep := "?"
			if strings.Contains(target, "?") {
				sep = "&"
			}
			target += sep + url.Values{"state": {d.State}}.Encode()
		}
	}
	if target != "" && len(ended.Frontchannel) == 0 {
		w.Header().Set("Cache-Control", "no-store")
		http.Redirect(w, r, target, http.StatusSeeOther)
		return
	}
	s.signedOut(w, r, ended.Frontchannel, target, d.ClientName)
}

// frontchannelWait bounds how long the signed-out page waits for the
// front-channel logout iframes before it continues to the
// post_logout_redirect_uri (Front-Channel Logout 1.0 §4 leaves the
// timing to the OP).
const frontchannelWait = 3 * time.Second

// signedOut is the signed-out page. With front-channel logout URIs
// (Front-Channel Logout 1.0 §4) it loads each in a hidden iframe, its
// CSP frame-src naming exactly their origins, and then, when there is a
// post_logout_redirect_uri, continues there: by logout.js (served from
// 'self', the page's only script) as soon as every iframe has loaded or
// after frontchannelWait, whichever is first, so an RP whose logout page
// never answers cannot hold the browser. Without script, a
// <meta http-equiv="refresh"> of 0 s does the same once the page has
// completely loaded — its iframes included (HTML §7.11.1, "shared
// declarative refresh steps"), with no bound — and the Continue link by
// hand.
func (s *Server) signedOut(w http.ResponseWriter, r *http.Request, frames []string, target, client string) {
	p := page{Kind: "logout", Title: "You are signed out", Hint: "You can close this window.", Frames: frames}
	if target != "" {
		p.Continue, p.Client = target, clientView{Name: client}
		p.Hint = "Taking you back to the application…"
		if formTarget(target) != "" && (strings.HasPrefix(target, "https://") || strings.HasPrefix(target, "http://")) {
			p.Refresh = "0;url=" + target
			if len(frames) > 0 {
				p.Script, p.WaitMS = s.ui.script, frontchannelWait.Milliseconds()
			}
		}
	}
	s.renderPage(w, r, http.StatusOK, p, "")
}

// confirmLogout shows the confirmation (§2: the OP asks the End-User
// whether to log out when it cannot tell the request is theirs). The
// request's parameters and a CSRF token travel in the form's "request".
func (s *Server) confirmLogout(w http.ResponseWriter, r *http.Request, q url.Values, d logout.Decision) {
	csrf, cookie := s.logoutCSRF(r)
	if cookie != nil {
		http.SetCookie(w, cookie)
	}
	carry := url.Values{"csrf": {csrf}}
	for _, p := range logoutParams {
		if v := q.Get(p); v != "" {
			carry.Set(p, v)
		}
	}
	s.renderPage(w, r, http.StatusOK, page{Kind: "logout", Title: "Sign out?", Client: clientView{Name: d.ClientName},
		Action: s.issuerPath() + PathEndSession, Request: carry.Encode()}, d.RedirectURI)
}

// stillSignedIn answers "stay signed in": back to the client's registered
// post_logout_redirect_uri when the request named one, else a page.
func (s *Server) stillSignedIn(w http.ResponseWriter, r *http.Request, q url.Values) {
	d, err := s.cfg.Logout.Check(r.Context(), logout.Request{
		ClientID: q.Get("client_id"), IDTokenHint: q.Get("id_token_hint"),
		PostLogoutRedirectURI: q.Get("post_logout_redirect_uri"), State: q.Get("state"),
	})
	if err == nil && d.RedirectURI != "" {
		w.Header().Set("Cache-Control", "no-store")
		http.Redirect(w, r, d.RedirectURI, http.StatusSeeOther)
		return
	}
	s.renderPage(w, r, http.StatusOK, page{Kind: "logout", Title: "You are still signed in",
		Hint: "You can close this window and go back to the application."}, "")
}

// logoutCSRF returns the browser's logout CSRF value and, when it has
// none yet, the cookie that gives it one.
func (s *Server) logoutCSRF(r *http.Request) (string, *http.Cookie) {
	if c, err := r.Cookie(logoutCSRFCookie); err == nil && len(c.Value) == 43 {
		return c.Value, nil
	}
	v := newCSRFValue()
	return v, &http.Cookie{Name: logoutCSRFCookie, Value: v, Path: s.issuerPath() + PathEndSession, HttpOnly: true,
		Secure: strings.HasPrefix(s.cfg.Issuer, "https://"), SameSite: http.SameSiteLaxMode}
}

// clearSessionCookie removes the SSO session cookie.
func (s *Server) clearSessionCookie(w http.ResponseWriter) {
	name, path := s.sessionCookieName()
	http.SetCookie(w, &http.Cookie{Name: name, Value: "", Path: path, MaxAge: -1, HttpOnly: true,
		Secure: strings.HasPrefix(s.cfg.Issuer, "https://"), SameSite: http.SameSiteLaxMode})
}

// newCSRFValue is 256 random bits, base64url (43 characters).
func newCSRFValue() string {
	b := make([]byte, 32)
	rand.Read(b)
	return base64.RawURLEncoding.EncodeToString(b)
}
