package server

import (
	"bytes"
	"errors"
	"net/http"
	"net/url"
	"regexp"
	"slices"
	"strconv"
	"strings"

	"github.com/authd-dev/authd/authorize"
	"github.com/authd-dev/authd/oauth"
)

// page is the templates' data (docs/ui.md lists it for operators who
// write their own templates under --ui-dir).
type page struct {
	// Kind is "login", "consent" or "error"; Lang the page's language.
	Kind, Lang, Title string
	// Error is the message for the user: a failed login, or the error
	// page's explanation.
	Error string
	// Client is the application the user is signing in to.
	Client clientView
	// Action and Request: where the form posts, and the sealed pending
	// interaction it posts back.
	Action, Request string
	// Username refills the login form.
	Username string
	// Scopes are the consent page's permissions, described.
	Scopes []scopeView
	// Account is the signed-in user. SwitchAccount: the consent page
	// offers "Not you?" (a submit button decision=switch_account in a
	// form posting Request to Action, docs/ui.md).
	Account       string
	SwitchAccount bool
	// Hint, Code and Detail are the error page's advice and, in small
	// print for support, the OAuth error code and its description.
	Hint, Code, Detail string
	// Frames are the signed-out page's front-channel logout URIs, each
	// loaded in a hidden iframe (Front-Channel Logout 1.0 §4); Continue is
	// where that page goes next (the post_logout_redirect_uri with state)
	// and Refresh the <meta http-equiv="refresh"> content that goes there
	// once the page and its iframes have loaded ("" for none).
	Frames            []string
	Continue, Refresh string
	// Script is the bounded wait's script URL (logout.js) on a signed-out
	// page that has both Frames and a Continue target, else ""; WaitMS
	// its bound in milliseconds. The page's CSP then allows script-src
	// 'self'.
	Script string
	WaitMS int64
	// Styles are the stylesheet URLs; Logo the operator's logo URL.
	Styles []string
	Logo   string
	// UserCode is the device verification page's code (prefilled, or
	// shown on the consent and done pages); Denied says the user denied
	// the device (the done page).
	UserCode string
	Denied   bool
}

// clientView is what a page shows of the client (RFC 7591 §2 client_name,
// logo_uri, policy_uri, tos_uri).
type clientView struct {
	Name, LogoURI, PolicyURI, TOSURI string
}

// scopeView is one permission on the consent page: the scope, and what
// it lets the application do. Described is false for a scope that has
// no description (the page then shows its name too).
type scopeView struct {
	Name, Text string
	Described  bool
	// New: asked for beyond what the user allowed the client before
	// (set only when the user allowed it something before).
	New bool
}

// titles of the flow's pages.
var titles = map[authorize.PageKind]string{
	authorize.PageLogin:      "Sign in",
	authorize.PageConsent:    "Allow access?",
	authorize.PageDevice:     "Connect a device",
	authorize.PageDeviceDone: "Return to your device",
}

// showPage renders a page of the browser flow.
func (s *Server) showPage(w http.ResponseWriter, r *http.Request, p *authorize.Page) {
	if p.RetryAfter > 0 {
		w.Header().Set("Retry-After", strconv.Itoa(p.RetryAfter))
	}
	action := s.loginAction()
	if p.Device {
		action = s.deviceAction() // device.go
	}
	s.renderPage(w, r, p.Status, page{Kind: string(p.Kind), Title: titles[p.Kind], Error: p.Error,
		Client: clientView{Name: p.Client, LogoURI: p.LogoURI, PolicyURI: p.PolicyURI, TOSURI: p.TOSURI},
		Action: action, Request: p.Request, Username: p.Username, Scopes: markNew(s.describeScopes(p.Scopes), p.NewScopes),
		Account: p.Account, SwitchAccount: p.SwitchAccount, UserCode: p.UserCode, Denied: p.Denied}, p.RedirectURI)
}

