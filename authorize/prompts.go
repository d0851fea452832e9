package authorize

import (
	"context"
	"net/http"

	"github.com/authd-dev/authd/oauth"
	"github.com/authd-dev/authd/store"
)

// prompt is one interaction the user may have to complete before a code
// is issued: when it is needed, the page that asks for it, and how the
// page's answer resolves it.
type prompt struct {
	name string
	// err and reason answer prompt=none when the prompt is needed (OIDC
	// Core §3.1.2.6).
	err, reason string
	needed      func(it *interaction) bool
	page        func(it *interaction, sealed string) Page
	// answer applies the posted form. done: out is the step's outcome
	// (a failure, a denial, the page again); otherwise the flow moves on.
	answer func(ctx context.Context, f *Flow, it *interaction, in Input) (out Outcome, done bool)
}

// defaultPolicy is login, then consent.
func defaultPolicy() []prompt {
	return []prompt{
		{
			name: "login", err: oauth.LoginRequired, reason: "the user must sign in",
			needed: func(it *interaction) bool { return it.req.Subject == "" },
			page:   loginPage,
			answer: login,
		},
		{
			name: "consent", err: oauth.ConsentRequired, reason: "the user must approve the request",
			needed: consentNeeded, // consent.go
			page:   consentPage,
			answer: consent,
		},
	}
}

func loginPage(it *interaction, sealed string) Page {
	return clientPage(it, Page{Kind: PageLogin, Status: http.StatusOK, Client: clientName(it.client), Request: sealed, Username: it.req.LoginHint,
		Device: it.req.Device != ""})
}

// login checks the posted password. A wrong one shows the login page again
// (401); a throttled one too (429, Retry-After); so does a login that was
// not checked because the hashing budget is full or the store is out
// (temporarily_unavailable with Retry-After: 503); any other failure is
// the step's failure, shown to the user.
func login(ctx context.Context, f *Flow, it *interaction, in Input) (Outcome, bool) {
	user, err := f.cfg.Users.Login(ctx, in.Username, in.Password, in.RemoteIP)
	if err != nil {
		e := oauth.As(err)
		p := loginPage(it, in.Request)
		p.Username = in.Username
		switch {
		case e != nil && e.Code == oauth.InvalidGrant:
			p.Status, p.Error = http.StatusUnauthorized, "Invalid username or password."
		case e != nil && e.Code == oauth.SlowDown:
			p.Status, p.Error = http.StatusTooManyRequests, "Too many failed sign-ins. Wait a minute and try again."
		case e != nil && e.Code == oauth.TemporarilyUnavailable && e.RetryAfter > 0:
			p.Status, p.Error = http.StatusServiceUnavailable, "Sign-in is temporarily unavailable. Try again in a moment."
		default:
			return fail(err), true
		}
		p.RetryAfter = e.RetryAfter
		return show(p), true
	}
	it.req.Subject, it.req.AuthTime = user.ID, f.cfg.Now().Unix()
	if err := f.startSession(ctx, it, user, in.Session); err != nil {
		return fail(err), true
	}
	return Outcome{}, false
}

// consent applies the consent page's decision: allow resolves the prompt;
// switch_account ends the session and asks for a sign-in again (the same
// request); anything else is access_denied, sent back to the client (RFC 6749
// §4.1.2.1). A post without a decision shows the page again.
func consent(ctx context.Context, f *Flow, it *interaction, in Input) (Outcome, bool) {
	switch in.Decision {
	case "allow":
		// A device approval is not remembered (consent.go,
		// rememberConsent): it allows that one device.
		if it.req.Device == "" {
			if err := f.rememberConsent(ctx, it); err != nil { // consent.go
				return fail(err), true
			}
		}
		it.allowed = true
		return Outcome{}, false
	case DecisionSwitchAccount:
		if err := f.switchAccount(ctx, it, in.Session); err != nil { // consent.go
			return fail(err), true
		}
		return Outcome{}, false // the login prompt is pending again
	case "":
		if err := f.recallConsent(ctx, it); err != nil { // for NewScopes
			return fail(err), true
		}
		p := consentPage(it, in.Request)
		if err := f.account(ctx, it, &p); err != nil {
			return fail(err), true
		}
		return show(p), true
	default:
		if it.req.Device != "" {
			return f.denyDevice(ctx, it), true // device.go
		}
		return failBack(it.back(), oauth.New(oauth.AccessDenied, "the user denied the request")), true
	}
}

func clientName(c store.Client) string {
	if c.Name != "" {
		return c.Name
	}
	return c.ID
}
