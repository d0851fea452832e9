package authorize

import (
	"context"
	"crypto/subtle"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"time"

	"github.com/authd-dev/authd/oauth"
	"github.com/authd-dev/authd/store"
	"github.com/authd-dev/authd/tokens"
)

// Requests validates, seals and completes authorization requests (the
// tokens service).
type Requests interface {
	ValidateAuthorize(c store.Client, q url.Values) (tokens.AuthRequest, error)
	SealRequest(r tokens.AuthRequest) (string, error)
	OpenRequest(text string) (tokens.AuthRequest, bool)
	IssueCode(ctx context.Context, c store.Client, r tokens.AuthRequest) (string, error)
}

// Authenticator checks a user's password (throttled by the implementation).
// A wrong username or password is an *oauth.Error invalid_grant; a
// throttled attempt is slow_down with RetryAfter.
type Authenticator interface {
	Login(ctx context.Context, username, password, remoteIP string) (store.User, error)
}

// Clients reads a registered client; a missing one is an error wrapping
// store.ErrNotFound.
type Clients interface {
	Lookup(ctx context.Context, id string) (store.Client, error)
}

// Config configures a Flow. Every field is required.
type Config struct {
	Requests Requests
	Users    Authenticator
	Clients  Clients
	// Consents remembers what users allowed clients (consent.go).
	Consents Consents
	Now      func() time.Time
	// Sessions keeps SSO sessions (session.go); nil: none, every request
	// signs in. Hints checks id_token_hint; nil: the parameter is refused.
	Sessions Sessions
	Hints    IDTokenHints
	// SessionIdleTTL and SessionMaxLifetime bound a session
	// (--session-idle-ttl, --session-max-lifetime); required with Sessions.
	SessionIdleTTL     time.Duration
	SessionMaxLifetime time.Duration
	// Pushed keeps pushed authorization requests (RFC 9126; par.go); nil:
	// none are taken. PushedLifetime is how long one lives
	// (--par-lifetime), required with Pushed. RequirePushed refuses every
	// authorization request that was not pushed
	// (--require-pushed-authorization-requests).
	Pushed         PushedRequests
	PushedLifetime time.Duration
	RequirePushed  bool
	// Proofs checks a DPoP proof sent with a pushed request (RFC 9449
	// §10.1; par.go); nil: DPoP is off and the DPoP header is ignored.
	Proofs ProofChecker
	// Accounts names the signed-in user on the consent page; nil: the
	// page names nobody.
	Accounts Accounts
	// Logout ends a session everywhere (logout.Service.EndSession: its
	// logins, the record, back-channel logout) for the consent page's
	// "Not you?"; nil: the page offers no switch.
	Logout SessionEnder
	// Device enables the device verification page (device.go); nil: off.
	Device *DeviceConfig
}

// Accounts reads a user record (users.Service.Lookup).
type Accounts interface {
	Lookup(ctx context.Context, id string) (store.User, error)
}

// SessionEnder logs a session out everywhere (logout.Service.EndSession).
type SessionEnder interface {
	EndSession(ctx context.Context, sid string) error
}

// Flow runs the browser flow. It is safe for concurrent use.
type Flow struct {
	cfg    Config
	policy []prompt
}

// New validates cfg and returns the Flow.
func New(cfg Config) (*Flow, error) {
	if cfg.Requests == nil || cfg.Users == nil || cfg.Clients == nil || cfg.Consents == nil || cfg.Now == nil {
		return nil, errors.New("authorize: Requests, Users, Clients, Consents and Now are required")
	}
	if cfg.Sessions != nil && (cfg.SessionIdleTTL <= 0 || cfg.SessionMaxLifetime <= 0) {
		return nil, errors.New("authorize: SessionIdleTTL and SessionMaxLifetime are required with Sessions")
	}
	if cfg.Pushed != nil && (cfg.PushedLifetime < MinPushedLifetime || cfg.PushedLifetime > MaxPushedLifetime) {
		return nil, fmt.Errorf("authorize: PushedLifetime must be between %s and %s", MinPushedLifetime, MaxPushedLifetime)
	}
	if cfg.RequirePushed && cfg.Pushed == nil {
		return nil, errors.New("authorize: RequirePushed needs Pushed")
	}
	if d := cfg.Device; d != nil && (d.Devices == nil || d.Throttle == nil || d.Every <= 0 || d.Burst < 1) {
		return nil, errors.New("authorize: Device needs Devices, Throttle, a positive Every and a Burst of at least 1")
	}
	return &Flow{cfg: cfg, policy: defaultPolicy()}, nil
}

