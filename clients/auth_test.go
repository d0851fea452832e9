package clients

import (
	"bytes"
	"context"
	"crypto"
	"crypto/ecdsa"
	"crypto/rand"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/go-jose/go-jose/v4"
	"github.com/go-jose/go-jose/v4/jwt"
	"golang.org/x/oauth2"
	"golang.org/x/oauth2/clientcredentials"

	"github.com/authd-dev/authd/oauth"
	"github.com/authd-dev/authd/store"
)

// publicJWK is the public half of key as a signing JWK.
func publicJWK(key crypto.Signer, kid string) jose.JSONWebKey {
	return jose.JSONWebKey{Key: key.Public(), KeyID: kid, Use: "sig"}
}

// Credentials with every character RFC 6749 §2.3.1's form-encoding
// matters for: ':' separates id and secret, '+' is a space once decoded,
// '%' starts an escape.
const (
	oddID     = "svc:reports+nightly%x"
	oddSecret = "s3:cr+et with spaces%/é"
)

// seed stores a client directly, with a chosen secret.
func seed(r *Registry, st *memStore, c store.Client, secret string) {
	if secret != "" {
		c.SecretDigest = r.digest(secret)
	}
	st.clients[c.ID] = c
}

func form(v url.Values) *http.Request {
	req, _ := http.NewRequest(http.MethodPost, testTokenEndpoint, nil)
	req.PostForm = v
	return req
}

func withHeader(req *http.Request, v string) *http.Request {
	req.Header.Set("Authorization", v)
	return req
}

