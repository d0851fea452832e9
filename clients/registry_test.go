package clients

import (
	"bytes"
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"errors"
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/authd-dev/authd/oauth"
	"github.com/authd-dev/authd/store"
)

func TestNewRegistryConfig(t *testing.T) {
	tests := []struct {
		name string
		cfg  Config
	}{
		{"no store", Config{SecretKey: testKey}},
		{"no key", Config{Store: newMemStore()}},
		{"short key", Config{Store: newMemStore(), SecretKey: testKey[:31]}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if _, err := NewRegistry(tt.cfg); err == nil {
				t.Fatal("NewRegistry accepted an invalid config")
			}
		})
	}
}

// postSecret is a client_secret_post request.
func postSecret(id, secret string) *http.Request {
	req, _ := http.NewRequest(http.MethodPost, testTokenEndpoint, nil)
	req.PostForm = url.Values{"client_id": {id}, "client_secret": {secret}}
	return req
}

// basicReq is a client_secret_basic request encoded as RFC 6749 §2.3.1 asks.
func basicReq(id, secret string) *http.Request {
	req, _ := http.NewRequest(http.MethodPost, testTokenEndpoint, nil)
	req.SetBasicAuth(url.QueryEscape(id), url.QueryEscape(secret))
	req.PostForm = url.Values{}
	return req
}

func TestCreateShowsSecretOnceAndStoresDigest(t *testing.T) {
	r, st, _ := newTestRegistry(t)
	ctx := context.Background()
	reg, err := r.Create(ctx, Metadata{ClientName: "reports", Scope: "read"})
	if err != nil {
		t.Fatal(err)
	}
	if len(reg.ClientID) != 22 || reg.ClientIDIssuedAt != t0.Unix() {
		t.Errorf("client_id %q issued %d, want 22 random chars issued at %d", reg.ClientID, reg.ClientIDIssuedAt, t0.Unix())
	}
	raw, err := base64.RawURLEncoding.DecodeString(reg.ClientSecret)
	if err != nil || len(raw) != 32 {
		t.Fatalf("secret %q: %d bytes, %v; want 32 base64url bytes", reg.ClientSecret, len(raw), err)
	}
	stored := st.clients[reg.ClientID]
	mac := hmac.New(sha256.New, testKey)
	mac.Write([]byte(reg.ClientSecret))
	if !bytes.Equal(stored.SecretDigest, mac.Sum(nil)) {
		t.Error("stored digest is not HMAC-SHA256(SecretKey, secret)")
	}
	if bytes.Contains(stored.SecretDigest, []byte(reg.ClientSecret)) || bytes.Contains(stored.SecretDigest, raw) {
		t.Error("the secret itself is stored")
	}
	js, _ := json.Marshal(reg)
	if !strings.Contains(string(js), `"client_secret_expires_at":0`) {
		t.Errorf("registration answer %s lacks client_secret_expires_at 0", js)
	}

	// Never again: Get, List.
	got, err := r.Get(ctx, reg.ClientID)
	if err != nil {
		t.Fatal(err)
	}
	list, err := r.List(ctx)
	if err != nil || len(list) != 1 {
		t.Fatalf("List = %v, %v", list, err)
	}
	for _, v := range []any{got, list} {
		js, _ := json.Marshal(v)
		if strings.Contains(string(js), `"client_secret"`) || strings.Contains(string(js), reg.ClientSecret) {
			t.Errorf("%s shows a secret", js)
		}
	}
	if got.ClientName != "reports" || got.Scope != "read" || got.TokenEndpointAuthMethod != AuthBasic {
		t.Errorf("Get = %+v", got)
	}

	// The secret authenticates.
	if _, err := r.Authenticate(ctx, basicReq(reg.ClientID, reg.ClientSecret)); err != nil {
		t.Errorf("Authenticate with the new secret: %v", err)
	}
}