// Errors shown to the user (never redirected).
var (
	// ErrUnknownClient: the client_id names no registered client.
	ErrUnknownClient = oauth.New(oauth.InvalidRequest, "unknown client_id")
	// ErrExpired: the sealed interaction is tampered with or expired.
	ErrExpired = oauth.New(oauth.InvalidRequest, "this sign-in page has expired; go back to the application and start again")
	// ErrRedirectURIRemoved: the client's registration no longer holds the
	// request's redirect_uri.
	ErrRedirectURIRemoved = oauth.New(oauth.InvalidRequest, "the redirect_uri is no longer registered for this client; go back to the application and start again")
	// ErrOtherBrowser: the interaction did not start in this browser.
	ErrOtherBrowser = oauth.Errorf(http.StatusForbidden, oauth.AccessDenied, "this sign-in did not start in this browser; go back to the application and start again")
)

// interaction is one pending authorization: the client, the validated
// request (who signed in and when, once they have) and what the user
// resolved in this step.
type interaction struct {
	client  store.Client
	req     tokens.AuthRequest
	allowed bool // the user allowed the request on the consent page
	consent remembered
	// cookie is the session cookie of a sign-in in this step, for the
	// HTTP layer to set.
	cookie *SessionCookie
	// ended: this step ended the browser's session ("Not you?"); the
	// HTTP layer clears the cookie.
	ended bool
}

// withCookie hands the step's new session cookie to the HTTP layer.
func (it *interaction) withCookie(out Outcome) Outcome {
	out.SetSession = it.cookie
	return out
}

func (it *interaction) back() Redirect {
	return Redirect{URI: it.req.RedirectURI, State: it.req.State, FormPost: it.req.FormPost}
}

// Authorize is the authorization request (RFC 6749 §4.1.1, OIDC Core
// §3.1.2.1), from the query or a POSTed form. csrf is the browser's CSRF
// value, sealed into the interaction so that only this browser can
// continue it.
func (f *Flow) Authorize(ctx context.Context, q url.Values, csrf string) Outcome {
	return f.AuthorizeInSession(ctx, q, csrf, "")
}

// AuthorizeInSession is Authorize for a browser holding the session
// cookie value session ("" for none): a valid session signs the request
// in unless it asks to authenticate again (session.go).
//
// A request naming a pushed request_uri (RFC 9126 §4) is replaced by the
// request pushed for it (par.go) before anything else is read.
func (f *Flow) AuthorizeInSession(ctx context.Context, q url.Values, csrf, session string) Outcome {
	return f.AuthorizeBrowser(ctx, q, Browser{CSRF: csrf, Session: session})
}

// Browser is what the authorization endpoint knows of the browser: its
// CSRF value, its session cookie value and its pushed-request reload
// ticket (RFC 9126 §4, par.go), each "" when absent.
type Browser struct {
	CSRF, Session, PushedReload string
}

// AuthorizeBrowser is AuthorizeInSession with everything the browser
// holds. A pushed request taken now comes back in Outcome.PushedReload,
// a ticket that lets this browser (and only it) reload the same
// authorization URL while the request lives.
func (f *Flow) AuthorizeBrowser(ctx context.Context, q url.Values, b Browser) Outcome {
	csrf, session := b.CSRF, b.Session
	client, err := f.client(ctx, q.Get("client_id"))
	if err != nil {
		return fail(err)
	}
	q, ticket, err := f.pushedOrFront(ctx, client, q, b) // par.go
	if err != nil {
		return fail(err)
	}
	out := f.authorizeParams(ctx, client, q, csrf, session)
	out.PushedReload, out.PushedReloadExpires = ticket.value, ticket.expires
	return out
}

