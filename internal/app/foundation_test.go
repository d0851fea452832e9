package app_test

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"io"
	"net/http"
	"net/url"
	"strings"
	"testing"

	"github.com/lestrrat-go/jwx/v3/jwk"
	"github.com/lestrrat-go/jwx/v3/jws"
	"github.com/lestrrat-go/jwx/v3/jwt"
	"golang.org/x/oauth2/clientcredentials"
)

func base64URLDecode(s string) ([]byte, error) { return base64.RawURLEncoding.DecodeString(s) }

// verifyWithJWX checks a token's signature and standard claims with a
// second JOSE library against the served JWKS, as a third party would.
func verifyWithJWX(t *testing.T, in *instance, token, audience string) jwt.Token {
	t.Helper()
	set, err := jwk.Fetch(context.Background(), in.Public.URL+"/oauth2/jwks")
	if err != nil {
		t.Fatalf("fetch JWKS with jwx: %v", err)
	}
	tok, err := jwt.Parse([]byte(token), jwt.WithKeySet(set), jwt.WithValidate(true),
		jwt.WithIssuer(in.Issuer), jwt.WithAudience(audience))
	if err != nil {
		t.Fatalf("jwx rejected the token: %v", err)
	}
	return tok
}

func header(t *testing.T, token string) map[string]any {
	t.Helper()
	msg, err := jws.Parse([]byte(token))
	if err != nil {
		t.Fatal(err)
	}
	raw, err := json.Marshal(msg.Signatures()[0].ProtectedHeaders())
	if err != nil {
		t.Fatal(err)
	}
	var h map[string]any
	json.Unmarshal(raw, &h)
	return h
}

func TestClientCredentialsInterop(t *testing.T) {
	forEachStore(t, func(t *testing.T, storeArgs []string) {
		in := start(t, "", storeArgs...)
		for _, alg := range []string{"RS256", "ES256"} {
			t.Run(alg, func(t *testing.T) {
				c := in.createClient(map[string]any{
					"client_name": "svc " + alg, "scope": "read write",
					"access_token_signing_alg": alg,
				})
				if c.ClientSecret == "" || c.ClientID == "" {
					t.Fatalf("registration did not return credentials: %+v", c)
				}
				// golang.org/x/oauth2 sends url-encoded Basic credentials.
				cc := clientcredentials.Config{ClientID: c.ClientID, ClientSecret: c.ClientSecret,
					TokenURL: in.Public.URL + "/oauth2/token", Scopes: []string{"read"}}
				tok, err := cc.Token(context.Background())
				if err != nil {
					t.Fatalf("x/oauth2 client_credentials: %v", err)
				}
				if tok.TokenType != "Bearer" || tok.RefreshToken != "" {
					t.Errorf("token type %q refresh %q; want Bearer and no refresh token", tok.TokenType, tok.RefreshToken)
				}
				jt := verifyWithJWX(t, in, tok.AccessToken, in.Issuer)
				h := header(t, tok.AccessToken)
				if h["typ"] != "at+jwt" || h["alg"] != alg || h["kid"] == "" {
					t.Errorf("header %v; want typ at+jwt, alg %s, a kid", h, alg)
				}
				claims := decodeClaims(t, tok.AccessToken)
				for _, k := range []string{"iss", "sub", "aud", "exp", "iat", "jti", "client_id", "scope"} {
					if _, ok := claims[k]; !ok {
						t.Errorf("claim %q missing: %v", k, claims)
					}
				}
				if sub, _ := jt.Subject(); sub != c.ClientID {
					t.Errorf("sub = %q; want the client id %q", sub, c.ClientID)
				}
				if claims["client_id"] != c.ClientID || claims["scope"] != "read" {
					t.Errorf("client_id/scope = %v/%v", claims["client_id"], claims["scope"])
				}
				exp, iat := claims["exp"].(float64), claims["iat"].(float64)
				if exp-iat != 900 {
					t.Errorf("exp-iat = %v; want the 15m access-token TTL", exp-iat)
				}
			})
		}
	})
}

