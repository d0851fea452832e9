package server

import (
	"context"
	"crypto/rand"
	"crypto/subtle"
	"encoding/base64"
	"errors"
	"html/template"
	"net/http"
	"net/url"
	"slices"
	"strconv"
	"strings"

	"github.com/authd-dev/authd/oauth"
	"github.com/authd-dev/authd/store"
	"github.com/authd-dev/authd/tokens"
)

// Paths of the OpenID Connect endpoints.
const (
	PathAuthorize = "/oauth2/authorize"
	PathUserInfo  = "/oauth2/userinfo"
)

// Authorizer runs the authorization-code flow's domain steps.
type Authorizer interface {
	ValidateAuthorize(c store.Client, q url.Values) (tokens.AuthRequest, error)
	SealRequest(r tokens.AuthRequest) (string, error)
	OpenRequest(text string) (tokens.AuthRequest, bool)
	IssueCode(ctx context.Context, c store.Client, r tokens.AuthRequest) (string, error)
	Login(ctx context.Context, username, password, remoteIP string) (store.User, error)
	UserInfo(ctx context.Context, accessToken string) (map[string]any, error)
}

// ClientLookup reads a registered client.
type ClientLookup interface {
	Lookup(ctx context.Context, id string) (store.Client, error)
}

const csrfCookie = "authd_csrf"

var pages = template.Must(template.New("page").Parse(`<!doctype html>
<html lang="en"><head><meta charset="utf-8"><meta name="viewport" content="width=device-width">
<title>{{.Title}}</title>
<style>body{font-family:system-ui,sans-serif;max-width:22rem;margin:4rem auto;padding:0 1rem;color:#222}
h1{font-size:1.3rem}label{display:block;margin:.8rem 0 .2rem}input[type=text],input[type=password]{width:100%;padding:.5rem;box-sizing:border-box}
button{margin-top:1rem;padding:.5rem 1rem}.error{color:#a00}.scopes{background:#f4f4f4;padding:.5rem}</style></head><body>
<h1>{{.Title}}</h1>
{{if .Error}}<p class="error" role="alert">{{.Error}}</p>{{end}}
{{if eq .Kind "login"}}
<p>Sign in to continue to <strong>{{.Client}}</strong>.</p>
<form method="post" action="{{.Action}}">
<input type="hidden" name="request" value="{{.Request}}">
<label for="username">Username</label><input id="username" type="text" name="username" autocomplete="username" autofocus required value="{{.Username}}">
<label for="password">Password</label><input id="password" type="password" name="password" autocomplete="current-password" required>
<button type="submit">Sign in</button>
</form>
{{else if eq .Kind "consent"}}
<p><strong>{{.Client}}</strong> asks for access to your account{{if .Scopes}} with these permissions:{{end}}</p>
{{if .Scopes}}<p class="scopes">{{range .Scopes}}{{.}} {{end}}</p>{{end}}
<form method="post" action="{{.Action}}">
<input type="hidden" name="request" value="{{.Request}}">
<button type="submit" name="decision" value="allow">Allow</button>
<button type="submit" name="decision" value="deny">Deny</button>
</form>
{{end}}
</body></html>
`))

type page struct {
	Kind, Title, Error, Client, Action, Request, Username string
	Scopes                                                []string
}

// renderPage writes an HTML page that must never be cached or framed.
func (s *Server) renderPage(w http.ResponseWriter, status int, p page) {
	h := w.Header()
	h.Set("Content-Type", "text/html; charset=utf-8")
	h.Set("Cache-Control", "no-store")
	h.Set("X-Frame-Options", "DENY")
	h.Set("Content-Security-Policy", "default-src 'none'; style-src 'unsafe-inline'; frame-ancestors 'none'")
	h.Set("Referrer-Policy", "no-referrer")
	w.WriteHeader(status)
	pages.Execute(w, p)
}

// showError renders an error that must not go back to the client: the
// client or redirect_uri could not be trusted (RFC 6749 §4.1.2.1).
func (s *Server) showError(w http.ResponseWriter, r *http.Request, err error) {
	e := oauth.As(err)
	if e == nil {
		s.log.ErrorContext(r.Context(), "authorization failed", "err", err)
		e = oauth.New(oauth.ServerError, "internal error")
	}
	status := e.Status
	if e.Code == oauth.TemporarilyUnavailable {
		status = http.StatusServiceUnavailable
	}
	s.renderPage(w, status, page{Kind: "error", Title: "Sign-in failed", Error: e.Description})
}

