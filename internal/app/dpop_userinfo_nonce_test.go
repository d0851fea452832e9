package app_test

import (
	"net/http"
	"net/url"
	"strings"
	"testing"
)

// TestDPoPNonceAtUserInfo: RFC 9449 §9, resource-server-provided nonces.
// With --dpop-nonce, userinfo asks for the server's nonce as well: a
// proof without it, or with a forged one, is 401 with
// WWW-Authenticate: DPoP error="use_dpop_nonce" and a DPoP-Nonce header;
// the nonce is the token endpoint's stateless one, so the nonce the
// token endpoint handed out works at userinfo and the one userinfo hands
// out works at the token endpoint.
func TestDPoPNonceAtUserInfo(t *testing.T) {
	forEachStore(t, func(t *testing.T, storeArgs []string) {
		in := start(t, "", append(storeArgs, "--dpop-nonce")...)
		c := in.createClient(map[string]any{"grant_types": []string{"password"}, "scope": "openid"})
		in.createUser("nina", "password-of-nina")
		k := newDPoPKey(t)
		form := url.Values{"grant_type": {"password"}, "username": {"nina"}, "password": {"password-of-nina"}, "scope": {"openid"}}
		first := in.dpopToken(c.ClientID, c.ClientSecret, form, k.proof(t, "POST", in.tokenURL(), proofOpts{}))
		tokenNonce := first.Header.Get("DPoP-Nonce")
		if first.Error != "use_dpop_nonce" || tokenNonce == "" {
			t.Fatalf("token without a nonce: %d %s; want use_dpop_nonce with DPoP-Nonce", first.Status, first.Error)
		}
		r := in.dpopToken(c.ClientID, c.ClientSecret, form, k.proof(t, "POST", in.tokenURL(), proofOpts{nonce: tokenNonce}))
		wantDPoPBound(t, in, r, k, in.Issuer)
		at, ui := r.AccessToken, in.Issuer+"/oauth2/userinfo"

		for _, tc := range []struct{ name, nonce string }{
			{"no nonce", ""},
			{"forged nonce", forgeNonce(tokenNonce)},
		} {
			st, hdr, body := userInfo(t, in, "DPoP "+at, k.proof(t, "GET", ui, proofOpts{ath: at, nonce: tc.nonce}))
			w := hdr.Get("WWW-Authenticate")
			if st != http.StatusUnauthorized || !strings.HasPrefix(w, "DPoP ") || !strings.Contains(w, `error="use_dpop_nonce"`) {
				t.Errorf("userinfo, %s: %d %q %s; want 401 DPoP error=\"use_dpop_nonce\"", tc.name, st, w, body)
			}
			if hdr.Get("DPoP-Nonce") == "" {
				t.Errorf("userinfo, %s: no DPoP-Nonce header", tc.name)
			}
			if hdr.Get("Cache-Control") != "no-store" {
				t.Errorf("userinfo, %s: Cache-Control %q", tc.name, hdr.Get("Cache-Control"))
			}
		}

		// The token endpoint's nonce works at userinfo.
		if st, hdr, body := userInfo(t, in, "DPoP "+at, k.proof(t, "GET", ui, proofOpts{ath: at, nonce: tokenNonce})); st != http.StatusOK || !strings.Contains(body, `"sub"`) {
			t.Fatalf("userinfo with the token endpoint's nonce: %d %q %s", st, hdr.Get("WWW-Authenticate"), body)
		}
		// Userinfo's nonce works at the token endpoint.
		_, hdr, _ := userInfo(t, in, "DPoP "+at, k.proof(t, "GET", ui, proofOpts{ath: at}))
		uiNonce := hdr.Get("DPoP-Nonce")
		if st, _, _ := userInfo(t, in, "DPoP "+at, k.proof(t, "GET", ui, proofOpts{ath: at, nonce: uiNonce})); st != http.StatusOK {
			t.Errorf("userinfo with its own nonce: %d", st)
		}
		wantDPoPBound(t, in, in.dpopToken(c.ClientID, c.ClientSecret, form, k.proof(t, "POST", in.tokenURL(), proofOpts{nonce: uiNonce})), k, in.Issuer)

		// A Bearer token at userinfo needs no proof, so no nonce.
		bc := in.createClient(map[string]any{"grant_types": []string{"password"}, "scope": "openid"})
		b := in.token(bc.ClientID, bc.ClientSecret, form)
		if st, hdr, body := userInfo(t, in, "Bearer "+b.AccessToken); st != http.StatusOK {
			t.Errorf("bearer userinfo with nonces on: %d %q %s", st, hdr.Get("WWW-Authenticate"), body)
		}
	})
}
