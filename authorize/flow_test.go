package authorize_test

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"testing"
	"time"

	"github.com/authd-dev/authd/authorize"
	"github.com/authd-dev/authd/oauth"
	"github.com/authd-dev/authd/store"
	"github.com/authd-dev/authd/tokens"
)

// fakeRequests stands in for the tokens service: it seals by keeping the
// request in a map, and validates only what these tests need.
type fakeRequests struct {
	sealed   map[string]tokens.AuthRequest
	issued   []tokens.AuthRequest
	issueErr error
}

func (f *fakeRequests) ValidateAuthorize(c store.Client, q url.Values) (tokens.AuthRequest, error) {
	ru := q.Get("redirect_uri")
	if ru != c.RedirectURIs[0] {
		return tokens.AuthRequest{}, oauth.New(oauth.InvalidRequest, "redirect_uri is not registered for this client")
	}
	req := tokens.AuthRequest{ClientID: c.ID, RedirectURI: ru, State: q.Get("state"), Scope: q.Get("scope")}
	if q.Get("response_type") != "code" {
		return req, &tokens.RedirectError{Err: oauth.New(oauth.UnsupportedResponseType, "response_type must be code")}
	}
	return req, nil
}

func (f *fakeRequests) SealRequest(r tokens.AuthRequest) (string, error) {
	k := fmt.Sprint("sealed-", len(f.sealed))
	f.sealed[k] = r
	return k, nil
}

func (f *fakeRequests) OpenRequest(text string) (tokens.AuthRequest, bool) {
	r, ok := f.sealed[text]
	return r, ok
}

func (f *fakeRequests) IssueCode(ctx context.Context, c store.Client, r tokens.AuthRequest) (string, error) {
	if f.issueErr != nil {
		return "", f.issueErr
	}
	f.issued = append(f.issued, r)
	return "code-1", nil
}

type fakeUsers struct{ err error }

func (f fakeUsers) Login(ctx context.Context, username, password, remoteIP string) (store.User, error) {
	if f.err != nil {
		return store.User{}, f.err
	}
	if username == "ann" && password == "right" {
		return store.User{ID: "u-ann"}, nil
	}
	return store.User{}, oauth.New(oauth.InvalidGrant, "invalid username or password")
}

// fakeConsents remembers grants in a map (the store's conformance suite
// covers the real ones).
type fakeConsents map[string]store.Consent

func (f fakeConsents) GetConsent(ctx context.Context, userID, clientID string) (store.Consent, error) {
	c, ok := f[userID+" "+clientID]
	if !ok {
		return store.Consent{}, store.ErrNotFound
	}
	return c, nil
}

func (f fakeConsents) GrantConsent(ctx context.Context, userID, clientID, scope string, at, since time.Time) (store.Consent, error) {
	old := f[userID+" "+clientID]
	if old.GrantedAt.Before(since) {
		old.Scope = ""
	}
	c := store.Consent{UserID: userID, ClientID: clientID, Scope: store.ConsentScope(old.Scope, scope), GrantedAt: at}
	f[userID+" "+clientID] = c
	return c, nil
}

type fakeClients map[string]store.Client

func (f fakeClients) Lookup(ctx context.Context, id string) (store.Client, error) {
	if id == "broken" {
		return store.Client{}, errors.New("disk on fire")
	}
	c, ok := f[id]
	if !ok {
		return store.Client{}, fmt.Errorf("lookup: %w", store.ErrNotFound)
	}
	return c, nil
}

const redirect = "https://app.example/cb"

type fixture struct {
	flow *authorize.Flow
	reqs *fakeRequests
}

func newFixture(t *testing.T, users fakeUsers) fixture {
	t.Helper()
	reqs := &fakeRequests{sealed: map[string]tokens.AuthRequest{}}
	clients := fakeClients{
		"web":   {ID: "web", Name: "Web", RedirectURIs: []string{redirect}},
		"first": {ID: "first", RedirectURIs: []string{redirect}, SkipConsent: true},
	}
	f, err := authorize.New(authorize.Config{Requests: reqs, Users: users, Clients: clients, Consents: fakeConsents{}, Now: func() time.Time { return time.Unix(1000, 0) }})
	if err != nil {
		t.Fatal(err)
	}
	return fixture{flow: f, reqs: reqs}
}

func query(client string, extra ...string) url.Values {
	q := url.Values{"client_id": {client}, "response_type": {"code"}, "redirect_uri": {redirect}, "state": {"st"}, "scope": {"openid"}}
	for i := 0; i+1 < len(extra); i += 2 {
		q.Set(extra[i], extra[i+1])
	}
	return q
}

func code(err error) string {
	if e := oauth.As(err); e != nil {
		return e.Code
	}
	return "(not an oauth error)"
}