func TestAuthenticateSecrets(t *testing.T) {
	r, st, _ := newTestRegistry(t)
	seed(r, st, store.Client{ID: oddID, TokenEndpointAuthMethod: AuthBasic}, oddSecret)
	seed(r, st, store.Client{ID: "plain", TokenEndpointAuthMethod: AuthBasic}, "plain-secret")
	seed(r, st, store.Client{ID: "poster", TokenEndpointAuthMethod: AuthPost}, oddSecret)
	seed(r, st, store.Client{ID: "spa", TokenEndpointAuthMethod: AuthNone}, "")
	seed(r, st, store.Client{ID: "a b", TokenEndpointAuthMethod: AuthBasic}, "x")

	const failed = "client authentication failed"
	tests := []struct {
		name   string
		req    *http.Request
		wantID string
		code   string // error code when wantID is ""
		cause  error
	}{
		{name: "basic, form-encoded", req: basicReq(oddID, oddSecret), wantID: oddID},
		{name: "basic, plain", req: withHeader(form(url.Values{}), "Basic "+base64.StdEncoding.EncodeToString([]byte("plain:plain-secret"))), wantID: "plain"},
		{name: "basic, scheme case-insensitive", req: withHeader(form(url.Values{}), "basic "+base64.StdEncoding.EncodeToString([]byte("plain:plain-secret"))), wantID: "plain"},
		{name: "basic, raw '+' is a space", req: withHeader(form(url.Values{}), "Basic "+base64.StdEncoding.EncodeToString([]byte("a+b:x"))), wantID: "a b"},
		{name: "basic, unencoded ':' in the id", req: withHeader(form(url.Values{}), "Basic "+base64.StdEncoding.EncodeToString([]byte(oddID+":"+oddSecret))), code: oauth.InvalidClient},
		{name: "basic, same client_id in form", req: func() *http.Request {
			req := basicReq(oddID, oddSecret)
			req.PostForm.Set("client_id", oddID)
			return req
		}(), wantID: oddID},
		{name: "basic, other client_id in form", req: func() *http.Request {
			req := basicReq(oddID, oddSecret)
			req.PostForm.Set("client_id", "plain")
			return req
		}(), code: oauth.InvalidRequest},
		{name: "basic, wrong secret", req: basicReq(oddID, oddSecret+"x"), code: oauth.InvalidClient, cause: ErrWrongSecret},
		{name: "basic, empty secret", req: basicReq(oddID, ""), code: oauth.InvalidClient, cause: ErrWrongSecret},
		{name: "basic, unknown client", req: basicReq("ghost", oddSecret), code: oauth.InvalidClient, cause: ErrUnknownClient},
		{name: "basic, post client", req: basicReq("poster", oddSecret), code: oauth.InvalidClient, cause: ErrWrongMethod},
		{name: "basic, public client, no secret", req: basicReq("spa", ""), code: oauth.InvalidClient, cause: ErrWrongMethod},
		{name: "basic, not base64", req: withHeader(form(url.Values{}), "Basic !!!"), code: oauth.InvalidClient, cause: ErrMalformedBasic},
		{name: "basic, bad escape", req: withHeader(form(url.Values{}), "Basic "+base64.StdEncoding.EncodeToString([]byte("svc%zz:x"))), code: oauth.InvalidClient, cause: ErrMalformedBasic},
		{name: "basic, empty id", req: basicReq("", "x"), code: oauth.InvalidClient, cause: ErrMalformedBasic},
		{name: "bearer header", req: withHeader(form(url.Values{}), "Bearer abc"), code: oauth.InvalidClient, cause: ErrMalformedBasic},
		{name: "basic and post", req: func() *http.Request {
			req := basicReq(oddID, oddSecret)
			req.PostForm.Set("client_secret", oddSecret)
			return req
		}(), code: oauth.InvalidRequest},
		{name: "post", req: postSecret("poster", oddSecret), wantID: "poster"},
		{name: "post, wrong secret", req: postSecret("poster", "nope"), code: oauth.InvalidClient, cause: ErrWrongSecret},
		{name: "post, unknown client", req: postSecret("ghost", "nope"), code: oauth.InvalidClient, cause: ErrUnknownClient},
		{name: "post, basic client", req: postSecret(oddID, oddSecret), code: oauth.InvalidClient, cause: ErrWrongMethod},
		{name: "post, public client", req: postSecret("spa", "anything"), code: oauth.InvalidClient, cause: ErrWrongMethod},
		{name: "post, no client_id", req: form(url.Values{"client_secret": {oddSecret}}), code: oauth.InvalidClient, cause: ErrUnknownClient},
		{name: "post, repeated client_id", req: form(url.Values{"client_id": {"poster", "x"}, "client_secret": {oddSecret}}), code: oauth.InvalidRequest},
		{name: "post and assertion", req: form(url.Values{"client_id": {"poster"}, "client_secret": {oddSecret}, "client_assertion_type": {AssertionType}, "client_assertion": {"x"}}), code: oauth.InvalidRequest},
		{name: "none", req: form(url.Values{"client_id": {"spa"}}), wantID: "spa"},
		{name: "none, confidential client", req: form(url.Values{"client_id": {oddID}}), code: oauth.InvalidClient, cause: ErrWrongMethod},
		{name: "none, unknown client", req: form(url.Values{"client_id": {"ghost"}}), code: oauth.InvalidClient, cause: ErrUnknownClient},
		{name: "no credentials", req: form(url.Values{}), code: oauth.InvalidClient, cause: ErrUnknownClient},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c, err := r.Authenticate(context.Background(), tt.req)
			if tt.wantID != "" {
				if err != nil || c.ID != tt.wantID {
					t.Fatalf("Authenticate = %q, %v; want %q", c.ID, err, tt.wantID)
				}
				return
			}
			status := http.StatusBadRequest
			if tt.code == oauth.InvalidClient {
				status = http.StatusUnauthorized
			}
			e := wantOAuth(t, err, tt.code, status)
			if tt.code == oauth.InvalidClient && e.Description != failed {
				t.Errorf("description %q, want %q for every failure", e.Description, failed)
			}
			if tt.cause != nil && !errors.Is(err, tt.cause) {
				t.Errorf("cause %v, want %v", e.Cause, tt.cause)
			}
			if c.ID != "" {
				t.Errorf("a client (%q) came back with the error", c.ID)
			}
		})
	}
}

