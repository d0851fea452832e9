package authorize

import (
	"time"

	"net/url"
)

// PageKind names a page of the flow.
type PageKind string

// Pages of the flow. The login page's form has inputs named username and
// password; the consent page approves with decision=allow (the contract).
const (
	PageLogin   PageKind = "login"
	PageConsent PageKind = "consent"
	// PageDevice is the device verification page (RFC 8628 §3.3): a form
	// with an input named user_code (the contract); PageDeviceDone tells
	// the user to return to the device (Denied: the request was denied).
	PageDevice     PageKind = "device"
	PageDeviceDone PageKind = "device-done"
)

// Page is a form for the user, with everything the renderer needs.
type Page struct {
	Kind PageKind
	// Status is the HTTP status: 200, or 401/429 for a failed login.
	Status int
	// RetryAfter, when positive, asks the browser to wait (seconds).
	RetryAfter int
	// Client is the client's display name.
	Client string
	// Request is the sealed pending interaction the form posts back.
	Request string
	// Username refills the login form after a failed attempt.
	Username string
	// Error is a message for the user (a failed login).
	Error string
	// Scopes are what the consent page asks the user to allow.
	Scopes []string
	// LogoURI, PolicyURI and TOSURI are the client's registered logo_uri,
	// policy_uri and tos_uri (RFC 7591 §2), shown on the page; empty when
	// not registered.
	LogoURI, PolicyURI, TOSURI string
	// RedirectURI is the request's validated redirect_uri: where the
	// page's form may end up once the flow redirects (the page's CSP
	// form-action must allow it).
	RedirectURI string
	// Account names the signed-in user, when the page knows one.
	Account string
	// SwitchAccount: the page offers "Not you?", a button posting
	// decision=switch_account with the page's request, which ends the
	// browser's session and asks for a sign-in for the same request.
	SwitchAccount bool
	// NewScopes are the Scopes the user has not allowed the client before
	// (all of them on a first consent); the page may tell them apart.
	NewScopes []string
	// Device: the page belongs to a device verification, whose forms post
	// to the verification page; UserCode prefills or shows its code;
	// Denied says the user denied the device (PageDeviceDone).
	Device   bool
	UserCode string
	Denied   bool
}

// Redirect sends the browser back to the client's validated redirect_uri
// with Params; the renderer adds state and iss (RFC 9207).
type Redirect struct {
	URI    string
	State  string
	Params url.Values
	// FormPost: answer with an auto-submitting form that POSTs Params to
	// URI (OAuth 2.0 Form Post Response Mode §2), not with a redirect.
	FormPost bool
}

// Failure is a step that failed. Err is classified by the HTTP layer
// (an *oauth.Error, an unavailable store, or an internal error).
type Failure struct {
	Err error
	// Back is where the error may be sent (RFC 6749 §4.1.2.1): set only
	// once the client and its redirect_uri are known good. Nil: the error
	// must be shown to the user, never redirected.
	Back *Redirect
}

// Outcome is what a step of the flow ends with: exactly one of Page,
// Redirect and Failure is set.
type Outcome struct {
	Page     *Page
	Redirect *Redirect
	Failure  *Failure
	// SetSession, with any of them, is the session cookie of a sign-in
	// made in this step: the HTTP layer sets it.
	SetSession *SessionCookie
	// EndedSession: the step ended the browser's session; the HTTP
	// layer clears the session cookie.
	EndedSession bool
	// PushedReload, when set, is the sealed reload ticket of the pushed
	// request this step took (RFC 9126 §4, par.go): the HTTP layer keeps
	// it in a cookie until PushedReloadExpires and hands it back.
	PushedReload        string
	PushedReloadExpires time.Time
}

func show(p Page) Outcome { return Outcome{Page: &p} }

// fail is a failure that must be shown, not redirected.
func fail(err error) Outcome { return Outcome{Failure: &Failure{Err: err}} }

// failBack is a failure that goes back to the client.
func failBack(back Redirect, err error) Outcome {
	back.Params = nil
	return Outcome{Failure: &Failure{Err: err, Back: &back}}
}