// TestAuthorizeFailures: which failures may go back to the client (RFC
// 6749 §4.1.2.1) and which must be shown.
func TestAuthorizeFailures(t *testing.T) {
	fx := newFixture(t, fakeUsers{})
	cases := []struct {
		name     string
		q        url.Values
		wantCode string // "" : not an oauth error (classified by the HTTP layer)
		wantBack bool
	}{
		{"no client_id", url.Values{}, oauth.InvalidRequest, false},
		{"unknown client", query("nobody"), oauth.InvalidRequest, false},
		{"store failure", query("broken"), "", false},
		{"unregistered redirect_uri", query("web", "redirect_uri", "https://evil.example/"), oauth.InvalidRequest, false},
		{"bad response_type", query("web", "response_type", "token"), oauth.UnsupportedResponseType, true},
		{"prompt none needs login", query("web", "prompt", "none"), oauth.LoginRequired, true},
		{"prompt none with another value", query("web", "prompt", "none login"), oauth.InvalidRequest, true},
		{"unknown prompt", query("web", "prompt", "sideways"), oauth.InvalidRequest, true},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			out := fx.flow.Authorize(context.Background(), tc.q, "csrf")
			if out.Failure == nil || out.Page != nil || out.Redirect != nil {
				t.Fatalf("outcome %+v; want only a failure", out)
			}
			if tc.wantCode == "" {
				if oauth.As(out.Failure.Err) != nil {
					t.Errorf("err %v; want a plain error for the HTTP layer to classify", out.Failure.Err)
				}
			} else if got := code(out.Failure.Err); got != tc.wantCode {
				t.Errorf("code %s; want %s (%v)", got, tc.wantCode, out.Failure.Err)
			}
			if (out.Failure.Back != nil) != tc.wantBack {
				t.Fatalf("redirectable %v; want %v", out.Failure.Back != nil, tc.wantBack)
			}
			if tc.wantBack && (out.Failure.Back.URI != redirect || out.Failure.Back.State != "st") {
				t.Errorf("back to %+v; want the validated redirect_uri with state", out.Failure.Back)
			}
		})
	}
	if len(fx.reqs.issued) != 0 {
		t.Errorf("a code was issued on a failure: %+v", fx.reqs.issued)
	}
}

// TestLoginThenConsentThenCode walks the prompts in order: login page,
// a wrong password (401, same page), consent page, allow → the code.
func TestLoginThenConsentThenCode(t *testing.T) {
	fx := newFixture(t, fakeUsers{})
	ctx := context.Background()
	out := fx.flow.Authorize(ctx, query("web"), "csrf-1")
	if out.Page == nil || out.Page.Kind != authorize.PageLogin || out.Page.Status != http.StatusOK || out.Page.Client != "Web" {
		t.Fatalf("first outcome %+v; want the login page", out)
	}
	if got := fx.reqs.sealed[out.Page.Request].CSRF; got != "csrf-1" {
		t.Errorf("sealed CSRF %q; want the browser's", got)
	}
	out = fx.flow.Continue(ctx, authorize.Input{Request: out.Page.Request, CSRF: "csrf-1", Username: "ann", Password: "wrong"})
	if out.Page == nil || out.Page.Kind != authorize.PageLogin || out.Page.Status != http.StatusUnauthorized || out.Page.Username != "ann" || out.Page.Error == "" {
		t.Fatalf("after a wrong password %+v; want the login page again, 401", out.Page)
	}
	out = fx.flow.Continue(ctx, authorize.Input{Request: out.Page.Request, CSRF: "csrf-1", Username: "ann", Password: "right"})
	if out.Page == nil || out.Page.Kind != authorize.PageConsent || len(out.Page.Scopes) != 1 || out.Page.Scopes[0] != "openid" {
		t.Fatalf("after login %+v; want the consent page", out.Page)
	}
	consent := out.Page.Request
	if fx.reqs.sealed[consent].Subject != "u-ann" || fx.reqs.sealed[consent].AuthTime != 1000 {
		t.Errorf("sealed after login: %+v; want subject and auth_time", fx.reqs.sealed[consent])
	}
	again := fx.flow.Continue(ctx, authorize.Input{Request: consent, CSRF: "csrf-1"})
	if again.Page == nil || again.Page.Kind != authorize.PageConsent {
		t.Errorf("a consent post without a decision: %+v; want the consent page again", again)
	}
	out = fx.flow.Continue(ctx, authorize.Input{Request: consent, CSRF: "csrf-1", Decision: "allow"})
	if out.Redirect == nil || out.Redirect.URI != redirect || out.Redirect.State != "st" || out.Redirect.Params.Get("code") != "code-1" {
		t.Fatalf("after allow %+v; want the redirect with the code", out)
	}
	if len(fx.reqs.issued) != 1 || fx.reqs.issued[0].Subject != "u-ann" {
		t.Errorf("issued %+v", fx.reqs.issued)
	}
}

