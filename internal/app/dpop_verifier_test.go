package app_test

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"testing"

	"github.com/authd-dev/authd/verifier"
	"github.com/authd-dev/authd/verifier/verifiertest"
)

// TestDPoPVerifierMiddleware: a resource server guarded by the public
// verifier's Middleware, against a real authd. A DPoP-bound access token
// from authd works only with a proof of its key (RFC 9449 §7.1): the same
// token copied and sent as a bearer token, with a proof of another key, or
// with a proof already used, is refused with a challenge.
func TestDPoPVerifierMiddleware(t *testing.T) {
	forEachStore(t, func(t *testing.T, storeArgs []string) {
		in := start(t, "", storeArgs...)
		const api = "https://orders.example"
		c := in.createClient(map[string]any{"grant_types": []string{"client_credentials"}, "scope": "orders:read",
			"audience": []string{api}, "access_token_signing_alg": "ES256"})
		ctx := context.Background()

		var mw http.Handler
		rs := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { mw.ServeHTTP(w, r) }))
		t.Cleanup(rs.Close)
		v, err := verifier.New(ctx, in.Issuer, verifier.WithAudience(api), verifier.WithDPoPBaseURL(rs.URL))
		if err != nil {
			t.Fatalf("verifier.New: %v", err)
		}
		t.Cleanup(func() { v.Close() })
		mw = v.Middleware(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			claims, _ := verifier.ClaimsFrom(r.Context())
			fmt.Fprintf(w, "orders of %s", claims.ClientID)
		}))
		orders := rs.URL + "/orders"

		k, other := verifiertest.NewDPoPKey(t), verifiertest.NewDPoPKey(t)
		form := url.Values{"grant_type": {"client_credentials"}, "audience": {api}}
		tr := in.dpopToken(c.ClientID, c.ClientSecret, form, k.Proof(http.MethodPost, in.tokenURL(), ""))
		if tr.Status != 200 || tr.TokenType != "DPoP" {
			t.Fatalf("DPoP token: %d %s %s", tr.Status, tr.Error, tr.TokenType)
		}
		if cnf, _ := decodeClaims(t, tr.AccessToken)["cnf"].(map[string]any); cnf["jkt"] != k.JKT() {
			t.Fatalf("cnf %v; want jkt %s", cnf, k.JKT())
		}
		tok := tr.AccessToken

		good := k.Proof(http.MethodGet, orders, tok)
		if st, _, body := rsGet(t, orders, "DPoP "+tok, good); st != 200 || body != "orders of "+c.ClientID {
			t.Fatalf("DPoP token with its proof: %d %q", st, body)
		}
		// A copied token sent as a bearer token: the verifier sees cnf and
		// refuses it (§7.1), naming DPoP as the scheme to use.
		st, hdr, _ := rsGet(t, orders, "Bearer "+tok)
		if ch := hdr.Values("WWW-Authenticate"); st != 401 || !hasChallenge(ch, "", `error="invalid_token"`) || !hasChallenge(ch, "DPoP ", `algs="`) {
			t.Errorf("bound token as Bearer: %d %q; want 401 invalid_token and a DPoP challenge", st, ch)
		}
		// A thief's own key: a valid proof, but not of the token's key.
		st, hdr, _ = rsGet(t, orders, "DPoP "+tok, other.Proof(http.MethodGet, orders, tok))
		if ch := hdr.Values("WWW-Authenticate"); st != 401 || !hasChallenge(ch, "DPoP ", `error="invalid_token"`) {
			t.Errorf("proof of another key: %d %q; want 401 DPoP invalid_token (not bound to the proof's key)", st, ch)
		}
		// The proof seen at the first request, replayed (§11.1).
		st, hdr, _ = rsGet(t, orders, "DPoP "+tok, good)
		if ch := hdr.Values("WWW-Authenticate"); st != 401 || !hasChallenge(ch, "DPoP ", `error="invalid_dpop_proof"`) {
			t.Errorf("replayed proof: %d %q; want 401 invalid_dpop_proof", st, ch)
		}
		for _, tc := range []struct{ name, proof string }{
			{"no proof", ""},
			{"proof without ath", k.Proof(http.MethodGet, orders, "")},
			{"proof for another URL", k.Proof(http.MethodGet, rs.URL+"/invoices", tok)},
			{"proof for POST", k.Proof(http.MethodPost, orders, tok)},
			{"proof for the token endpoint", k.Proof(http.MethodPost, in.tokenURL(), "")},
		} {
			var proofs []string
			if tc.proof != "" {
				proofs = []string{tc.proof}
			}
			st, hdr, _ := rsGet(t, orders, "DPoP "+tok, proofs...)
			if ch := hdr.Values("WWW-Authenticate"); st != 401 || !hasChallenge(ch, "DPoP ", `error="invalid_dpop_proof"`) {
				t.Errorf("%s: %d %q; want 401 invalid_dpop_proof", tc.name, st, ch)
			}
		}
		// The key holder goes on working with fresh proofs.
		if st, _, _ := rsGet(t, orders, "DPoP "+tok, k.Proof(http.MethodGet, orders, tok)); st != 200 {
			t.Errorf("fresh proof after the refusals: %d", st)
		}
		// A bearer token of the same client still works as Bearer.
		b := in.token(c.ClientID, c.ClientSecret, form)
		if st, _, _ := rsGet(t, orders, "Bearer "+b.AccessToken); b.TokenType != "Bearer" || st != 200 {
			t.Errorf("bearer token: %s %d", b.TokenType, st)
		}
	})
}

// rsGet calls GET u with an Authorization header and DPoP proofs.
func rsGet(t *testing.T, u, authz string, proofs ...string) (int, http.Header, string) {
	t.Helper()
	req, _ := http.NewRequest(http.MethodGet, u, nil)
	req.Header.Set("Authorization", authz)
	for _, p := range proofs {
		req.Header.Add("DPoP", p)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	return resp.StatusCode, resp.Header, string(b)
}

// hasChallenge reports whether one WWW-Authenticate value starts with
// scheme ("" for any) and contains part.
func hasChallenge(values []string, scheme, part string) bool {
	for _, v := range values {
		if strings.HasPrefix(v, scheme) && strings.Contains(v, part) {
			return true
		}
	}
	return false
}