// redirect sends the browser back to the client (303, so the POST is not
// repeated) with params, state and iss (RFC 9207).
func (s *Server) redirect(w http.ResponseWriter, r *http.Request, req tokens.AuthRequest, params url.Values) {
	if req.State != "" {
		params.Set("state", req.State)
	}
	params.Set("iss", s.cfg.Issuer)
	target := req.RedirectURI
	sep := "?"
	if strings.Contains(target, "?") {
		sep = "&"
	}
	w.Header().Set("Cache-Control", "no-store")
	http.Redirect(w, r, target+sep+params.Encode(), http.StatusSeeOther)
}

func (s *Server) redirectError(w http.ResponseWriter, r *http.Request, req tokens.AuthRequest, e *oauth.Error) {
	p := url.Values{"error": {e.Code}}
	if e.Description != "" {
		p.Set("error_description", e.Description)
	}
	s.redirect(w, r, req, p)
}

// csrfToken returns the browser's CSRF token, setting a new cookie if it
// has none.
func (s *Server) csrfToken(w http.ResponseWriter, r *http.Request) string {
	if c, err := r.Cookie(csrfCookie); err == nil && len(c.Value) == 43 {
		return c.Value
	}
	b := make([]byte, 32)
	rand.Read(b)
	v := base64.RawURLEncoding.EncodeToString(b)
	http.SetCookie(w, &http.Cookie{Name: csrfCookie, Value: v, Path: s.issuerPath() + PathAuthorize, HttpOnly: true,
		Secure: strings.HasPrefix(s.cfg.Issuer, "https://"), SameSite: http.SameSiteLaxMode})
	return v
}

// handleAuthorize starts the authorization-code flow (RFC 6749 §4.1.1,
// OIDC Core §3.1.2): it validates the request and shows the login page.
func (s *Server) handleAuthorize(w http.ResponseWriter, r *http.Request) {
	q := r.URL.Query()
	if r.Method == http.MethodPost {
		if err := s.parseForm(w, r); err != nil {
			s.showError(w, r, err)
			return
		}
		q = r.PostForm
	}
	client, err := s.cfg.ClientLookup.Lookup(r.Context(), q.Get("client_id"))
	if err != nil {
		if errors.Is(err, store.ErrNotFound) || q.Get("client_id") == "" {
			err = oauth.New(oauth.InvalidRequest, "unknown client_id")
		}
		s.showError(w, r, err)
		return
	}
	req, err := s.cfg.Authorizer.ValidateAuthorize(client, q)
	var re *tokens.RedirectError
	switch {
	case errors.As(err, &re):
		s.redirectError(w, r, req, re.Err)
		return
	case err != nil:
		s.showError(w, r, err)
		return
	}
	if q.Get("prompt") == "none" { // no single sign-on session to reuse
		s.redirectError(w, r, req, oauth.New("login_required", "the user must sign in"))
		return
	}
	req.CSRF = s.csrfToken(w, r)
	sealed, err := s.cfg.Authorizer.SealRequest(req)
	if err != nil {
		s.showError(w, r, err)
		return
	}
	s.renderPage(w, http.StatusOK, page{Kind: "login", Title: "Sign in", Client: clientName(client), Action: s.loginAction(), Request: sealed})
}