func TestCreatePublicAndKeyClientsHaveNoSecret(t *testing.T) {
	r, st, _ := newTestRegistry(t)
	ec, _ := testKeys(t)
	for _, m := range []Metadata{
		{ClientID: "spa", TokenEndpointAuthMethod: AuthNone, GrantTypes: []string{"authorization_code", "refresh_token"}, RedirectURIs: []string{"https://spa.example/cb"}},
		{ClientID: "svc", TokenEndpointAuthMethod: AuthPrivateKeyJWT, JWKS: jwksOf(t, publicJWK(ec, "k1"))},
	} {
		reg, err := r.Create(context.Background(), m)
		if err != nil {
			t.Fatal(err)
		}
		js, _ := json.Marshal(reg)
		if reg.ClientSecret != "" || strings.Contains(string(js), "client_secret") {
			t.Errorf("%s: answer %s has a secret", m.ClientID, js)
		}
		if len(st.clients[m.ClientID].SecretDigest) != 0 {
			t.Errorf("%s: a digest is stored", m.ClientID)
		}
	}
}

func TestCreateErrors(t *testing.T) {
	r, _, _ := newTestRegistry(t)
	ctx := context.Background()
	if _, err := r.Create(ctx, Metadata{ClientID: "svc.a_b-c~d"}); err != nil {
		t.Fatal(err)
	}
	wantOAuth(t, func() error { _, err := r.Create(ctx, Metadata{ClientID: "svc.a_b-c~d"}); return err }(), oauth.Conflict, http.StatusConflict)
	wantOAuth(t, func() error { _, err := r.Create(ctx, Metadata{GrantTypes: []string{"implicit"}}); return err }(), oauth.InvalidClientMetadata, http.StatusBadRequest)
}

func TestNotFound(t *testing.T) {
	r, _, _ := newTestRegistry(t)
	ctx := context.Background()
	for name, err := range map[string]error{
		"get":    func() error { _, err := r.Get(ctx, "nope"); return err }(),
		"delete": r.Delete(ctx, "nope"),
		"reset":  func() error { _, err := r.ResetSecret(ctx, "nope"); return err }(),
		"put":    func() error { _, err := r.Replace(ctx, "nope", Metadata{}); return err }(),
	} {
		t.Run(name, func(t *testing.T) { wantOAuth(t, err, oauth.NotFound, http.StatusNotFound) })
	}
	if _, err := r.Lookup(ctx, "nope"); !errors.Is(err, store.ErrNotFound) {
		t.Errorf("Lookup: %v, want store.ErrNotFound wrapped", err)
	}
}

func TestDelete(t *testing.T) {
	r, _, _ := newTestRegistry(t)
	ctx := context.Background()
	reg, _ := r.Create(ctx, Metadata{})
	if err := r.Delete(ctx, reg.ClientID); err != nil {
		t.Fatal(err)
	}
	_, err := r.Authenticate(ctx, basicReq(reg.ClientID, reg.ClientSecret))
	wantOAuth(t, err, oauth.InvalidClient, http.StatusUnauthorized)
}

func TestResetSecret(t *testing.T) {
	r, _, clk := newTestRegistry(t)
	ctx := context.Background()
	reg, err := r.Create(ctx, Metadata{ClientID: "svc"})
	if err != nil {
		t.Fatal(err)
	}
	clk.Add(time.Hour)
	fresh, err := r.ResetSecret(ctx, "svc")
	if err != nil {
		t.Fatal(err)
	}
	if fresh.ClientSecret == "" || fresh.ClientSecret == reg.ClientSecret {
		t.Fatalf("reset secret %q (old %q)", fresh.ClientSecret, reg.ClientSecret)
	}
	if fresh.ClientIDIssuedAt != t0.Unix() {
		t.Errorf("client_id_issued_at changed to %d", fresh.ClientIDIssuedAt)
	}
	_, err = r.Authenticate(ctx, basicReq("svc", reg.ClientSecret))
	if e := wantOAuth(t, err, oauth.InvalidClient, http.StatusUnauthorized); !errors.Is(e, ErrWrongSecret) {
		t.Errorf("old secret: cause %v", e.Cause)
	}
	if _, err := r.Authenticate(ctx, basicReq("svc", fresh.ClientSecret)); err != nil {
		t.Errorf("new secret: %v", err)
	}

	ec, _ := testKeys(t)
	for _, m := range []Metadata{
		{ClientID: "spa", TokenEndpointAuthMethod: AuthNone, GrantTypes: []string{"authorization_code"}, RedirectURIs: []string{"https://spa.example/cb"}},
		{ClientID: "jwt", TokenEndpointAuthMethod: AuthPrivateKeyJWT, JWKS: jwksOf(t, publicJWK(ec, "k"))},
	} {
		if _, err := r.Create(ctx, m); err != nil {
			t.Fatal(err)
		}
		_, err := r.ResetSecret(ctx, m.ClientID)
		wantOAuth(t, err, oauth.InvalidRequest, http.StatusBadRequest)
	}
}