// markNew marks the scopes the user is asked for the first time, when the
// user allowed the client something before (remembered consent): the page
// then shows what is new.
func markNew(scopes []scopeView, fresh []string) []scopeView {
	if len(fresh) == len(scopes) {
		return scopes
	}
	for i := range scopes {
		scopes[i].New = slices.Contains(fresh, scopes[i].Name)
	}
	return scopes
}

// describeScopes puts each scope in words: the operator's description
// (--scope-descriptions), else the built-in one (package oauth), else the
// scope's name.
func (s *Server) describeScopes(scopes []string) []scopeView {
	out := make([]scopeView, 0, len(scopes))
	for _, sc := range scopes {
		v := scopeView{Name: sc, Described: true}
		if d, ok := s.cfg.ScopeText[sc]; ok {
			v.Text = d
		} else if d, ok := oauth.ScopeDescription(sc); ok {
			v.Text = d
		} else {
			v.Text, v.Described = "Use", false
		}
		out = append(out, v)
	}
	return out
}

// errorText is the error page in words a person understands, by OAuth
// error code; the code itself is shown in small print for support.
var errorText = map[string]struct{ title, text, hint string }{
	oauth.InvalidRequest: {"This sign-in link doesn’t work",
		"The application sent a sign-in request that could not be accepted.",
		"Go back to the application and try signing in again. If it keeps happening, contact the application’s support."},
	oauth.InvalidRequestURI: {"This sign-in link doesn’t work any more",
		"The sign-in link was already used, has expired, or belongs to another application.",
		"Go back to the application and sign in again."},
	oauth.UnauthorizedClient: {"This application can’t sign you in here",
		"The application is not allowed to use this kind of sign-in.",
		"Contact the application’s support."},
	oauth.AccessDenied: {"Access was not allowed",
		"The request was denied.",
		"Go back to the application if you want to try again."},
	oauth.InvalidScope: {"This application asked for too much",
		"The application asked for permissions it is not allowed to have.",
		"Contact the application’s support."},
	oauth.TemporarilyUnavailable: {"Sign-in is temporarily unavailable",
		"The service is busy or under maintenance.",
		"Wait a moment, then go back to the application and try again."},
	oauth.ServerError: {"Something went wrong",
		"Something went wrong on our side and you could not be signed in.",
		"Go back to the application and try again in a moment."},
}

// flowErrorText words the flow's own errors (package authorize) better
// than their code alone could.
var flowErrorText = []struct {
	err               error
	title, text, hint string
}{
	{authorize.ErrExpired, "This sign-in page has expired",
		"The page was open too long, or it was already used.",
		"Go back to the application and sign in again."},
	{authorize.ErrDeviceGone, "This device code no longer works",
		"The code expired, or it was already used, while you were signing in.",
		"Start again on your device to get a new code."},
	{authorize.ErrOtherBrowser, "Finish signing in where you started",
		"This sign-in started in another browser or window, so it can’t continue here.",
		"Go back to the application and start again in this browser."},
}

// errorPage is the data of the error page for err, classified as code and
// description.
func errorPage(err error, code, description string) page {
	for _, f := range flowErrorText {
		if errors.Is(err, f.err) {
			return page{Kind: "error", Title: f.title, Error: f.text, Hint: f.hint, Code: code, Detail: description}
		}
	}
	t, ok := errorText[code]
	if !ok {
		t = errorText[oauth.ServerError]
		t.text = "You could not be signed in."
	}
	return page{Kind: "error", Title: t.title, Error: t.text, Hint: t.hint, Code: code, Detail: description}
}