// TestAuthenticateEqualWork: an unknown client costs one digest and one
// constant-time comparison (against the dummy digest), like a wrong secret.
func TestAuthenticateEqualWork(t *testing.T) {
	r, st, _ := newTestRegistry(t)
	seed(r, st, store.Client{ID: "svc", TokenEndpointAuthMethod: AuthBasic}, "right")
	var calls [][]byte
	r.equal = func(a, b []byte) bool {
		calls = append(calls, b)
		return bytes.Equal(a, b)
	}
	for _, tt := range []struct {
		name, id string
		against  []byte
	}{
		{"unknown client", "ghost", r.dummy},
		{"wrong secret", "svc", r.digest("right")},
	} {
		t.Run(tt.name, func(t *testing.T) {
			calls = nil
			_, err := r.Authenticate(context.Background(), basicReq(tt.id, "wrong"))
			wantOAuth(t, err, oauth.InvalidClient, http.StatusUnauthorized)
			if len(calls) != 1 || !bytes.Equal(calls[0], tt.against) {
				t.Errorf("comparisons %x, want one against %x", calls, tt.against)
			}
		})
	}
	if bytes.Equal(r.dummy, r.digest("")) {
		t.Error("the dummy digest is the digest of an empty secret")
	}
}

// TestAuthenticateWithOAuth2Library drives x/oauth2's client credentials
// flow, which form-urlencodes id and secret into Basic credentials (or
// sends them as form parameters), against Authenticate.
func TestAuthenticateWithOAuth2Library(t *testing.T) {
	r, st, _ := newTestRegistry(t)
	seed(r, st, store.Client{ID: oddID, TokenEndpointAuthMethod: AuthBasic}, oddSecret)
	seed(r, st, store.Client{ID: "poster:" + oddID, TokenEndpointAuthMethod: AuthPost}, oddSecret)
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, req *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		if err := req.ParseForm(); err != nil {
			w.WriteHeader(http.StatusBadRequest)
			return
		}
		c, err := r.Authenticate(req.Context(), req)
		if e := oauth.As(err); e != nil {
			if _, _, basic := req.BasicAuth(); basic {
				w.Header().Set("WWW-Authenticate", `Basic realm="authd"`)
			}
			w.WriteHeader(e.Status)
			json.NewEncoder(w).Encode(map[string]string{"error": e.Code, "error_description": e.Description})
			return
		}
		json.NewEncoder(w).Encode(map[string]any{"access_token": "for " + c.ID, "token_type": "Bearer", "expires_in": 60})
	}))
	defer srv.Close()
	tests := []struct {
		name, id, secret string
		style            oauth2.AuthStyle
		wantErr          bool
	}{
		{"header", oddID, oddSecret, oauth2.AuthStyleInHeader, false},
		{"params", "poster:" + oddID, oddSecret, oauth2.AuthStyleInParams, false},
		{"header, wrong secret", oddID, "wrong", oauth2.AuthStyleInHeader, true},
		{"header, post client", "poster:" + oddID, oddSecret, oauth2.AuthStyleInHeader, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			cfg := clientcredentials.Config{ClientID: tt.id, ClientSecret: tt.secret, TokenURL: srv.URL, AuthStyle: tt.style}
			tok, err := cfg.Token(context.Background())
			if tt.wantErr {
				var re *oauth2.RetrieveError
				if !errors.As(err, &re) || re.ErrorCode != oauth.InvalidClient || re.Response.StatusCode != http.StatusUnauthorized {
					t.Fatalf("Token = %v, want invalid_client 401", err)
				}
				if got := re.Response.Header.Get("WWW-Authenticate"); (got != "") != (tt.style == oauth2.AuthStyleInHeader) {
					t.Errorf("WWW-Authenticate %q with auth style %v", got, tt.style)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if tok.AccessToken != "for "+tt.id {
				t.Errorf("authenticated as %q, want %q", tok.AccessToken, tt.id)
			}
		})
	}
}

// assertion signs claims as a client assertion with key (alg from its
// type), kid in the header unless empty.
func assertion(t testing.TB, key crypto.Signer, kid string, claims any) string {
	t.Helper()
	return typedAssertion(t, key, kid, "JWT", claims)
}

