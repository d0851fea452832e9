package server

import (
	"context"
	"net/http"
	"net/url"

	"github.com/authd-dev/authd/authorize"
	"github.com/authd-dev/authd/tokens"
)

// Paths of the device authorization grant (RFC 8628): the device
// authorization endpoint (§3.1) and the verification page (§3.3), the
// verification_uri the device shows.
const (
	PathDeviceAuthorization = "/oauth2/device_authorization"
	PathDevice              = "/device"
)

// DeviceAuthorizer answers device authorization requests (the tokens
// service).
type DeviceAuthorizer interface {
	DeviceAuthorize(ctx context.Context, req *tokens.Request) (*tokens.DeviceGrant, error)
}

// DeviceVerifier is the verification page's state machine (package
// authorize); its login and consent forms continue through
// BrowserFlow.Continue.
type DeviceVerifier interface {
	DevicePage(ctx context.Context, userCode, csrf string) authorize.Outcome
	DeviceSubmit(ctx context.Context, in authorize.DeviceInput) authorize.Outcome
}

var (
	_ DeviceAuthorizer = (*tokens.Service)(nil)
	_ DeviceVerifier   = (*authorize.Flow)(nil)
)

// deviceAnswer is the device authorization response (RFC 8628 §3.2).
type deviceAnswer struct {
	DeviceCode              string `json:"device_code"`
	UserCode                string `json:"user_code"`
	VerificationURI         string `json:"verification_uri"`
	VerificationURIComplete string `json:"verification_uri_complete"`
	ExpiresIn               int64  `json:"expires_in"`
	Interval                int64  `json:"interval"`
}

// handleDeviceAuthorization is the device authorization endpoint (RFC
// 8628 §3.1): a form POST authenticated like the token endpoint (a public
// client by its client_id, §3.1 refers to RFC 6749 §3.2.1). The answer
// holds the device_code: no-store, as a token answer.
func (s *Server) handleDeviceAuthorization(w http.ResponseWriter, r *http.Request) {
	noStore(w)
	client, ok := s.authenticatedForm(w, r)
	if !ok {
		return
	}
	g, err := s.cfg.Devices.DeviceAuthorize(r.Context(), &tokens.Request{Client: client, Form: r.PostForm, RemoteIP: s.clientIP(r)})
	if err != nil {
		s.writeError(w, r, err)
		return
	}
	verify := s.cfg.Issuer + PathDevice
	writeJSON(w, http.StatusOK, deviceAnswer{DeviceCode: g.DeviceCode, UserCode: g.UserCode, VerificationURI: verify,
		VerificationURIComplete: verify + "?" + url.Values{"user_code": {g.UserCode}}.Encode(), ExpiresIn: g.ExpiresIn, Interval: g.Interval})
}

// deviceCSRFCookie binds the verification page's forms to the browser,
// as csrfCookie does for the authorization endpoint's; it is scoped to
// the verification page, where every device form posts.
const deviceCSRFCookie = "authd_device_csrf"

// handleDevice is the verification page. GET shows the user_code form
// (prefilled from verification_uri_complete); POST takes that form, or
// the login and consent forms of the device's interaction, which post
// back here.
func (s *Server) handleDevice(w http.ResponseWriter, r *http.Request) {
	csrf, cookie := s.deviceCSRF(r)
	if r.Method != http.MethodPost {
		out := s.cfg.DeviceFlow.DevicePage(r.Context(), r.URL.Query().Get("user_code"), csrf)
		if cookie != nil {
			http.SetCookie(w, cookie)
		}
		s.render(w, r, out)
		return
	}
	if err := s.parseForm(w, r); err != nil {
		s.showError(w, r, err)
		return
	}
	if cookie != nil { // no CSRF cookie: the post did not come from our page
		csrf = ""
	}
	f := r.PostForm
	var out authorize.Outcome
	if _, ok := f["user_code"]; ok {
		out = s.cfg.DeviceFlow.DeviceSubmit(r.Context(), authorize.DeviceInput{Request: f.Get("request"), CSRF: csrf,
			UserCode: f.Get("user_code"), RemoteIP: s.clientIP(r), Session: s.sessionCookie(r)})
	} else {
		out = s.cfg.Flow.Continue(r.Context(), authorize.Input{Request: f.Get("request"), CSRF: csrf,
			Username: f.Get("username"), Password: f.Get("password"), Decision: f.Get("decision"),
			RemoteIP: s.clientIP(r), Session: s.sessionCookie(r)})
	}
	if out.SetSession != nil {
		http.SetCookie(w, s.newSessionCookie(out.SetSession))
	}
	s.render(w, r, out)
}

// deviceCSRF is csrfToken for the verification page's cookie.
func (s *Server) deviceCSRF(r *http.Request) (string, *http.Cookie) {
	return s.csrfCookieValue(r, deviceCSRFCookie, PathDevice)
}

// deviceAction is where the device pages' forms post.
func (s *Server) deviceAction() string { return s.issuerPath() + PathDevice }