// handleLogin takes the login form, then the consent form, and ends with
// a redirect carrying the code.
func (s *Server) handleLogin(w http.ResponseWriter, r *http.Request) {
	if err := s.parseForm(w, r); err != nil {
		s.showError(w, r, err)
		return
	}
	form := r.PostForm
	req, ok := s.cfg.Authorizer.OpenRequest(form.Get("request"))
	if !ok {
		s.showError(w, r, oauth.New(oauth.InvalidRequest, "this sign-in page has expired; go back to the application and start again"))
		return
	}
	c, err := r.Cookie(csrfCookie)
	if err != nil || subtle.ConstantTimeCompare([]byte(c.Value), []byte(req.CSRF)) != 1 {
		s.showError(w, r, oauth.Errorf(http.StatusForbidden, oauth.AccessDenied, "this sign-in did not start in this browser; go back to the application and start again"))
		return
	}
	client, err := s.cfg.ClientLookup.Lookup(r.Context(), req.ClientID)
	if err != nil {
		s.showError(w, r, oauth.New(oauth.InvalidRequest, "unknown client_id"))
		return
	}
	if decision := form.Get("decision"); decision != "" && req.Subject != "" {
		if !slices.Contains(client.RedirectURIs, req.RedirectURI) { // removed since (RFC 9700 §4.1.3)
			s.showError(w, r, oauth.New(oauth.InvalidRequest, "the redirect_uri is no longer registered for this client; go back to the application and start again"))
			return
		}
		if decision != "allow" {
			s.redirectError(w, r, req, oauth.New(oauth.AccessDenied, "the user denied the request"))
			return
		}
		s.finish(w, r, client, req)
		return
	}
	user, err := s.cfg.Authorizer.Login(r.Context(), form.Get("username"), form.Get("password"), s.clientIP(r))
	if err != nil {
		e := oauth.As(err)
		var msg string
		status := http.StatusUnauthorized
		switch {
		case e != nil && e.Code == oauth.InvalidGrant:
			msg = "Invalid username or password."
		case e != nil && e.Code == oauth.SlowDown:
			msg, status = "Too many failed sign-ins. Wait a minute and try again.", http.StatusTooManyRequests
		case e != nil && e.Code == oauth.TemporarilyUnavailable && e.RetryAfter > 0:
			// A full hashing budget or a store outage: nothing was checked.
			msg, status = "Sign-in is temporarily unavailable. Try again in a moment.", http.StatusServiceUnavailable
		default:
			s.showError(w, r, err)
			return
		}
		if e.RetryAfter > 0 {
			w.Header().Set("Retry-After", strconv.Itoa(e.RetryAfter))
		}
		s.renderPage(w, status, page{Kind: "login", Title: "Sign in", Error: msg, Client: clientName(client),
			Action: s.loginAction(), Request: form.Get("request"), Username: form.Get("username")})
		return
	}
	req.Subject, req.AuthTime = user.ID, s.cfg.Now().Unix()
	if client.SkipConsent {
		s.finish(w, r, client, req)
		return
	}
	sealed, err := s.cfg.Authorizer.SealRequest(req)
	if err != nil {
		s.showError(w, r, err)
		return
	}
	s.renderPage(w, http.StatusOK, page{Kind: "consent", Title: "Allow access?", Client: clientName(client),
		Action: s.loginAction(), Request: sealed, Scopes: strings.Fields(req.Scope)})
}

func (s *Server) finish(w http.ResponseWriter, r *http.Request, client store.Client, req tokens.AuthRequest) {
	code, err := s.cfg.Authorizer.IssueCode(r.Context(), client, req)
	if err != nil {
		// Only a *tokens.RedirectError may go back to the client: anything
		// else (a redirect_uri no longer registered, a consent page posted
		// twice, an internal error) is shown here.
		var re *tokens.RedirectError
		if errors.As(err, &re) {
			s.redirectError(w, r, req, re.Err)
			return
		}
		s.showError(w, r, err)
		return
	}
	s.redirect(w, r, req, url.Values{"code": {code}})
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

func clientName(c store.Client) string {
	if c.Name != "" {
		return c.Name
	}
	return c.ID
}

// handleUserInfo is OIDC Core §5.3 with RFC 6750 errors.
func (s *Server) handleUserInfo(w http.ResponseWriter, r *http.Request) {
	noStore(w)
	tok, ok := bearerToken(r)
	if !ok && r.Method == http.MethodPost {
		if err := s.parseForm(w, r); err == nil {
			tok = r.PostForm.Get("access_token") // RFC 6750 §2.2
			ok = tok != ""
		}
	}
	if !ok {
		w.Header().Set("WWW-Authenticate", `Bearer realm="authd"`)
		writeJSON(w, http.StatusUnauthorized, errorBody{Error: oauth.InvalidToken, Description: "a bearer access token is required"})
		return
	}
	info, err := s.cfg.Authorizer.UserInfo(r.Context(), tok)
	if err != nil {
		if e := oauth.As(err); e != nil && (e.Code == oauth.InvalidToken || e.Code == "insufficient_scope") {
			w.Header().Set("WWW-Authenticate", `Bearer realm="authd", error="`+e.Code+`", error_description="`+e.Description+`"`)
		}
		s.writeError(w, r, err)
		return
	}
	writeJSON(w, http.StatusOK, info)
}