func TestTokenEndpointErrors(t *testing.T) {
	in := start(t, "")
	c := in.createClient(map[string]any{"client_name": "svc", "scope": "read", "audience": []string{"https://api.example.com"}})
	post := func(form url.Values, mutate func(*http.Request)) tokenResponse {
		req, _ := http.NewRequest(http.MethodPost, in.Public.URL+"/oauth2/token", strings.NewReader(form.Encode()))
		req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
		req.SetBasicAuth(c.ClientID, c.ClientSecret)
		if mutate != nil {
			mutate(req)
		}
		return in.do(req)
	}
	cc := url.Values{"grant_type": {"client_credentials"}}
	with := func(kv ...string) url.Values {
		v := url.Values{"grant_type": {"client_credentials"}}
		for i := 0; i < len(kv); i += 2 {
			v.Add(kv[i], kv[i+1])
		}
		return v
	}
	tests := []struct {
		name   string
		form   url.Values
		mutate func(*http.Request)
		status int
		code   string
	}{
		{"ok", cc, nil, 200, ""},
		{"wrong secret", cc, func(r *http.Request) { r.SetBasicAuth(c.ClientID, "wrong") }, 401, "invalid_client"},
		{"unknown client", cc, func(r *http.Request) { r.SetBasicAuth("nobody", "x") }, 401, "invalid_client"},
		{"no credentials", cc, func(r *http.Request) { r.Header.Del("Authorization") }, 401, "invalid_client"},
		{"malformed basic", cc, func(r *http.Request) { r.Header.Set("Authorization", "Basic !!!") }, 401, "invalid_client"},
		{"unknown grant", url.Values{"grant_type": {"urn:example:magic"}}, nil, 400, "unsupported_grant_type"},
		{"missing grant", url.Values{}, nil, 400, "invalid_request"},
		{"grant not allowed", url.Values{"grant_type": {"password"}, "username": {"a"}, "password": {"b"}}, nil, 400, "unauthorized_client"},
		{"scope not allowed", with("scope", "admin"), nil, 400, "invalid_scope"},
		{"malformed scope", with("scope", "re\"ad"), nil, 400, "invalid_scope"},
		{"audience not allowed", with("audience", "https://evil.example"), nil, 400, "invalid_target"},
		{"repeated parameter", with("scope", "read", "scope", "read"), nil, 400, "invalid_request"},
		{"json body", cc, func(r *http.Request) { r.Header.Set("Content-Type", "application/json") }, 400, "invalid_request"},
		{"form media type with a charset", cc, func(r *http.Request) {
			r.Header.Set("Content-Type", "application/x-www-form-urlencoded; charset=UTF-8")
		}, 200, ""},
		// RFC 6749 §3.2: parameters travel in the body; the query is not read.
		{"grant only in the query", url.Values{}, func(r *http.Request) { r.URL.RawQuery = "grant_type=client_credentials" }, 400, "invalid_request"},
		{"malformed form", nil, func(r *http.Request) { r.Body = io.NopCloser(strings.NewReader("grant_type=%zz")) }, 400, "invalid_request"},
		{"oversize body", nil, func(r *http.Request) {
			r.Body = io.NopCloser(strings.NewReader("grant_type=client_credentials&pad=" + strings.Repeat("a", 100<<10)))
			r.ContentLength = -1
		}, 413, "invalid_request"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			r := post(tc.form, tc.mutate)
			if r.Status != tc.status || r.Error != tc.code {
				t.Fatalf("got %d %q (%s); want %d %q", r.Status, r.Error, r.Description, tc.status, tc.code)
			}
			if cc := r.Header.Get("Cache-Control"); cc != "no-store" {
				t.Errorf("Cache-Control = %q; want no-store", cc)
			}
			if ct := r.Header.Get("Content-Type"); !strings.HasPrefix(ct, "application/json") {
				t.Errorf("Content-Type = %q", ct)
			}
			if tc.status == 401 && r.Header.Get("WWW-Authenticate") == "" {
				t.Error("401 without WWW-Authenticate")
			}
		})
	}
	t.Run("audience allowed", func(t *testing.T) {
		r := post(with("audience", "https://api.example.com"), nil)
		if r.Status != 200 {
			t.Fatalf("status %d %s", r.Status, r.Error)
		}
		if aud := decodeClaims(t, r.AccessToken)["aud"]; aud != "https://api.example.com" {
			t.Errorf("aud = %v", aud)
		}
	})
	t.Run("client audience is the default", func(t *testing.T) {
		r := post(cc, nil)
		if aud := decodeClaims(t, r.AccessToken)["aud"]; aud != "https://api.example.com" {
			t.Errorf("aud = %v; want the client's audience", aud)
		}
	})
	t.Run("GET is not allowed", func(t *testing.T) {
		resp, err := http.Get(in.Public.URL + "/oauth2/token")
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode != http.StatusMethodNotAllowed {
			t.Errorf("status %d; want 405", resp.StatusCode)
		}
	})
}