// typedAssertion is assertion with the typ header typ ("" = none).
func typedAssertion(t testing.TB, key crypto.Signer, kid, typ string, claims any) string {
	t.Helper()
	alg := jose.RS256
	if _, ok := key.(*ecdsa.PrivateKey); ok {
		alg = jose.ES256
	}
	opts := &jose.SignerOptions{}
	if typ != "" {
		opts = opts.WithType(jose.ContentType(typ))
	}
	if kid != "" {
		opts = opts.WithHeader("kid", kid)
	}
	sig, err := jose.NewSigner(jose.SigningKey{Algorithm: alg, Key: key}, opts)
	if err != nil {
		t.Fatal(err)
	}
	s, err := jwt.Signed(sig).Claims(claims).Serialize()
	if err != nil {
		t.Fatal(err)
	}
	return s
}

func assertionForm(a string) *http.Request {
	return form(url.Values{"client_assertion_type": {AssertionType}, "client_assertion": {a}})
}

func TestAuthenticatePrivateKeyJWT(t *testing.T) {
	ec, rk := testKeys(t)
	other, err := ecdsa.GenerateKey(ec.Curve, rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	r, st, clk := newTestRegistry(t)
	ctx := context.Background()
	jwks := jwksOf(t, publicJWK(ec, "ec-1"), jose.JSONWebKey{Key: rk.Public(), Algorithm: "RS256"})
	if _, err := r.Create(ctx, Metadata{ClientID: "svc", TokenEndpointAuthMethod: AuthPrivateKeyJWT, JWKS: jwks}); err != nil {
		t.Fatal(err)
	}
	if _, err := r.Create(ctx, Metadata{ClientID: "remote", TokenEndpointAuthMethod: AuthPrivateKeyJWT, JWKSURI: "https://svc.example/jwks"}); err != nil {
		t.Fatal(err)
	}
	seed(r, st, store.Client{ID: "basic", TokenEndpointAuthMethod: AuthBasic}, "s")

	now := t0
	n := 0
	claims := func(edit func(c map[string]any)) map[string]any {
		n++
		c := map[string]any{"iss": "svc", "sub": "svc", "aud": testIssuer, "iat": now.Unix(), "exp": now.Add(time.Minute).Unix(), "jti": fmt.Sprint("jti-", n)}
		if edit != nil {
			edit(c)
		}
		return c
	}
	tests := []struct {
		name   string
		req    *http.Request
		code   string // "" = success
		cause  error
		detail string // expected description, if not the generic one
	}{
		{name: "ES256 with kid", req: assertionForm(assertion(t, ec, "ec-1", claims(nil)))},
		{name: "RS256 without kid", req: assertionForm(assertion(t, rk, "", claims(nil)))},
		{name: "ES256 without kid", req: assertionForm(assertion(t, ec, "", claims(nil)))},
		{name: "aud array of the issuer alone", req: assertionForm(assertion(t, ec, "ec-1", claims(func(c map[string]any) { c["aud"] = []string{testIssuer} })))},
		{name: "with matching client_id", req: func() *http.Request {
			req := assertionForm(assertion(t, ec, "ec-1", claims(nil)))
			req.PostForm.Set("client_id", "svc")
			return req
		}()},
		{name: "iat 2 min ahead (skew)", req: assertionForm(assertion(t, ec, "ec-1", claims(func(c map[string]any) { c["iat"] = now.Add(2 * time.Minute).Unix() })))},
		{name: "other client_id", req: func() *http.Request {
			req := assertionForm(assertion(t, ec, "ec-1", claims(nil)))
			req.PostForm.Set("client_id", "basic")
			return req
		}(), code: oauth.InvalidRequest},
		{name: "wrong assertion type", req: form(url.Values{"client_assertion_type": {"urn:x"}, "client_assertion": {assertion(t, ec, "ec-1", claims(nil))}}), code: oauth.InvalidRequest},
		{name: "type without assertion", req: form(url.Values{"client_assertion_type": {AssertionType}}), code: oauth.InvalidRequest},
		{name: "not a JWT", req: assertionForm("abc.def"), code: oauth.InvalidClient, cause: ErrBadAssertion},
		{name: "alg none", req: assertionForm(base64.RawURLEncoding.EncodeToString([]byte(`{"alg":"none"}`)) + "." + base64.RawURLEncoding.EncodeToString([]byte(`{"iss":"svc","sub":"svc"}`)) + "."), code: oauth.InvalidClient, cause: ErrBadAssertion},
		{name: "HS256", req: func() *http.Request {
			sig, _ := jose.NewSigner(jose.SigningKey{Algorithm: jose.HS256, Key: []byte(strings.Repeat("k", 32))}, nil)
			s, _ := jwt.Signed(sig).Claims(claims(nil)).Serialize()
			return assertionForm(s)
		}(), code: oauth.InvalidClient, cause: ErrBadAssertion},
		{name: "other key, same kid", req: assertionForm(assertion(t, other, "ec-1", claims(nil))), code: oauth.InvalidClient, cause: ErrBadAssertion},
		{name: "other key, no kid", req: assertionForm(assertion(t, other, "", claims(nil))), code: oauth.InvalidClient, cause: ErrBadAssertion},
		{name: "unknown kid", req: assertionForm(assertion(t, ec, "ec-9", claims(nil))), code: oauth.InvalidClient, cause: ErrBadAssertion},
		{name: "wrong aud", req: assertionForm(assertion(t, ec, "ec-1", claims(func(c map[string]any) { c["aud"] = "https://elsewhere.example/token" }))), code: oauth.InvalidClient, cause: jwt.ErrInvalidAudience},
		{name: "aud the token endpoint (not allowed here)", req: assertionForm(assertion(t, ec, "ec-1", claims(func(c map[string]any) { c["aud"] = testTokenEndpoint }))), code: oauth.InvalidClient, cause: jwt.ErrInvalidAudience},
		{name: "aud array with the issuer and another", req: assertionForm(assertion(t, ec, "ec-1", claims(func(c map[string]any) { c["aud"] = []string{testIssuer, "https://other.example"} }))), code: oauth.InvalidClient, cause: jwt.ErrInvalidAudience},
		{name: "aud the issuer with a trailing slash", req: assertionForm(assertion(t, ec, "ec-1", claims(func(c map[string]any) { c["aud"] = testIssuer + "/" }))), code: oauth.InvalidClient, cause: jwt.ErrInvalidAudience},
		{name: "no aud", req: assertionForm(assertion(t, ec, "ec-1", claims(func(c map[string]any) { delete(c, "aud") }))), code: oauth.InvalidClient, cause: jwt.ErrInvalidAudience},
		{name: "expired", req: assertionForm(assertion(t, ec, "ec-1", claims(func(c map[string]any) { c["exp"] = now.Unix() }))), code: oauth.InvalidClient, cause: jwt.ErrExpired},
		{name: "no exp", req: assertionForm(assertion(t, ec, "ec-1", claims(func(c map[string]any) { delete(c, "exp") }))), code: oauth.InvalidClient, cause: ErrBadAssertion},
		{name: "exp too far ahead", req: assertionForm(assertion(t, ec, "ec-1", claims(func(c map[string]any) { c["exp"] = now.Add(2 * time.Hour).Unix() }))), code: oauth.InvalidClient, cause: ErrBadAssertion},
		{name: "no jti", req: assertionForm(assertion(t, ec, "ec-1", claims(func(c map[string]any) { delete(c, "jti") }))), code: oauth.InvalidClient, cause: ErrBadAssertion},
		{name: "iat 10 min ahead", req: assertionForm(assertion(t, ec, "ec-1", claims(func(c map[string]any) { c["iat"] = now.Add(10 * time.Minute).Unix() }))), code: oauth.InvalidClient, cause: jwt.ErrIssuedInTheFuture},
		{name: "nbf 10 min ahead", req: assertionForm(assertion(t, ec, "ec-1", claims(func(c map[string]any) { c["nbf"] = now.Add(10 * time.Minute).Unix() }))), code: oauth.InvalidClient, cause: jwt.ErrNotValidYet},
		{name: "iss is not sub", req: assertionForm(assertion(t, ec, "ec-1", claims(func(c map[string]any) { c["iss"] = "someone" }))), code: oauth.InvalidClient, cause: ErrBadAssertion},
		{name: "unknown client", req: assertionForm(assertion(t, ec, "ec-1", claims(func(c map[string]any) { c["iss"], c["sub"] = "ghost", "ghost" }))), code: oauth.InvalidClient, cause: ErrUnknownClient},
		{name: "secret client", req: assertionForm(assertion(t, ec, "ec-1", claims(func(c map[string]any) { c["iss"], c["sub"] = "basic", "basic" }))), code: oauth.InvalidClient, cause: ErrWrongMethod},
		{name: "jwks_uri client", req: assertionForm(assertion(t, ec, "ec-1", claims(func(c map[string]any) { c["iss"], c["sub"] = "remote", "remote" }))), code: oauth.InvalidClient, cause: ErrKeysFetch}, // no KeyFetcher here
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c, err := r.Authenticate(ctx, tt.req)
			if tt.code == "" {
				if err != nil || c.ID != "svc" {
					t.Fatalf("Authenticate = %q, %v", c.ID, err)
				}
				return
			}
			status := map[string]int{oauth.InvalidClient: http.StatusUnauthorized, oauth.InvalidRequest: http.StatusBadRequest}[tt.code]
			e := wantOAuth(t, err, tt.code, status)
			if tt.cause != nil && !errors.Is(err, tt.cause) {
				t.Errorf("cause %v, want %v", e.Cause, tt.cause)
			}
			if tt.detail != "" && e.Description != tt.detail {
				t.Errorf("description %q, want %q", e.Description, tt.detail)
			}
			if tt.code == oauth.InvalidClient && tt.detail == "" && e.Description != "client authentication failed" {
				t.Errorf("description %q", e.Description)
			}
		})
	}

	t.Run("replay", func(t *testing.T) {
		a := assertion(t, ec, "ec-1", claims(nil))
		if _, err := r.Authenticate(ctx, assertionForm(a)); err != nil {
			t.Fatal(err)
		}
		_, err := r.Authenticate(ctx, assertionForm(a))
		if e := wantOAuth(t, err, oauth.InvalidClient, http.StatusUnauthorized); !errors.Is(e, ErrAssertionReplayed) {
			t.Errorf("cause %v", e.Cause)
		}
		clk.Add(2 * time.Minute) // past exp: refused as expired, not as a replay
		_, err = r.Authenticate(ctx, assertionForm(a))
		if !errors.Is(err, jwt.ErrExpired) {
			t.Errorf("expired replay: %v", err)
		}
	})
}