func TestReplace(t *testing.T) {
	ctx := context.Background()
	codeClient := func(method string) Metadata {
		return Metadata{TokenEndpointAuthMethod: method, GrantTypes: []string{"authorization_code", "refresh_token"}, RedirectURIs: []string{"https://app.example/cb"}}
	}
	tests := []struct {
		name      string
		create    Metadata
		put       Metadata
		errCode   string
		newSecret bool   // a secret is created and returned
		oldWorks  string // the old secret still authenticates with this method ("" = no)
		digest    bool   // a digest is stored afterwards
	}{
		{name: "keeps the secret", create: Metadata{Scope: "a"}, put: Metadata{Scope: "b"}, oldWorks: AuthBasic, digest: true},
		{name: "basic to post keeps it", create: Metadata{}, put: Metadata{TokenEndpointAuthMethod: AuthPost}, oldWorks: AuthPost, digest: true},
		{name: "to none drops it", create: codeClient(AuthBasic), put: codeClient(AuthNone)},
		{name: "none to basic creates one", create: codeClient(AuthNone), put: codeClient(AuthBasic), newSecret: true, digest: true},
		{name: "invalid", create: Metadata{}, put: Metadata{GrantTypes: []string{"implicit"}}, errCode: oauth.InvalidClientMetadata, oldWorks: AuthBasic, digest: true},
		{name: "other client_id", create: Metadata{}, put: Metadata{ClientID: "other"}, errCode: oauth.InvalidClientMetadata, oldWorks: AuthBasic, digest: true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r, st, clk := newTestRegistry(t)
			tt.create.ClientID = "app"
			reg, err := r.Create(ctx, tt.create)
			if err != nil {
				t.Fatal(err)
			}
			clk.Add(time.Minute)
			got, err := r.Replace(ctx, "app", tt.put)
			if tt.errCode != "" {
				wantOAuth(t, err, tt.errCode, http.StatusBadRequest)
			} else if err != nil {
				t.Fatal(err)
			}
			stored := st.clients["app"]
			if (len(stored.SecretDigest) > 0) != tt.digest {
				t.Errorf("digest stored = %v, want %v", len(stored.SecretDigest) > 0, tt.digest)
			}
			if tt.errCode == "" {
				if (got.ClientSecret != "") != tt.newSecret {
					t.Errorf("secret returned = %q, want one: %v", got.ClientSecret, tt.newSecret)
				}
				if got.ClientID != "app" || got.ClientIDIssuedAt != t0.Unix() || !stored.UpdatedAt.Equal(t0.Add(time.Minute)) {
					t.Errorf("id %q issued %d updated %v", got.ClientID, got.ClientIDIssuedAt, stored.UpdatedAt)
				}
				if got.Scope != tt.put.Scope {
					t.Errorf("scope %q, want the replacement's %q", got.Scope, tt.put.Scope)
				}
			}
			if tt.newSecret {
				if _, err := r.Authenticate(ctx, basicReq("app", got.ClientSecret)); err != nil {
					t.Errorf("created secret: %v", err)
				}
			}
			if reg.ClientSecret != "" {
				req := basicReq("app", reg.ClientSecret)
				if tt.oldWorks == AuthPost {
					req = postSecret("app", reg.ClientSecret)
				}
				_, err := r.Authenticate(ctx, req)
				if (err == nil) != (tt.oldWorks != "") {
					t.Errorf("old secret: %v, want it to work: %v", err, tt.oldWorks != "")
				}
			}
		})
	}
}