func TestClientSecretPost(t *testing.T) {
	in := start(t, "")
	c := in.createClient(map[string]any{"client_name": "post", "token_endpoint_auth_method": "client_secret_post"})
	r := in.token("", "", url.Values{"grant_type": {"client_credentials"}, "client_id": {c.ClientID}, "client_secret": {c.ClientSecret}})
	if r.Status != 200 {
		t.Fatalf("client_secret_post: %d %s %s", r.Status, r.Error, r.Description)
	}
	// The registered method is enforced: Basic is refused for this client.
	if r := in.token(c.ClientID, c.ClientSecret, url.Values{"grant_type": {"client_credentials"}}); r.Status != 401 {
		t.Errorf("basic for a client_secret_post client: %d; want 401", r.Status)
	}
}

func TestJWKSCaching(t *testing.T) {
	in := start(t, "")
	resp, err := http.Get(in.Public.URL + "/oauth2/jwks")
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	etag := resp.Header.Get("ETag")
	if resp.StatusCode != 200 || etag == "" || !strings.HasPrefix(etag, `"`) {
		t.Fatalf("status %d, ETag %q; want 200 and a strong ETag", resp.StatusCode, etag)
	}
	if cc := resp.Header.Get("Cache-Control"); !strings.Contains(cc, "public") || !strings.Contains(cc, "max-age=") {
		t.Errorf("Cache-Control = %q", cc)
	}
	var set struct {
		Keys []map[string]any `json:"keys"`
	}
	if err := json.Unmarshal(body, &set); err != nil {
		t.Fatal(err)
	}
	algs := map[string]bool{}
	for _, k := range set.Keys {
		for _, private := range []string{"d", "p", "q", "dp", "dq", "qi"} {
			if _, ok := k[private]; ok {
				t.Fatalf("JWKS leaks private member %q", private)
			}
		}
		if k["use"] != "sig" || k["kid"] == "" || k["kty"] == "" {
			t.Errorf("key lacks use/kid/kty: %v", k)
		}
		algs[k["alg"].(string)] = true
	}
	if !algs["RS256"] || !algs["ES256"] {
		t.Errorf("algs %v; want RS256 and ES256", algs)
	}
	req, _ := http.NewRequest(http.MethodGet, in.Public.URL+"/oauth2/jwks", nil)
	req.Header.Set("If-None-Match", etag)
	resp, err = http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusNotModified {
		t.Errorf("If-None-Match: status %d; want 304", resp.StatusCode)
	}
}