func BenchmarkAuthenticateBasic(b *testing.B) {
	r, st, _ := newTestRegistry(b)
	seed(r, st, store.Client{ID: oddID, TokenEndpointAuthMethod: AuthBasic}, oddSecret)
	req := basicReq(oddID, oddSecret)
	ctx := context.Background()
	b.ReportAllocs()
	for b.Loop() {
		if _, err := r.Authenticate(ctx, req); err != nil {
			b.Fatal(err)
		}
	}
}

// TestAssertionTyp: draft-ietf-oauth-rfc7523bis explicit typing. A client
// assertion may carry no typ, "JWT" or "client-authentication+jwt"; any
// other JWT the client signs (an access token, a DPoP proof, a logout
// token …) is refused as an assertion.
func TestAssertionTyp(t *testing.T) {
	ec, _ := testKeys(t)
	r, _, clk := newTestRegistry(t)
	ctx := context.Background()
	if _, err := r.Create(ctx, Metadata{ClientID: "svc", TokenEndpointAuthMethod: AuthPrivateKeyJWT, JWKS: jwksOf(t, publicJWK(ec, "ec-1"))}); err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		typ string
		ok  bool
	}{
		{"", true},
		{"JWT", true},
		{"jwt", true},
		{"client-authentication+jwt", true},
		{"application/client-authentication+jwt", true},
		{"Client-Authentication+JWT", true},
		{"at+jwt", false},
		{"application/at+jwt", false},
		{"dpop+jwt", false},
		{"logout+jwt", false},
		{"token-introspection+jwt", false},
		{"secevent+jwt", false},
		{"JOSE", false},
	}
	for i, tt := range tests {
		t.Run("typ="+tt.typ, func(t *testing.T) {
			now := clk.Now()
			claims := map[string]any{"iss": "svc", "sub": "svc", "aud": testIssuer, "iat": now.Unix(), "exp": now.Add(time.Minute).Unix(), "jti": fmt.Sprint("typ-", i)}
			_, err := r.Authenticate(ctx, assertionForm(typedAssertion(t, ec, "ec-1", tt.typ, claims)))
			if tt.ok {
				if err != nil {
					t.Fatalf("typ %q refused: %v", tt.typ, err)
				}
				return
			}
			wantOAuth(t, err, oauth.InvalidClient, http.StatusUnauthorized)
			if !errors.Is(err, ErrAssertionType) {
				t.Errorf("typ %q: cause %v, want ErrAssertionType", tt.typ, err)
			}
		})
	}
}

