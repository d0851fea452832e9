package clients

import (
	"context"
	"encoding/json"
	"errors"
	"testing"
	"time"

	"github.com/authd-dev/authd/oauth"
	"github.com/authd-dev/authd/store"
)

// openThrottle never refuses; memTokens keeps initial access tokens in a
// map. The stores' own behaviour is proven by store/storetest.
type openThrottle struct{}

func (openThrottle) TakeAttempt(context.Context, time.Time, []store.Bucket) (time.Duration, error) {
	return 0, nil
}
func (openThrottle) ReturnAttempt(context.Context, time.Time, []store.Bucket) error { return nil }

type memTokens struct{ uses map[string]int }

func (m *memTokens) CreateRegistrationToken(_ context.Context, t store.RegistrationToken) error {
	m.uses[string(t.Digest)] = t.Uses
	return nil
}

func (m *memTokens) UseRegistrationToken(_ context.Context, d []byte) error {
	if m.uses[string(d)] < 1 {
		return store.ErrNotFound
	}
	m.uses[string(d)]--
	return nil
}

func (m *memTokens) ListRegistrationTokens(context.Context) ([]store.RegistrationToken, error) {
	var out []store.RegistrationToken
	for d, n := range m.uses {
		if n > 0 {
			out = append(out, store.RegistrationToken{ID: store.RegistrationTokenID([]byte(d)), Digest: []byte(d), Uses: n})
		}
	}
	return out, nil
}

func (m *memTokens) DeleteRegistrationToken(_ context.Context, id string) error {
	for d, n := range m.uses {
		if n > 0 && store.RegistrationTokenID([]byte(d)) == id {
			delete(m.uses, d)
			return nil
		}
	}
	return store.ErrNotFound
}

func (m *memTokens) CheckRegistrationToken(_ context.Context, d []byte) error {
	if m.uses[string(d)] < 1 {
		return store.ErrNotFound
	}
	return nil
}

type deleter struct{ r *Registry }

func (d deleter) DeleteClient(ctx context.Context, id string) error { return d.r.Delete(ctx, id) }

func newTestRegistrar(t *testing.T, mode string) (*Registrar, *Registry) {
	t.Helper()
	r, _, _ := newTestRegistry(t)
	g, err := NewRegistrar(RegistrarConfig{Registry: r, Mode: mode, Tokens: &memTokens{uses: map[string]int{}}, Throttle: openThrottle{},
		PerMinute: 10, Burst: 10, Deleter: deleter{r}, Logger: quiet,
		Policy: Policy{GrantTypes: []string{GrantAuthorizationCode}, Scopes: []string{"openid"}, RedirectKinds: []string{RedirectHTTPS}}})
	if err != nil {
		t.Fatal(err)
	}
	return g, r
}

func TestNewRegistrarRejectsBadConfig(t *testing.T) {
	g, r := newTestRegistrar(t, RegistrationOpen)
	good := g.cfg
	for name, mutate := range map[string]func(c *RegistrarConfig){
		"mode off":         func(c *RegistrarConfig) { c.Mode = "off" },
		"no registry":      func(c *RegistrarConfig) { c.Registry = nil },
		"no throttle":      func(c *RegistrarConfig) { c.Throttle = nil },
		"zero burst":       func(c *RegistrarConfig) { c.Burst = 0 },
		"no grant types":   func(c *RegistrarConfig) { c.Policy.GrantTypes = nil },
		"unknown kind":     func(c *RegistrarConfig) { c.Policy.RedirectKinds = []string{"ftp"} },
		"no redirect kind": func(c *RegistrarConfig) { c.Policy.RedirectKinds = nil },
	} {
		c := good
		c.Registry = r
		mutate(&c)
		if _, err := NewRegistrar(c); err == nil {
			t.Errorf("%s: accepted", name)
		}
	}
}

// TestAdminReplaceKeepsRegistrationToken: an operator's PUT of a
// dynamically registered client leaves the client able to manage itself.
func TestAdminReplaceKeepsRegistrationToken(t *testing.T) {
	g, r := newTestRegistrar(t, RegistrationOpen)
	ctx := context.Background()
	info, err := g.Register(ctx, RegistrationRequest{Metadata: Metadata{RedirectURIs: []string{"https://app.example/cb"}}})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := r.Replace(ctx, info.ClientID, Metadata{ClientName: "renamed by the operator", GrantTypes: []string{GrantClientCredentials}}); err != nil {
		t.Fatal(err)
	}
	read, err := g.Read(ctx, info.ClientID, RegistrationRequest{Bearer: info.RegistrationAccessToken})
	if err != nil || read.ClientName != "renamed by the operator" {
		t.Fatalf("read after an admin replace: %+v, %v", read, err)
	}
	// The admin view has no trace of the token.
	m, _ := r.Get(ctx, info.ClientID)
	b, _ := json.Marshal(m)
	var view map[string]any
	if err := json.Unmarshal(b, &view); err != nil || view["registration_access_token"] != nil || view["registration_token_digest"] != nil {
		t.Fatalf("admin view %s", b)
	}
}

// TestTokenModeSpendsAUseOnlyOnSuccess: a refused registration keeps the
// initial access token's use.
func TestTokenModeSpendsAUseOnlyOnSuccess(t *testing.T) {
	g, _ := newTestRegistrar(t, RegistrationToken)
	ctx := context.Background()
	tok, err := g.IssueInitialToken(ctx, time.Hour, 1)
	if err != nil {
		t.Fatal(err)
	}
	bad := RegistrationRequest{Bearer: tok.Token, Metadata: Metadata{RedirectURIs: []string{"http://app.example/cb"}}}
	if _, err := g.Register(ctx, bad); oauth.As(err) == nil || oauth.As(err).Code != oauth.InvalidRedirectURI {
		t.Fatalf("bad metadata: %v", err)
	}
	good := RegistrationRequest{Bearer: tok.Token, Metadata: Metadata{RedirectURIs: []string{"https://app.example/cb"}}}
	if _, err := g.Register(ctx, good); err != nil {
		t.Fatalf("first good registration: %v", err)
	}
	_, err = g.Register(ctx, good)
	wantOAuth(t, err, oauth.InvalidToken, 401)
	if !errors.Is(err, store.ErrNotFound) {
		t.Errorf("the invalid_token error does not carry the store's cause: %v", err)
	}
}

func TestClientInformationJSON(t *testing.T) {
	b, err := json.Marshal(ClientInformation{Registered: Registered{Metadata: Metadata{ClientID: "c1"}, ClientSecret: "s"},
		RegistrationAccessToken: "rat", RegistrationClientURI: "https://as.example/oauth2/register/c1"})
	if err != nil {
		t.Fatal(err)
	}
	var m map[string]any
	json.Unmarshal(b, &m)
	if m["client_id"] != "c1" || m["client_secret"] != "s" || m["client_secret_expires_at"] != float64(0) ||
		m["registration_access_token"] != "rat" || m["registration_client_uri"] != "https://as.example/oauth2/register/c1" {
		t.Fatalf("with a secret: %s", b)
	}
	b, _ = json.Marshal(ClientInformation{Registered: Registered{Metadata: Metadata{ClientID: "c1"}}})
	m = nil
	json.Unmarshal(b, &m)
	for _, k := range []string{"client_secret", "client_secret_expires_at", "registration_access_token", "registration_client_uri"} {
		if _, ok := m[k]; ok {
			t.Errorf("without a secret or token: %s has %s", b, k)
		}
	}
}