// retryStore runs every update twice, as a store retrying after an
// optimistic-lock conflict may, and lets another writer set a secret in
// between.
type retryStore struct {
	*memStore
	between func()
}

func (s retryStore) UpdateClient(ctx context.Context, id string, update func(*store.Client) error) (store.Client, error) {
	if _, err := s.memStore.UpdateClient(ctx, id, func(c *store.Client) error {
		cp := clone(*c)
		return errors.Join(update(&cp), errRetry)
	}); !errors.Is(err, errRetry) {
		return store.Client{}, err
	}
	s.between()
	return s.memStore.UpdateClient(ctx, id, update)
}

var errRetry = errors.New("retry")

func TestReplaceSecretSurvivesUpdateRetries(t *testing.T) {
	st := newMemStore()
	var r *Registry
	rs := retryStore{memStore: st, between: func() {
		c := st.clients["app"]
		c.SecretDigest = r.digest("concurrent")
		st.clients["app"] = c
	}}
	r, err := NewRegistry(Config{Store: rs, SecretKey: testKey, Logger: quiet, Issuer: testIssuer, Replay: newMemReplay(time.Now)})
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	m := Metadata{ClientID: "app", TokenEndpointAuthMethod: AuthNone, GrantTypes: []string{"authorization_code"}, RedirectURIs: []string{"https://a.example/cb"}}
	if _, err := r.Create(ctx, m); err != nil {
		t.Fatal(err)
	}
	m.TokenEndpointAuthMethod = AuthBasic
	got, err := r.Replace(ctx, "app", m)
	if err != nil {
		t.Fatal(err)
	}
	// The first attempt made a secret; the one that was written kept the
	// concurrent one, so no secret may be returned.
	if got.ClientSecret != "" {
		t.Errorf("Replace returned secret %q that was never stored", got.ClientSecret)
	}
	if _, err := r.Authenticate(ctx, basicReq("app", "concurrent")); err != nil {
		t.Errorf("stored secret: %v", err)
	}
}

// TestNewClientIDs: item 8. A new client's id is limited to RFC 3986
// unreserved characters, so every admin route can name it; an id stored
// by an older version with reserved characters stays readable, replaceable,
// resettable and deletable.
func TestNewClientIDs(t *testing.T) {
	r, st, _ := newTestRegistry(t)
	ctx := context.Background()
	for _, id := range []string{"a/b", "..", ".", "a b", "a?b", "a#b", "a%2Fb", "svc:a+b", "a@b", "é", strings.Repeat("x", MaxClientIDLen+1)} {
		_, err := r.Create(ctx, Metadata{ClientID: id})
		if e := wantOAuth(t, err, oauth.InvalidClientMetadata, http.StatusBadRequest); !strings.Contains(e.Description, "unreserved") {
			t.Errorf("create %q: description %q does not say what is allowed", id, e.Description)
		}
	}
	for _, id := range []string{"a", "A-Z_0.9~", "...", "a..b", strings.Repeat("x", MaxClientIDLen)} {
		if _, err := r.Create(ctx, Metadata{ClientID: id}); err != nil {
			t.Errorf("create %q: %v", id, err)
		}
	}
	legacy := "../team/a:b"
	seed(r, st, store.Client{ID: legacy, TokenEndpointAuthMethod: AuthBasic, GrantTypes: []string{GrantClientCredentials}}, "s")
	if _, err := r.Get(ctx, legacy); err != nil {
		t.Fatalf("get legacy: %v", err)
	}
	if _, err := r.Replace(ctx, legacy, Metadata{ClientName: "renamed", TokenEndpointAuthMethod: AuthBasic}); err != nil {
		t.Fatalf("replace legacy: %v", err)
	}
	if _, err := r.ResetSecret(ctx, legacy); err != nil {
		t.Fatalf("reset legacy: %v", err)
	}
	if err := r.Delete(ctx, legacy); err != nil {
		t.Fatalf("delete legacy: %v", err)
	}
}