// TestAssertionAudienceSetting: the token endpoint URL is accepted as aud
// only where the operator allows it; the issuer always is; anything else
// never (draft-ietf-oauth-rfc7523bis).
func TestAssertionAudienceSetting(t *testing.T) {
	ec, _ := testKeys(t)
	ctx := context.Background()
	for _, allow := range []bool{false, true} {
		t.Run(fmt.Sprint("allow=", allow), func(t *testing.T) {
			st, clk := newMemStore(), &clock{now: t0}
			r, err := NewRegistry(Config{Store: st, SecretKey: testKey, Now: clk.Now, Logger: quiet, Issuer: testIssuer, TokenEndpoint: testTokenEndpoint, AcceptTokenEndpointAudience: allow, Replay: newMemReplay(clk.Now)})
			if err != nil {
				t.Fatal(err)
			}
			if _, err := r.Create(ctx, Metadata{ClientID: "svc", TokenEndpointAuthMethod: AuthPrivateKeyJWT, JWKS: jwksOf(t, publicJWK(ec, "ec-1"))}); err != nil {
				t.Fatal(err)
			}
			for i, tt := range []struct {
				aud any
				ok  bool
			}{
				{testIssuer, true},
				{[]string{testIssuer}, true},
				{testTokenEndpoint, allow},
				{[]string{testTokenEndpoint}, allow},
				{[]string{testIssuer, testTokenEndpoint}, false},
				{"https://evil.example", false},
				{"https://evil.example/token", false},
			} {
				claims := map[string]any{"iss": "svc", "sub": "svc", "aud": tt.aud, "iat": t0.Unix(), "exp": t0.Add(time.Minute).Unix(), "jti": fmt.Sprint("aud-", i)}
				_, err := r.Authenticate(ctx, assertionForm(assertion(t, ec, "ec-1", claims)))
				if tt.ok && err != nil {
					t.Errorf("aud %v refused: %v", tt.aud, err)
				}
				if !tt.ok && !errors.Is(err, jwt.ErrInvalidAudience) {
					t.Errorf("aud %v: %v, want invalid audience", tt.aud, err)
				}
			}
		})
	}
	if _, err := NewRegistry(Config{Store: newMemStore(), SecretKey: testKey, Issuer: testIssuer, AcceptTokenEndpointAudience: true, Replay: newMemReplay(time.Now)}); err == nil {
		t.Error("AcceptTokenEndpointAudience without TokenEndpoint accepted")
	}
	if _, err := NewRegistry(Config{Store: newMemStore(), SecretKey: testKey, Issuer: testIssuer}); err == nil {
		t.Error("a Registry without a Replay record was built")
	}
	if _, err := NewRegistry(Config{Store: newMemStore(), SecretKey: testKey, Replay: newMemReplay(time.Now)}); err == nil {
		t.Error("a Registry without an Issuer was built")
	}
}