// authorizeParams is the authorization request q (front-channel or
// pushed) of client.
func (f *Flow) authorizeParams(ctx context.Context, client store.Client, q url.Values, csrf, session string) Outcome {
	v, err := f.validate(client, q)
	if re, ok := errors.AsType[*tokens.RedirectError](err); ok {
		return failBack(Redirect{URI: v.req.RedirectURI, State: v.req.State, FormPost: v.req.FormPost}, re.Err)
	} else if err != nil {
		return fail(err)
	}
	it := &interaction{client: client, req: v.req}
	if err := f.resume(ctx, it, v.params, session); err != nil {
		return fail(err)
	}
	it.req.CSRF = csrf
	return f.next(ctx, it, v.none)
}

// validated is an authorization request that passed validate.
type validated struct {
	req    tokens.AuthRequest
	none   bool       // prompt=none
	params authParams // what decides whether a session may sign it in
}

// validate is the one validation of an authorization request's
// parameters, whether they came through the front channel or were pushed
// (RFC 9126 §2.1: the pushed request is checked as the authorization
// endpoint would check it; §4: and again when it is used). It reads
// nothing but client and q, so the pushed request endpoint and the
// authorization endpoint cannot judge a request differently. Errors
// before the client and redirect_uri are known good are *oauth.Error;
// later ones are *tokens.RedirectError (v.req then holds where they may go).
func (f *Flow) validate(client store.Client, q url.Values) (v validated, err error) {
	v.req, err = f.cfg.Requests.ValidateAuthorize(client, q)
	v.req.FormPost = formPost(q)
	if err != nil {
		return v, err
	}
	back := func(err error) (validated, error) {
		if e := oauth.As(err); e != nil {
			return v, &tokens.RedirectError{Err: e}
		}
		return v, err
	}
	if err := checkParams(q, &v.req); err != nil { // params.go
		return back(err)
	}
	if v.none, err = parsePrompt(q); err != nil {
		return back(err)
	}
	var hint string
	if v.params, hint, err = f.parseAuthParams(q, client.ID); err != nil {
		return back(err)
	}
	v.req.LoginHint = hint
	v.req.PromptConsent = promptConsent(q)
	return v, nil
}

// Input is a posted login or consent form.
type Input struct {
	// Request is the sealed interaction the page carried.
	Request string
	// CSRF is the browser's CSRF value (from its cookie); "" if none.
	CSRF               string
	Username, Password string
	// Decision is the consent page's answer: "allow", "switch_account"
	// ("Not you?") or anything else (deny).
	Decision string
	// RemoteIP is the client address, for throttling.
	RemoteIP string
	// Session is the browser's session cookie value ("" for none).
	Session string
}

// Continue takes the answer to the page the interaction showed and
// returns the next page, or the redirect once every prompt is resolved.
func (f *Flow) Continue(ctx context.Context, in Input) Outcome {
	req, ok := f.cfg.Requests.OpenRequest(in.Request)
	if !ok || req.PushedID != "" { // a reload ticket is no interaction
		return fail(ErrExpired)
	}
	if in.CSRF == "" || subtle.ConstantTimeCompare([]byte(in.CSRF), []byte(req.CSRF)) != 1 {
		return fail(ErrOtherBrowser)
	}
	client, err := f.client(ctx, req.ClientID)
	if err != nil {
		return fail(err)
	}
	if req.Device == "" && !slices.Contains(client.RedirectURIs, req.RedirectURI) {
		// Removed since the request was validated: it may no longer be
		// redirected to (RFC 9700 §4.1.3, RFC 6749 §4.1.2.1).
		return fail(ErrRedirectURIRemoved)
	}
	it := &interaction{client: client, req: req}
	p := f.pending(it)
	if p == nil { // a sealed request is only shown with a prompt pending
		return fail(ErrExpired)
	}
	if out, done := p.answer(ctx, f, it, in); done {
		return it.withCookie(out)
	}
	out := it.withCookie(f.next(ctx, it, false))
	out.EndedSession = it.ended
	return out
}