func TestDiscovery(t *testing.T) {
	in := start(t, "")
	for _, path := range []string{"/.well-known/openid-configuration", "/.well-known/oauth-authorization-server"} {
		t.Run(path, func(t *testing.T) {
			resp, err := http.Get(in.Public.URL + path)
			if err != nil {
				t.Fatal(err)
			}
			defer resp.Body.Close()
			var doc map[string]any
			if err := json.NewDecoder(resp.Body).Decode(&doc); err != nil {
				t.Fatal(err)
			}
			if doc["issuer"] != in.Issuer {
				t.Errorf("issuer = %v; want %s", doc["issuer"], in.Issuer)
			}
			for _, k := range []string{"jwks_uri", "token_endpoint", "grant_types_supported", "response_types_supported",
				"token_endpoint_auth_methods_supported", "id_token_signing_alg_values_supported", "code_challenge_methods_supported"} {
				if _, ok := doc[k]; !ok {
					t.Errorf("%s missing", k)
				}
			}
			if doc["token_endpoint"] != in.Issuer+"/oauth2/token" {
				t.Errorf("token_endpoint = %v", doc["token_endpoint"])
			}
		})
	}
}

func TestAdminAPIErrors(t *testing.T) {
	in := start(t, "")
	tests := []struct {
		name   string
		token  string
		method string
		path   string
		body   any
		status int
	}{
		{"no token", "", "GET", "/admin/clients", nil, 401},
		{"wrong token", "not-the-admin-token-xxxx", "GET", "/admin/clients", nil, 401},
		{"malformed json", in.App.Config.AdminToken, "POST", "/admin/clients", `{"client_name":`, 400},
		{"unknown field", in.App.Config.AdminToken, "POST", "/admin/clients", `{"client_nme":"x"}`, 400},
		{"trailing data", in.App.Config.AdminToken, "POST", "/admin/clients", `{"client_name":"x"} {}`, 400},
		{"unknown grant type", in.App.Config.AdminToken, "POST", "/admin/clients", map[string]any{"grant_types": []string{"magic"}}, 400},
		{"unknown auth method", in.App.Config.AdminToken, "POST", "/admin/clients", map[string]any{"token_endpoint_auth_method": "magic"}, 400},
		{"unknown alg", in.App.Config.AdminToken, "POST", "/admin/clients", map[string]any{"access_token_signing_alg": "HS256"}, 400},
		{"fragment redirect", in.App.Config.AdminToken, "POST", "/admin/clients", map[string]any{"grant_types": []string{"authorization_code"}, "redirect_uris": []string{"https://a.example/cb#x"}}, 400},
		{"relative redirect", in.App.Config.AdminToken, "POST", "/admin/clients", map[string]any{"grant_types": []string{"authorization_code"}, "redirect_uris": []string{"/cb"}}, 400},
		{"unknown client", in.App.Config.AdminToken, "GET", "/admin/clients/nope", nil, 404},
		{"unknown route", in.App.Config.AdminToken, "GET", "/admin/nothing", nil, 404},
		{"bad rotate alg", in.App.Config.AdminToken, "POST", "/admin/keys/rotate", map[string]any{"alg": "none"}, 400},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			var e struct {
				Error string `json:"error"`
			}
			st := in.adminWithToken(tc.token, tc.method, tc.path, tc.body, &e)
			if st != tc.status || e.Error == "" {
				t.Errorf("status %d error %q; want %d with an error code", st, e.Error, tc.status)
			}
		})
	}
}