// TestContinueFailures: a tampered request, another browser, a denial,
// a throttled login, a store failure at login or at code issuance.
func TestContinueFailures(t *testing.T) {
	ctx := context.Background()
	login := func(fx fixture, client string) string {
		out := fx.flow.Authorize(ctx, query(client), "csrf")
		if out.Page == nil {
			t.Fatalf("no login page: %+v", out)
		}
		return out.Page.Request
	}
	t.Run("tampered", func(t *testing.T) {
		fx := newFixture(t, fakeUsers{})
		out := fx.flow.Continue(ctx, authorize.Input{Request: "forged", CSRF: "csrf"})
		if out.Failure == nil || out.Failure.Back != nil || !errors.Is(out.Failure.Err, authorize.ErrExpired) {
			t.Errorf("%+v; want ErrExpired, shown", out)
		}
	})
	t.Run("other browser", func(t *testing.T) {
		fx := newFixture(t, fakeUsers{})
		for _, csrf := range []string{"", "other"} {
			out := fx.flow.Continue(ctx, authorize.Input{Request: login(fx, "web"), CSRF: csrf, Username: "ann", Password: "right"})
			if out.Failure == nil || out.Failure.Back != nil || !errors.Is(out.Failure.Err, authorize.ErrOtherBrowser) {
				t.Errorf("csrf %q: %+v; want ErrOtherBrowser, shown", csrf, out)
			}
		}
	})
	t.Run("deny", func(t *testing.T) {
		fx := newFixture(t, fakeUsers{})
		out := fx.flow.Continue(ctx, authorize.Input{Request: login(fx, "web"), CSRF: "csrf", Username: "ann", Password: "right"})
		out = fx.flow.Continue(ctx, authorize.Input{Request: out.Page.Request, CSRF: "csrf", Decision: "deny"})
		if out.Failure == nil || out.Failure.Back == nil || code(out.Failure.Err) != oauth.AccessDenied {
			t.Errorf("%+v; want access_denied back to the client", out)
		}
	})
	t.Run("throttled", func(t *testing.T) {
		slow := oauth.New(oauth.SlowDown, "too many")
		slow.RetryAfter = 30
		fx := newFixture(t, fakeUsers{err: slow})
		out := fx.flow.Continue(ctx, authorize.Input{Request: login(fx, "web"), CSRF: "csrf", Username: "ann", Password: "right"})
		if out.Page == nil || out.Page.Status != http.StatusTooManyRequests || out.Page.RetryAfter != 30 {
			t.Errorf("%+v; want the login page, 429, Retry-After 30", out.Page)
		}
	})
	t.Run("store down at login", func(t *testing.T) {
		fx := newFixture(t, fakeUsers{err: fmt.Errorf("get user: %w", store.ErrUnavailable)})
		out := fx.flow.Continue(ctx, authorize.Input{Request: login(fx, "web"), CSRF: "csrf", Username: "ann", Password: "right"})
		if out.Failure == nil || out.Failure.Back != nil || !errors.Is(out.Failure.Err, store.ErrUnavailable) {
			t.Errorf("%+v; want the store's error, shown", out)
		}
	})
	// IssueCode re-validates against the live client: only its
	// *tokens.RedirectError may go back; anything else is shown.
	t.Run("store down at code issuance", func(t *testing.T) {
		fx := newFixture(t, fakeUsers{})
		fx.reqs.issueErr = fmt.Errorf("create family: %w", store.ErrUnavailable)
		out := fx.flow.Continue(ctx, authorize.Input{Request: login(fx, "first"), CSRF: "csrf", Username: "ann", Password: "right"})
		if out.Failure == nil || out.Failure.Back != nil || !errors.Is(out.Failure.Err, store.ErrUnavailable) {
			t.Errorf("%+v; want the store's error, shown", out)
		}
	})
	t.Run("code issuance refused for the client", func(t *testing.T) {
		fx := newFixture(t, fakeUsers{})
		fx.reqs.issueErr = &tokens.RedirectError{Err: oauth.New(oauth.InvalidScope, "the client may no longer ask for openid")}
		out := fx.flow.Continue(ctx, authorize.Input{Request: login(fx, "first"), CSRF: "csrf", Username: "ann", Password: "right"})
		if out.Failure == nil || out.Failure.Back == nil || code(out.Failure.Err) != oauth.InvalidScope {
			t.Errorf("%+v; want invalid_scope back to the client", out)
		}
	})
	t.Run("redirect_uri removed since", func(t *testing.T) {
		fx := newFixture(t, fakeUsers{})
		sealed := login(fx, "web")
		r := fx.reqs.sealed[sealed]
		r.RedirectURI = "https://app.example/old"
		fx.reqs.sealed[sealed] = r
		out := fx.flow.Continue(ctx, authorize.Input{Request: sealed, CSRF: "csrf", Username: "ann", Password: "right"})
		if out.Failure == nil || out.Failure.Back != nil || !errors.Is(out.Failure.Err, authorize.ErrRedirectURIRemoved) {
			t.Errorf("%+v; want ErrRedirectURIRemoved, shown", out)
		}
	})
}

// TestSkipConsent: a first-party client gets the code right after login.
func TestSkipConsent(t *testing.T) {
	fx := newFixture(t, fakeUsers{})
	ctx := context.Background()
	out := fx.flow.Authorize(ctx, query("first"), "csrf")
	out = fx.flow.Continue(ctx, authorize.Input{Request: out.Page.Request, CSRF: "csrf", Username: "ann", Password: "right"})
	if out.Redirect == nil || out.Redirect.Params.Get("code") == "" {
		t.Fatalf("%+v; want the code right after login", out)
	}
}
