package authorize

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"slices"
	"strings"
	"time"

	"github.com/authd-dev/authd/store"
	"github.com/authd-dev/authd/tokens"
)

// Consents remembers what users allowed clients (the store's
// ConsentStore, one record per user and client).
type Consents interface {
	GetConsent(ctx context.Context, userID, clientID string) (store.Consent, error)
	GrantConsent(ctx context.Context, userID, clientID, scope string, at, since time.Time) (store.Consent, error)
}

// remembered is the consent the user gave the client earlier, once read.
type remembered struct {
	read    bool
	granted []string // the scopes remembered
	covers  bool     // they include every requested scope
}

// The consent prompt (OIDC Core §3.1.2.4):
//
//   - it is needed unless the user allowed this client every requested
//     scope before (remembered consent, one store read once the user is
//     known) or the client is first-party (skip_consent);
//   - prompt=consent makes it needed in every case, for skip_consent
//     clients too: OIDC Core §3.1.2.1 says the server SHOULD prompt, and a
//     client asking for it wants the user asked;
//   - a request asking for more than was remembered shows the page again;
//     the page lists every requested scope and marks the new ones
//     (Page.NewScopes);
//   - allowing stores the union of the old and the new scopes before the
//     code is issued; denying stores nothing; a device approval stores
//     nothing either (rememberConsent);
//   - a consent granted before the client's IssuedAt was given to an
//     earlier client registered under the same ID and does not count;
//   - prompt=none with the prompt needed is consent_required (§3.1.2.6).
func consentNeeded(it *interaction) bool {
	if it.allowed {
		return false
	}
	if it.req.PromptConsent {
		return true
	}
	if it.req.Device != "" {
		// RFC 8628 §5.4 (remote phishing): the user confirms every device,
		// with the client named; remembered consent does not count. A
		// first-party skip_consent client is the operator's own device.
		return !it.client.SkipConsent
	}
	return !it.client.SkipConsent && !it.consent.covers
}

// recallConsent reads the remembered consent once the user is known and
// the prompt could depend on it. A store failure is the step's failure.
func (f *Flow) recallConsent(ctx context.Context, it *interaction) error {
	if it.consent.read || it.allowed || it.req.Subject == "" || (it.client.SkipConsent && !it.req.PromptConsent) {
		return nil
	}
	c, err := f.cfg.Consents.GetConsent(ctx, it.req.Subject, it.client.ID)
	switch {
	case errors.Is(err, store.ErrNotFound):
	case err != nil:
		return fmt.Errorf("authorize: read consent: %w", err)
	case c.GrantedAt.Before(it.client.IssuedAt):
		// Given to an earlier client registered under the same ID: not
		// this client's (GrantConsent replaces it).
	default:
		it.consent.granted = strings.Fields(c.Scope)
		it.consent.covers = c.Covers(it.req.Scope)
	}
	it.consent.read = true
	return nil
}

// rememberConsent stores what the user just allowed on a browser flow's
// consent page. A device approval stores nothing: remembered consent never
// counts for a device (RFC 8628 §5.4, consentNeeded), so a record would
// serve only the browser flows of the same client — and a victim tricked
// into approving an attacker's user code (remote phishing) would have
// given that client standing consent for silent code flows (prompt=none)
// too. The device's login is still found and ended through the family
// index (DELETE /admin/users/{id}/consents/{client_id}), which every login
// is entered in, consent record or not.
func (f *Flow) rememberConsent(ctx context.Context, it *interaction) error {
	if it.req.Subject == "" {
		return ErrExpired
	}
	if _, err := f.cfg.Consents.GrantConsent(ctx, it.req.Subject, it.client.ID, it.req.Scope, f.cfg.Now(), it.client.IssuedAt); err != nil {
		return fmt.Errorf("authorize: remember consent: %w", err)
	}
	return nil
}

func consentPage(it *interaction, sealed string) Page {
	scopes := strings.Fields(it.req.Scope)
	var fresh []string
	for _, s := range scopes {
		if !slices.Contains(it.consent.granted, s) {
			fresh = append(fresh, s)
		}
	}
	return clientPage(it, Page{Kind: PageConsent, Status: http.StatusOK, Client: clientName(it.client), Request: sealed,
		Scopes: scopes, NewScopes: fresh, Device: it.req.Device != "", UserCode: tokens.FormatUserCode(it.req.Device)})
}

// DecisionSwitchAccount is the consent page's "Not you? Sign in as
// someone else" (docs/ui.md): decision=switch_account.
const DecisionSwitchAccount = "switch_account"

// account names the signed-in user on the consent page and offers the
// switch when the user signed in with a session that can be ended. A
// user gone meanwhile is left unnamed (issuing the code will fail).
func (f *Flow) account(ctx context.Context, it *interaction, p *Page) error {
	if p.Kind != PageConsent || it.req.Subject == "" {
		return nil
	}
	p.SwitchAccount = f.cfg.Logout != nil && f.cfg.Sessions != nil && it.req.SessionID != ""
	if f.cfg.Accounts == nil {
		return nil
	}
	u, err := f.cfg.Accounts.Lookup(ctx, it.req.Subject)
	switch {
	case errors.Is(err, store.ErrNotFound):
		return nil
	case err != nil:
		return fmt.Errorf("authorize: read account: %w", err)
	}
	p.Account = u.Username
	return nil
}

// switchAccount is "Not you?": the browser's session (the cookie's, and
// the one the request was signed in with, bound to this browser by the
// CSRF check) ends everywhere, as any logout does (its logins, then
// back-channel logout), and the request goes back to the login prompt,
// as prompt=login would (OIDC Core §3.1.2.1). The user who signs in next
// is asked for consent afresh.
func (f *Flow) switchAccount(ctx context.Context, it *interaction, cookie string) error {
	if f.cfg.Logout == nil || f.cfg.Sessions == nil {
		return ErrExpired // the page offered no switch
	}
	ids := []string{it.req.SessionID}
	if cookie != "" && len(cookie) <= 128 {
		if id := SessionID(cookie); id != it.req.SessionID {
			ids = append(ids, id)
		}
	}
	for _, id := range ids {
		if id == "" {
			continue
		}
		if err := f.cfg.Logout.EndSession(ctx, id); err != nil {
			return fmt.Errorf("authorize: end session: %w", err)
		}
	}
	it.req.Subject, it.req.AuthTime, it.req.SessionID, it.req.FamilyID, it.req.LoginHint = "", 0, "", "", ""
	it.consent, it.ended = remembered{}, true
	return nil
}

// promptConsent reports whether prompt (OIDC Core §3.1.2.1) names
// consent; parsePrompt has validated the list.
func promptConsent(q map[string][]string) bool {
	for _, p := range q["prompt"] {
		if slices.Contains(strings.Fields(p), "consent") {
			return true
		}
	}
	return false
}
