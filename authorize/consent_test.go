package authorize_test

import (
	"context"
	"errors"
	"slices"
	"testing"
	"time"

	"github.com/authd-dev/authd/authorize"
	"github.com/authd-dev/authd/oauth"
	"github.com/authd-dev/authd/store"
	"github.com/authd-dev/authd/tokens"
)

// consentFixture is a flow whose consents live in a map the test sees.
func consentFixture(t *testing.T, consents authorize.Consents) (*authorize.Flow, *fakeRequests) {
	t.Helper()
	reqs := &fakeRequests{sealed: map[string]tokens.AuthRequest{}}
	clients := fakeClients{
		"web":   {ID: "web", Name: "Web", RedirectURIs: []string{redirect}},
		"first": {ID: "first", RedirectURIs: []string{redirect}, SkipConsent: true},
	}
	f, err := authorize.New(authorize.Config{Requests: reqs, Users: fakeUsers{}, Clients: clients, Consents: consents,
		Now: func() time.Time { return time.Unix(1000, 0) }})
	if err != nil {
		t.Fatal(err)
	}
	return f, reqs
}

// afterLogin starts an authorization and signs ann in.
func afterLogin(t *testing.T, f *authorize.Flow, q map[string][]string) authorize.Outcome {
	t.Helper()
	ctx := context.Background()
	out := f.Authorize(ctx, q, "csrf")
	if out.Page == nil || out.Page.Kind != authorize.PageLogin {
		t.Fatalf("%+v; want the login page", out)
	}
	return f.Continue(ctx, authorize.Input{Request: out.Page.Request, CSRF: "csrf", Username: "ann", Password: "right"})
}

// TestConsentPrompt: remembered consent skips the page, a wider request
// shows it with the new scopes marked, prompt=consent always shows it
// (for a skip_consent client too), allowing stores the union, denying
// stores nothing.
func TestConsentPrompt(t *testing.T) {
	ctx := context.Background()
	consents := fakeConsents{}
	f, reqs := consentFixture(t, consents)

	out := afterLogin(t, f, query("web", "scope", "openid profile"))
	if out.Page == nil || out.Page.Kind != authorize.PageConsent || !slices.Equal(out.Page.NewScopes, []string{"openid", "profile"}) {
		t.Fatalf("first consent %+v; want the page with every scope new", out.Page)
	}
	out = f.Continue(ctx, authorize.Input{Request: out.Page.Request, CSRF: "csrf", Decision: "allow"})
	if out.Redirect == nil || consents["u-ann web"].Scope != "openid profile" {
		t.Fatalf("allow: %+v, stored %+v", out, consents)
	}

	if out = afterLogin(t, f, query("web", "scope", "profile")); out.Redirect == nil || out.Redirect.Params.Get("code") == "" {
		t.Fatalf("remembered subset: %+v; want the code at once", out)
	}

	out = afterLogin(t, f, query("web", "scope", "openid email profile"))
	if out.Page == nil || out.Page.Kind != authorize.PageConsent || !slices.Equal(out.Page.Scopes, []string{"openid", "email", "profile"}) ||
		!slices.Equal(out.Page.NewScopes, []string{"email"}) {
		t.Fatalf("wider request %+v; want the page with email new", out.Page)
	}
	again := f.Continue(ctx, authorize.Input{Request: out.Page.Request, CSRF: "csrf"})
	if again.Page == nil || !slices.Equal(again.Page.NewScopes, []string{"email"}) {
		t.Fatalf("the page posted without a decision: %+v; want it again with email new", again.Page)
	}
	denied := f.Continue(ctx, authorize.Input{Request: out.Page.Request, CSRF: "csrf", Decision: "deny"})
	if denied.Failure == nil || code(denied.Failure.Err) != oauth.AccessDenied || consents["u-ann web"].Scope != "openid profile" {
		t.Fatalf("deny: %+v, stored %+v; want access_denied and nothing stored", denied, consents["u-ann web"])
	}

	for _, client := range []string{"web", "first"} {
		out = afterLogin(t, f, query(client, "scope", "openid", "prompt", "consent"))
		if out.Page == nil || out.Page.Kind != authorize.PageConsent {
			t.Errorf("prompt=consent for %s: %+v; want the consent page", client, out)
		}
	}
	if len(reqs.issued) != 2 {
		t.Errorf("codes issued %d; want 2", len(reqs.issued))
	}
}

// brokenConsents fails every call.
type brokenConsents struct{}

func (brokenConsents) GetConsent(ctx context.Context, userID, clientID string) (store.Consent, error) {
	return store.Consent{}, store.ErrUnavailable
}

func (brokenConsents) GrantConsent(ctx context.Context, userID, clientID, scope string, at, since time.Time) (store.Consent, error) {
	return store.Consent{}, store.ErrUnavailable
}

// TestConsentStoreDown: a consent that cannot be read or stored is the
// store's failure, shown (the HTTP layer answers 503), never a code.
func TestConsentStoreDown(t *testing.T) {
	f, reqs := consentFixture(t, brokenConsents{})
	out := afterLogin(t, f, query("web"))
	if out.Failure == nil || out.Failure.Back != nil || !errors.Is(out.Failure.Err, store.ErrUnavailable) {
		t.Fatalf("%+v; want the store's error, shown", out)
	}
	// A skip_consent client never reads consent.
	if out = afterLogin(t, f, query("first")); out.Redirect == nil {
		t.Errorf("skip_consent with the consent store down: %+v; want the code", out)
	}
	if len(reqs.issued) != 1 {
		t.Errorf("issued %d codes; want 1", len(reqs.issued))
	}
}

// TestResponseModeOnFailures: errors of a form_post request go back by
// form_post (OAuth 2.0 Form Post Response Mode §2).
func TestResponseModeOnFailures(t *testing.T) {
	f, _ := consentFixture(t, fakeConsents{})
	for name, q := range map[string]map[string][]string{
		"bad response_type": query("web", "response_mode", "form_post", "response_type", "token"),
		"request_uri":       query("web", "response_mode", "form_post", "request_uri", "https://x.example/r"),
		"prompt none":       query("web", "response_mode", "form_post", "prompt", "none"),
	} {
		out := f.Authorize(context.Background(), q, "csrf")
		if out.Failure == nil || out.Failure.Back == nil || !out.Failure.Back.FormPost {
			t.Errorf("%s: %+v; want a failure sent back by form_post", name, out.Failure)
		}
	}
}