// client looks the client up: only a missing client is "unknown"; a store
// failure stays itself, for the HTTP layer to classify (503, 500).
func (f *Flow) client(ctx context.Context, id string) (store.Client, error) {
	if id == "" {
		return store.Client{}, oauth.New(oauth.InvalidRequest, "client_id is required")
	}
	c, err := f.cfg.Clients.Lookup(ctx, id)
	switch {
	case errors.Is(err, store.ErrNotFound):
		return store.Client{}, ErrUnknownClient.WithCause(err)
	case err != nil:
		return store.Client{}, fmt.Errorf("authorize: look up client: %w", err)
	}
	return c, nil
}

// pending is the first prompt the interaction still needs, or nil.
func (f *Flow) pending(it *interaction) *prompt {
	for i := range f.policy {
		if f.policy[i].needed(it) {
			return &f.policy[i]
		}
	}
	return nil
}

// next shows the first pending prompt, or issues the code when none is
// left. With prompt=none a pending prompt is that prompt's error, sent
// back to the client (OIDC Core §3.1.2.6).
func (f *Flow) next(ctx context.Context, it *interaction, none bool) Outcome {
	if err := f.recallConsent(ctx, it); err != nil { // consent.go
		return fail(err)
	}
	if p := f.pending(it); p != nil {
		if none {
			return failBack(it.back(), oauth.New(p.err, "%s", p.reason))
		}
		sealed, err := f.cfg.Requests.SealRequest(it.req)
		if err != nil {
			return fail(fmt.Errorf("authorize: seal request: %w", err))
		}
		page := p.page(it, sealed)
		if err := f.account(ctx, it, &page); err != nil { // consent.go
			return fail(err)
		}
		return show(page)
	}
	if ok, err := f.enterSession(ctx, it); err != nil {
		return fail(err)
	} else if !ok { // the session ended since it signed the request in
		it.req.Subject, it.req.AuthTime, it.req.SessionID = "", 0, ""
		return f.next(ctx, it, none)
	}
	if it.req.Device != "" {
		return f.approveDevice(ctx, it) // device.go
	}
	code, err := f.cfg.Requests.IssueCode(ctx, it.client, it.req)
	if errors.Is(err, tokens.ErrSignInEnded) && it.req.SessionID != "" && it.cookie == nil {
		// The session outlived its user's revocation or deletion: end it
		// and ask for a sign-in (OIDC Core §3.1.2.6 login_required).
		if err := f.endSession(ctx, it.req.SessionID); err != nil {
			return fail(err)
		}
		it.req.Subject, it.req.AuthTime, it.req.SessionID, it.req.FamilyID = "", 0, "", ""
		return f.next(ctx, it, none)
	}
	if re, ok := errors.AsType[*tokens.RedirectError](err); ok {
		return failBack(it.back(), re.Err)
	} else if err != nil {
		// Anything else — the live client no longer allows the request, a
		// consent page posted twice, the store — is shown: IssueCode
		// re-validates, so its other errors cannot vouch for redirect_uri.
		return fail(err)
	}
	r := it.back()
	r.Params = url.Values{"code": {code}} // RFC 6749 §4.1.2
	return Outcome{Redirect: &r}
}

// parsePrompt reads OIDC Core §3.1.2.1 "prompt": a space-delimited list of
// none, login, consent and select_account, where none stands alone. It
// reports whether the request asked for none. login and consent ask for
// a prompt that is always shown today; select_account has one account to
// choose from.
func parsePrompt(q url.Values) (none bool, err error) {
	if len(q["prompt"]) > 1 {
		return false, oauth.New(oauth.InvalidRequest, `parameter "prompt" is repeated`)
	}
	values := strings.Fields(q.Get("prompt"))
	for _, v := range values {
		if !slices.Contains([]string{"none", "login", "consent", "select_account"}, v) {
			return false, oauth.New(oauth.InvalidRequest, "unsupported prompt value %q", v)
		}
	}
	if slices.Contains(values, "none") && len(values) > 1 {
		return false, oauth.New(oauth.InvalidRequest, "prompt=none cannot be combined with other values")
	}
	return len(values) == 1 && values[0] == "none", nil
}
