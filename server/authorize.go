package server

import (
	"context"
	"crypto/rand"
	"encoding/base64"
	"net/http"
	"net/url"
	"strings"

	"github.com/authd-dev/authd/authorize"
)

// PathAuthorize is the authorization endpoint (RFC 6749 §3.1); its login
// and consent forms post to PathAuthorize + "/login".
const PathAuthorize = "/oauth2/authorize"

// BrowserFlow is the authorization-code flow's domain state machine
// (package authorize): each step returns an outcome to render.
type BrowserFlow interface {
	AuthorizeBrowser(ctx context.Context, q url.Values, b authorize.Browser) authorize.Outcome
	Continue(ctx context.Context, in authorize.Input) authorize.Outcome
}

var _ BrowserFlow = (*authorize.Flow)(nil)

const csrfCookie = "authd_csrf"

// parReloadCookie holds the reload ticket of the last pushed request the
// browser used (authorize.Flow.AuthorizeBrowser, RFC 9126 §4).
const parReloadCookie = "authd_par"

// handleAuthorize starts the flow (RFC 6749 §4.1.1, OIDC Core §3.1.2.1):
// the request comes as a query, or as a form (OIDC Core §3.1.2.1 allows
// POST).
func (s *Server) handleAuthorize(w http.ResponseWriter, r *http.Request) {
	q := r.URL.Query()
	if r.Method == http.MethodPost {
		if err := s.parseForm(w, r); err != nil {
			s.showError(w, r, err)
			return
		}
		q = r.PostForm
	}
	csrf, cookie := s.csrfToken(r)
	b := authorize.Browser{CSRF: csrf, Session: s.sessionCookie(r)}
	if c, err := r.Cookie(parReloadCookie); err == nil {
		b.PushedReload = c.Value
	}
	out := s.cfg.Flow.AuthorizeBrowser(r.Context(), q, b)
	if out.Page != nil && cookie != nil {
		http.SetCookie(w, cookie)
	}
	if out.Page != nil && out.PushedReload != "" {
		// RFC 9126 §4: this browser may reload the authorization URL of
		// the pushed request it just used, until the request expires.
		http.SetCookie(w, &http.Cookie{Name: parReloadCookie, Value: out.PushedReload, Path: s.issuerPath() + PathAuthorize,
			Expires: out.PushedReloadExpires, HttpOnly: true, Secure: strings.HasPrefix(s.cfg.Issuer, "https://"),
			SameSite: http.SameSiteLaxMode})
	}
	s.render(w, r, out)
}

// handleLogin takes the login form, then the consent form.
func (s *Server) handleLogin(w http.ResponseWriter, r *http.Request) {
	if err := s.parseForm(w, r); err != nil {
		s.showError(w, r, err)
		return
	}
	in := authorize.Input{
		Request:  r.PostForm.Get("request"),
		Username: r.PostForm.Get("username"),
		Password: r.PostForm.Get("password"),
		Decision: r.PostForm.Get("decision"),
		RemoteIP: s.clientIP(r),
	}
	if c, err := r.Cookie(csrfCookie); err == nil {
		in.CSRF = c.Value
	}
	in.Session = s.sessionCookie(r)
	out := s.cfg.Flow.Continue(r.Context(), in)
	switch {
	case out.SetSession != nil:
		http.SetCookie(w, s.newSessionCookie(out.SetSession))
	case out.EndedSession: // "Not you?"
		s.clearSessionCookie(w)
	}
	s.render(w, r, out)
}

// render is the one renderer of the flow's outcomes: a page, a redirect
// with the code, or a failure — redirected to the client only when the
// flow says it may be (RFC 6749 §4.1.2.1), shown otherwise.
func (s *Server) render(w http.ResponseWriter, r *http.Request, out authorize.Outcome) {
	switch {
	case out.Page != nil:
		s.showPage(w, r, out.Page)
	case out.Redirect != nil:
		s.answerClient(w, r, *out.Redirect, out.Redirect.Params) // formpost.go
	case out.Failure != nil && out.Failure.Back != nil:
		s.answerClientError(w, r, *out.Failure.Back, out.Failure.Err)
	case out.Failure != nil:
		s.showError(w, r, out.Failure.Err)
	default:
		s.showError(w, r, errEmptyOutcome)
	}
}

// csrfToken returns the browser's CSRF value for the authorization pages
// and, when it has none yet, the cookie that gives it one.
func (s *Server) csrfToken(r *http.Request) (string, *http.Cookie) {
	return s.csrfCookieValue(r, csrfCookie, PathAuthorize)
}

// csrfCookieValue returns the value of the CSRF cookie name, scoped to
// path under the issuer, or a fresh one and the cookie that sets it.
func (s *Server) csrfCookieValue(r *http.Request, name, path string) (string, *http.Cookie) {
	if c, err := r.Cookie(name); err == nil && len(c.Value) == 43 {
		return c.Value, nil
	}
	b := make([]byte, 32)
	rand.Read(b)
	v := base64.RawURLEncoding.EncodeToString(b)
	return v, &http.Cookie{Name: name, Value: v, Path: s.issuerPath() + path, HttpOnly: true,
		Secure: strings.HasPrefix(s.cfg.Issuer, "https://"), SameSite: http.SameSiteLaxMode}
}

// issuerPath is the path part of the issuer: behind a proxy that mounts
// authd under a prefix, the browser must use that prefix.
func (s *Server) issuerPath() string {
	u, err := url.Parse(s.cfg.Issuer)
	if err != nil {
		return ""
	}
	return strings.TrimSuffix(u.Path, "/")
}

// loginAction is where the login and consent forms post.
func (s *Server) loginAction() string { return s.issuerPath() + PathAuthorize + "/login" }

// The SSO session cookie: HttpOnly, SameSite=Lax (the redirect back from
// a client is a top-level GET), Secure on an https issuer. With an https
// issuer at the root it is named with the __Host- prefix (RFC 6265bis
// §4.1.3.2: Secure, Path=/, no Domain), so no sibling host can set it;
// otherwise it is scoped to the issuer's path.
const (
	sessionCookieHost  = "__Host-authd_session"
	sessionCookiePlain = "authd_session"
)

func (s *Server) sessionCookieName() (name, path string) {
	p := s.issuerPath()
	if strings.HasPrefix(s.cfg.Issuer, "https://") && p == "" {
		return sessionCookieHost, "/"
	}
	if p == "" {
		p = "/"
	}
	return sessionCookiePlain, p
}

// sessionCookie is the browser's session cookie value, "" for none.
func (s *Server) sessionCookie(r *http.Request) string {
	name, _ := s.sessionCookieName()
	if c, err := r.Cookie(name); err == nil {
		return c.Value
	}
	return ""
}

func (s *Server) newSessionCookie(sc *authorize.SessionCookie) *http.Cookie {
	name, path := s.sessionCookieName()
	return &http.Cookie{Name: name, Value: sc.Value, Path: path, Expires: sc.Expires, HttpOnly: true,
		Secure: strings.HasPrefix(s.cfg.Issuer, "https://"), SameSite: http.SameSiteLaxMode}
}
