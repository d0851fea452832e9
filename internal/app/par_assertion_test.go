package app_test

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"net/http"
	"strings"
	"testing"

	"github.com/go-jose/go-jose/v4"
)

// parWithAssertion pushes simpleRequest for a private_key_jwt client
// authenticated by assertion (RFC 9126 §2, RFC 7523 §2.2).
func parWithAssertion(t *testing.T, in *instance, clientID, assertion string) parResponse {
	t.Helper()
	form := simpleRequest()
	form.Set("client_id", clientID)
	form.Set("client_assertion_type", "urn:ietf:params:oauth:client-assertion-type:jwt-bearer")
	form.Set("client_assertion", assertion)
	var pr parResponse
	pr.Status, pr.Header = doJSON(t, in.formPost("/oauth2/par", form, "", ""), "PAR endpoint", &pr)
	return pr
}

// TestPARAssertionAudience: RFC 9126 §2 — the PAR endpoint "MUST accept
// its issuer identifier, token endpoint URL, or pushed authorization
// request endpoint URL" as the aud of a client assertion. The token
// endpoint keeps draft-ietf-oauth-rfc7523bis (the issuer only, the token
// endpoint URL behind --client-assertion-audience-token-endpoint, never
// the PAR URL), and a jti used at one endpoint is refused at the other.
func TestPARAssertionAudience(t *testing.T) {
	forEachStore(t, func(t *testing.T, storeArgs []string) {
		in := start(t, t.TempDir(), storeArgs...)
		key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
		if err != nil {
			t.Fatal(err)
		}
		jwks := jose.JSONWebKeySet{Keys: []jose.JSONWebKey{{Key: key.Public(), KeyID: "k1", Algorithm: "ES256", Use: "sig"}}}
		c := codeClient(in, map[string]any{"client_id": "par-jwt", "token_endpoint_auth_method": "private_key_jwt", "jwks": jwks,
			"grant_types": []string{"authorization_code", "client_credentials"}})
		s := assertionSigner{id: c.ClientID, key: key}
		parURL, tokenURL := in.Issuer+"/oauth2/par", in.Issuer+"/oauth2/token"

		for _, tt := range []struct {
			name, aud string
			ok        bool
		}{
			{"issuer", in.Issuer, true},
			{"token endpoint URL", tokenURL, true},
			{"PAR endpoint URL", parURL, true},
			{"authorization endpoint URL", in.Issuer + "/oauth2/authorize", false},
			{"another server's PAR URL", "https://elsewhere.example/oauth2/par", false},
		} {
			p := parWithAssertion(t, in, c.ClientID, s.sign(t, tt.aud, ""))
			if tt.ok && (p.Status != http.StatusCreated || !strings.HasPrefix(p.RequestURI, requestURIPf)) {
				t.Errorf("PAR, aud %s: %d %s %s; want 201", tt.name, p.Status, p.Error, p.Description)
			}
			if !tt.ok && (p.Status != http.StatusUnauthorized || p.Error != "invalid_client") {
				t.Errorf("PAR, aud %s: %d %s; want 401 invalid_client", tt.name, p.Status, p.Error)
			}
		}

		// The token endpoint is not loosened: the PAR URL and (by
		// default) the token endpoint URL are refused there.
		for _, tt := range []struct {
			name, aud string
			ok        bool
		}{
			{"issuer", in.Issuer, true},
			{"token endpoint URL (off by default)", tokenURL, false},
			{"PAR endpoint URL", parURL, false},
		} {
			r := withAssertion(in, s.sign(t, tt.aud, ""))
			if tt.ok && r.Status != http.StatusOK {
				t.Errorf("token, aud %s: %d %s %s; want 200", tt.name, r.Status, r.Error, r.Description)
			}
			if !tt.ok && (r.Status != http.StatusUnauthorized || r.Error != "invalid_client") {
				t.Errorf("token, aud %s: %d %s; want 401 invalid_client", tt.name, r.Status, r.Error)
			}
		}

		// One jti, one use, across both endpoints (RFC 7523 §3 item 7).
		a := s.sign(t, in.Issuer, "")
		if p := parWithAssertion(t, in, c.ClientID, a); p.Status != http.StatusCreated {
			t.Fatalf("push: %d %s", p.Status, p.Error)
		}
		if r := withAssertion(in, a); r.Status != http.StatusUnauthorized || r.Error != "invalid_client" {
			t.Errorf("assertion used at PAR, again at token: %d %s; want 401 invalid_client", r.Status, r.Error)
		}
		if p := parWithAssertion(t, in, c.ClientID, a); p.Status != http.StatusUnauthorized {
			t.Errorf("assertion replayed at PAR: %d %s; want 401", p.Status, p.Error)
		}
	})
}