// pageCSP is the pages' Content-Security-Policy (CSP Level 3): nothing
// but the stylesheets of 'self' and images (the client's https logo_uri,
// the operator's logo); no script at all. form-action allows 'self' and,
// because browsers apply form-action to the redirects that answer a form
// (CSP3 §6.2.2.1 form-action), the origin of the request's validated
// redirect_uri. A loopback http logo_uri (development: clients/pageuris.go
// allows nothing else over http) is added to img-src, which https: does
// not cover.
//
// The signed-out page of a front-channel logout gets frame-src with the
// origins of its iframes (and nothing else changes); every other page
// keeps default-src 'none' for frames.
func pageCSP(redirectURI, logoURI string, frames []string) string {
	img := "img-src 'self' https: data:"
	if src := formTarget(logoURI); strings.HasPrefix(src, "http://") {
		img += " " + src
	}
	form := "form-action 'self'"
	if src := formTarget(redirectURI); src != "" {
		form += " " + src
	}
	csp := "default-src 'none'; style-src 'self'; " + img + "; " + form + "; frame-ancestors 'none'; base-uri 'none'"
	if src := frameSources(frames); len(src) > 0 {
		csp += "; frame-src " + strings.Join(src, " ")
	}
	return csp
}

// frameSources are the CSP source expressions of the front-channel
// logout URIs: each http(s) origin once, sorted.
func frameSources(frames []string) []string {
	var out []string
	for _, f := range frames {
		if src := formTarget(f); strings.HasPrefix(src, "https://") || strings.HasPrefix(src, "http://") {
			if !slices.Contains(out, src) {
				out = append(out, src)
			}
		}
	}
	slices.Sort(out)
	return out
}

// cspScheme and cspHost are what a CSP source expression may hold
// (CSP3 §2.3.1 scheme-part, host-part, port-part).
var (
	cspScheme = regexp.MustCompile(`^[a-z][a-z0-9+.-]*$`)
	cspHost   = regexp.MustCompile(`^(\[[0-9a-f:.]+\]|[a-z0-9.-]+)(:[0-9]{1,5})?$`)
)

// formTarget is the CSP source expression for where a form's answer may
// redirect: the origin of an http(s) redirect_uri, or the scheme alone of
// a private-use one (RFC 8252 §7.1). "" when it cannot be expressed
// safely (the form is then limited to 'self').
func formTarget(redirectURI string) string {
	if redirectURI == "" {
		return ""
	}
	u, err := url.Parse(redirectURI)
	if err != nil {
		return ""
	}
	scheme, host := strings.ToLower(u.Scheme), strings.ToLower(u.Host)
	switch {
	case !cspScheme.MatchString(scheme):
		return ""
	case scheme == "http" || scheme == "https":
		if !cspHost.MatchString(host) {
			return ""
		}
		return scheme + "://" + host
	default:
		return scheme + ":"
	}
}

// renderPage writes an HTML page that must never be cached or framed.
// redirectURI is where the page's form may end up (see pageCSP).
func (s *Server) renderPage(w http.ResponseWriter, r *http.Request, status int, p page, redirectURI string) {
	t := s.ui.pages[p.Kind]
	if t == nil {
		t = s.ui.pages["error"]
	}
	if p.Lang == "" {
		p.Lang = "en"
	}
	p.Styles, p.Logo = s.ui.styles, s.ui.logo
	var buf bytes.Buffer
	if err := t.ExecuteTemplate(&buf, "layout", p); err != nil {
		// Templates were rendered at start (loadUI), so this is a bug or
		// a field the sample data did not exercise.
		s.log.ErrorContext(r.Context(), "render page", "kind", p.Kind, "err", err)
		status = http.StatusInternalServerError
		buf.Reset()
		buf.WriteString("<!doctype html><html lang=\"en\"><title>Error</title><h1>Something went wrong</h1></html>")
	}
	h := w.Header()
	h.Set("Content-Type", "text/html; charset=utf-8")
	h.Set("Cache-Control", "no-store")
	h.Set("X-Frame-Options", "DENY")
	h.Set("X-Content-Type-Options", "nosniff")
	csp := pageCSP(redirectURI, p.Client.LogoURI, p.Frames)
	if p.Script != "" {
		// Only the signed-out page of a front-channel logout runs a
		// script, authd's own file (no inline script, no operator file).
		csp += "; script-src 'self'"
	}
	h.Set("Content-Security-Policy", csp)
	h.Set("Referrer-Policy", "no-referrer")
	w.WriteHeader(status)
	w.Write(buf.Bytes())
}