func TestClientLifecycle(t *testing.T) {
	forEachStore(t, func(t *testing.T, storeArgs []string) {
		in := start(t, "", storeArgs...)
		c := in.createClient(map[string]any{"client_id": "billing", "client_name": "Billing", "scope": "read"})
		if c.ClientID != "billing" {
			t.Fatalf("caller-chosen id not kept: %q", c.ClientID)
		}
		if st := in.admin("POST", "/admin/clients", map[string]any{"client_id": "billing"}, nil); st != 409 {
			t.Errorf("duplicate client id: %d; want 409", st)
		}
		var got map[string]any
		in.admin("GET", "/admin/clients/billing", nil, &got)
		if _, leaked := got["client_secret"]; leaked {
			t.Error("GET returns the secret")
		}
		var list struct {
			Clients []map[string]any `json:"clients"`
		}
		in.admin("GET", "/admin/clients", nil, &list)
		if len(list.Clients) == 0 {
			t.Error("list is empty")
		}
		var fresh registeredClient
		if st := in.admin("POST", "/admin/clients/billing/secret", nil, &fresh); st != 200 || fresh.ClientSecret == "" {
			t.Fatalf("new secret: %d %+v", st, fresh)
		}
		cc := url.Values{"grant_type": {"client_credentials"}}
		if r := in.token("billing", c.ClientSecret, cc); r.Status != 401 {
			t.Errorf("old secret still works: %d", r.Status)
		}
		if r := in.token("billing", fresh.ClientSecret, cc); r.Status != 200 {
			t.Errorf("new secret: %d %s", r.Status, r.Error)
		}
		var replaced map[string]any
		if st := in.admin("PUT", "/admin/clients/billing", map[string]any{"client_name": "Billing 2", "scope": "read write"}, &replaced); st != 200 {
			t.Fatalf("PUT: %d", st)
		}
		if r := in.token("billing", fresh.ClientSecret, url.Values{"grant_type": {"client_credentials"}, "scope": {"write"}}); r.Status != 200 {
			t.Errorf("after PUT, scope write: %d %s", r.Status, r.Error)
		}
		if st := in.admin("DELETE", "/admin/clients/billing", nil, nil); st != 204 {
			t.Errorf("DELETE: %d", st)
		}
		if r := in.token("billing", fresh.ClientSecret, cc); r.Status != 401 {
			t.Errorf("deleted client still gets tokens: %d", r.Status)
		}
	})
}

func TestRestartKeepsClientsAndKeys(t *testing.T) {
	dir := t.TempDir()
	in := start(t, dir)
	c := in.createClient(map[string]any{"client_name": "persist"})
	before := in.App.Keys.JWKS()
	in.stop()

	again := start(t, dir)
	if got := again.App.Keys.JWKS(); string(got.Body) != string(before.Body) || got.ETag != before.ETag {
		t.Error("the key set changed across a restart")
	}
	if r := again.token(c.ClientID, c.ClientSecret, url.Values{"grant_type": {"client_credentials"}}); r.Status != 200 {
		t.Fatalf("client lost across restart: %d %s", r.Status, r.Error)
	}
}

func TestHealthAndMetrics(t *testing.T) {
	in := start(t, "")
	for _, base := range []string{in.Public.URL, in.Admin.URL} {
		for _, p := range []string{"/healthz", "/readyz"} {
			resp, err := http.Get(base + p)
			if err != nil {
				t.Fatal(err)
			}
			resp.Body.Close()
			if resp.StatusCode != 200 {
				t.Errorf("%s%s: %d", base, p, resp.StatusCode)
			}
		}
	}
	c := in.createClient(map[string]any{"client_name": "m"})
	in.token(c.ClientID, c.ClientSecret, url.Values{"grant_type": {"client_credentials"}})
	resp, err := http.Get(in.Admin.URL + "/metrics")
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	for _, want := range []string{
		`authd_http_requests_total{code="200",listener="public",route="token"}`,
		`authd_http_request_duration_seconds_bucket{listener="public",route="token"`,
		`authd_tokens_issued_total{grant_type="client_credentials"} 1`,
	} {
		if !strings.Contains(string(body), want) {
			t.Errorf("metrics lack %s", want)
		}
	}
	if resp, _ := http.Get(in.Public.URL + "/metrics"); resp.StatusCode != 404 {
		t.Errorf("metrics exposed on the public listener: %d", resp.StatusCode)
	}
}
