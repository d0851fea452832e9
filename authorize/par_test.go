package authorize_test

import (
	"bytes"
	"context"
	"errors"
	"net/url"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/authd-dev/authd/authorize"
	"github.com/authd-dev/authd/oauth"
	"github.com/authd-dev/authd/store"
	"github.com/authd-dev/authd/tokens"
)

// fakePushed keeps pushed requests in a map (the conformance suite covers
// the real stores); err, when set, is every call's answer.
type fakePushed struct {
	mu   sync.Mutex
	recs map[string][]byte
	err  error
}

func (f *fakePushed) PutPushedRequest(ctx context.Context, id string, req []byte, expiresAt time.Time) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.err != nil {
		return f.err
	}
	f.recs[id] = req
	return nil
}

func (f *fakePushed) TakePushedRequest(ctx context.Context, id string) ([]byte, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.err != nil {
		return nil, f.err
	}
	r, ok := f.recs[id]
	if !ok {
		return nil, store.ErrNotFound
	}
	delete(f.recs, id)
	return r, nil
}

func newPARFlow(t *testing.T, pushed *fakePushed) (*authorize.Flow, *fakeRequests) {
	t.Helper()
	reqs := &fakeRequests{sealed: map[string]tokens.AuthRequest{}}
	clients := fakeClients{"web": {ID: "web", Name: "Web", RedirectURIs: []string{redirect}}}
	f, err := authorize.New(authorize.Config{Requests: reqs, Users: fakeUsers{}, Clients: clients, Consents: fakeConsents{},
		Now: func() time.Time { return time.Unix(1000, 0) }, Pushed: pushed, PushedLifetime: time.Minute})
	if err != nil {
		t.Fatal(err)
	}
	return f, reqs
}

// TestPushKeepsTheRequestNotTheCredentials: the pushed form is stored as
// sent — parameters the flow does not name today included — without the
// client's credentials, under a key that is not the request_uri.
func TestPushKeepsTheRequestNotTheCredentials(t *testing.T) {
	pushed := &fakePushed{recs: map[string][]byte{}}
	f, reqs := newPARFlow(t, pushed)
	client := store.Client{ID: "web", RedirectURIs: []string{redirect}}
	form := query("web", "client_secret", "s3cret-value", "client_assertion", "eyJhbGciOi.assertion", "client_assertion_type",
		"urn:ietf:params:oauth:client-assertion-type:jwt-bearer", "dpop_jkt", "thumbprint-of-the-key")
	p, err := f.Push(context.Background(), client, form, tokens.DPoPRequest{})
	if err != nil {
		t.Fatal(err)
	}
	secret, ok := strings.CutPrefix(p.RequestURI, oauth.RequestURIPrefix)
	if !ok || len(secret) < 43 || p.ExpiresIn != 60 {
		t.Fatalf("Push = %+v", p)
	}
	if len(pushed.recs) != 1 {
		t.Fatalf("%d records stored", len(pushed.recs))
	}
	for id, raw := range pushed.recs {
		if strings.Contains(id, secret) || bytes.Contains(raw, []byte(secret)) {
			t.Error("the store holds the request_uri")
		}
		for _, leak := range []string{"s3cret-value", "eyJhbGciOi.assertion", "client_assertion_type"} {
			if bytes.Contains(raw, []byte(leak)) {
				t.Errorf("stored record holds %q: %s", leak, raw)
			}
		}
		if !bytes.Contains(raw, []byte("dpop_jkt=thumbprint-of-the-key")) {
			t.Errorf("stored record lost a parameter: %s", raw)
		}
	}
	out := f.Authorize(context.Background(), url.Values{"client_id": {"web"}, "request_uri": {p.RequestURI}, "state": {"front"}}, "csrf")
	if out.Page == nil {
		t.Fatalf("authorize with the request_uri: %+v", out.Failure)
	}
	if got := reqs.sealed[out.Page.Request]; got.State != "st" {
		t.Errorf("state %q; want the pushed st", got.State)
	}
}

// TestPushAndTakeFailures: store failures stay themselves (the HTTP layer
// answers 503), never "unknown request_uri"; a validation error that
// would go back to the client is returned as the plain OAuth error, for
// JSON.
func TestPushAndTakeFailures(t *testing.T) {
	pushed := &fakePushed{recs: map[string][]byte{}}
	f, _ := newPARFlow(t, pushed)
	client := store.Client{ID: "web", RedirectURIs: []string{redirect}}
	ctx := context.Background()

	_, err := f.Push(ctx, client, query("web", "response_type", "token"), tokens.DPoPRequest{})
	var re *tokens.RedirectError
	if code(err) != oauth.UnsupportedResponseType || errors.As(err, &re) {
		t.Errorf("Push of a bad response_type: %v; want the plain unsupported_response_type", err)
	}

	p, err := f.Push(ctx, client, query("web"), tokens.DPoPRequest{})
	if err != nil {
		t.Fatal(err)
	}
	pushed.err = store.ErrUnavailable
	if _, err := f.Push(ctx, client, query("web"), tokens.DPoPRequest{}); !errors.Is(err, store.ErrUnavailable) || oauth.As(err) != nil {
		t.Errorf("Push with the store down: %v", err)
	}
	out := f.Authorize(ctx, url.Values{"client_id": {"web"}, "request_uri": {p.RequestURI}}, "csrf")
	if out.Failure == nil || out.Failure.Back != nil || !errors.Is(out.Failure.Err, store.ErrUnavailable) {
		t.Errorf("authorize with the store down: %+v", out)
	}
	pushed.err = nil
	out = f.Authorize(ctx, url.Values{"client_id": {"web"}, "request_uri": {p.RequestURI + "x"}}, "csrf")
	if out.Failure == nil || out.Failure.Back != nil || code(out.Failure.Err) != oauth.InvalidRequestURI {
		t.Errorf("authorize with an unknown request_uri: %+v", out)
	}
	out = f.Authorize(ctx, url.Values{"client_id": {"web"}, "request_uri": {oauth.RequestURIPrefix + strings.Repeat("a", 300)}}, "csrf")
	if out.Failure == nil || code(out.Failure.Err) != oauth.InvalidRequestURI {
		t.Errorf("authorize with an overlong request_uri: %+v", out)
	}
}

func TestNewChecksPushedSettings(t *testing.T) {
	base := authorize.Config{Requests: &fakeRequests{}, Users: fakeUsers{}, Clients: fakeClients{}, Consents: fakeConsents{}, Now: time.Now}
	for _, tc := range []struct {
		name string
		edit func(c *authorize.Config)
	}{
		{"lifetime too short", func(c *authorize.Config) { c.Pushed, c.PushedLifetime = &fakePushed{}, time.Second }},
		{"lifetime too long", func(c *authorize.Config) { c.Pushed, c.PushedLifetime = &fakePushed{}, 11*time.Minute }},
		{"required without a store", func(c *authorize.Config) { c.RequirePushed = true }},
	} {
		t.Run(tc.name, func(t *testing.T) {
			cfg := base
			tc.edit(&cfg)
			if _, err := authorize.New(cfg); err == nil {
				t.Error("New accepted it")
			}
		})
	}
}
