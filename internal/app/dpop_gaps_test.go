package app_test

import (
	"net/http"
	"net/url"
	"testing"
	"time"
)

// DPoP (RFC 9449) where the first landing left gaps: a DPoP header on the
// pushed authorization request (§10.1), the token-exchange grant, and a
// public client's refresh binding through the password grant (§5).

// parURL is the pushed authorization request endpoint under the issuer:
// the htu of proofs sent to it.
func (in *instance) parURL() string { return in.Issuer + "/oauth2/par" }

// dpopPAR pushes form for the confidential client c with DPoP headers.
func (in *instance) dpopPAR(c registeredClient, form url.Values, proofs ...string) parResponse {
	in.t.Helper()
	req := in.formPost("/oauth2/par", form, c.ClientID, c.ClientSecret)
	for _, p := range proofs {
		req.Header.Add("DPoP", p)
	}
	var pr parResponse
	pr.Status, pr.Header = doJSON(in.t, req, "PAR endpoint", &pr)
	return pr
}

// pushedCode signs pia in through a pushed request and returns the code.
func pushedCode(t *testing.T, in *instance, c registeredClient, requestURI string) string {
	t.Helper()
	b := browser(t)
	page := wantLoginPage(t, b, in.authorizeURL(c.ClientID, requestURI))
	resp, _ := post(t, b, in.Public.URL+"/oauth2/authorize/login", url.Values{"request": {formField(t, page)}, "username": {"pia"}, "password": {"password-of-pia"}})
	return codeOf(t, resp, parRedirect)
}

// TestDPoPProofAtPAR: a DPoP proof sent to the PAR endpoint (RFC 9449
// §10.1) is checked like one at the token endpoint and binds the code to
// its key as dpop_jkt does; a dpop_jkt naming another key is refused.
func TestDPoPProofAtPAR(t *testing.T) {
	forEachStore(t, func(t *testing.T, storeArgs []string) {
		in := start(t, "", storeArgs...)
		c := codeClient(in, map[string]any{"skip_consent": true})
		in.createUser("pia", "password-of-pia")
		k, other := newDPoPKey(t), newDPoPKey(t)

		p := in.dpopPAR(c, simpleRequest(), k.proof(t, "POST", in.parURL(), proofOpts{}))
		if p.Status != http.StatusCreated || p.RequestURI == "" {
			t.Fatalf("push with a DPoP proof: %d %s %s", p.Status, p.Error, p.Description)
		}
		code := pushedCode(t, in, c, p.RequestURI)
		exchange := url.Values{"grant_type": {"authorization_code"}, "code": {code}, "redirect_uri": {parRedirect}}
		if r := in.token(c.ClientID, c.ClientSecret, exchange); r.Status != 400 || r.Error != "invalid_grant" {
			t.Errorf("code pushed with a proof, exchanged without one: %d %s; want 400 invalid_grant", r.Status, r.Error)
		}
		if r := in.dpopToken(c.ClientID, c.ClientSecret, exchange, other.proof(t, "POST", in.tokenURL(), proofOpts{})); r.Status != 400 || r.Error != "invalid_grant" {
			t.Errorf("code pushed with a proof, exchanged with another key: %d %s; want 400 invalid_grant", r.Status, r.Error)
		}
		wantDPoPBound(t, in, in.dpopToken(c.ClientID, c.ClientSecret, exchange, k.proof(t, "POST", in.tokenURL(), proofOpts{})), k, in.Issuer)

		// Both mechanisms naming the same key are accepted.
		same := simpleRequest()
		same.Set("dpop_jkt", k.jkt)
		if p := in.dpopPAR(c, same, k.proof(t, "POST", in.parURL(), proofOpts{})); p.Status != http.StatusCreated {
			t.Errorf("dpop_jkt and a proof of the same key: %d %s %s", p.Status, p.Error, p.Description)
		}
		// §10.1: "MUST reject the request if the JWK Thumbprint in
		// dpop_jkt does not match the public key in the DPoP header".
		diff := simpleRequest()
		diff.Set("dpop_jkt", other.jkt)
		wantPARRefused(t, "dpop_jkt of another key than the proof's", in.dpopPAR(c, diff, k.proof(t, "POST", in.parURL(), proofOpts{})), "invalid_dpop_proof")
		// The proof is checked as at the token endpoint (§4.3).
		wantPARRefused(t, "proof for the token endpoint", in.dpopPAR(c, simpleRequest(), k.proof(t, "POST", in.tokenURL(), proofOpts{})), "invalid_dpop_proof")
		wantPARRefused(t, "alg none", in.dpopPAR(c, simpleRequest(), k.unsigned(t, in.parURL())), "invalid_dpop_proof")
		wantPARRefused(t, "two DPoP headers", in.dpopPAR(c, simpleRequest(),
			k.proof(t, "POST", in.parURL(), proofOpts{}), k.proof(t, "POST", in.parURL(), proofOpts{})), "invalid_dpop_proof")
		once := k.proof(t, "POST", in.parURL(), proofOpts{})
		if p := in.dpopPAR(c, simpleRequest(), once); p.Status != http.StatusCreated {
			t.Fatalf("fresh proof: %d %s", p.Status, p.Error)
		}
		wantPARRefused(t, "replayed proof", in.dpopPAR(c, simpleRequest(), once), "invalid_dpop_proof")
	})
}

func wantPARRefused(t *testing.T, what string, p parResponse, code string) {
	t.Helper()
	if p.Status != http.StatusBadRequest || p.Error != code || p.RequestURI != "" {
		t.Errorf("push, %s: %d %s (%s) %q; want 400 %s", what, p.Status, p.Error, p.Description, p.RequestURI, code)
	}
	if cc := p.Header.Get("Cache-Control"); cc != "no-store" {
		t.Errorf("push, %s: Cache-Control %q", what, cc)
	}
}

// TestDPoPNonceAtPAR: with --dpop-nonce the PAR endpoint asks for the
// server's nonce too (RFC 9449 §8), answers with one, and hands out the
// next slot's nonce (DPoP-Nonce on the 201, §8.2) to a proof with the
// previous one.
func TestDPoPNonceAtPAR(t *testing.T) {
	clock := newFakeClock(time.Now())
	in := startWith(t, clock.Now, "", "--dpop-nonce")
	c := codeClient(in, map[string]any{"skip_consent": true})
	k := newDPoPKey(t)
	push := func(nonce string) parResponse {
		return in.dpopPAR(c, simpleRequest(), k.proof(t, "POST", in.parURL(), proofOpts{iat: clock.Now(), nonce: nonce}))
	}
	p := push("")
	nonce := p.Header.Get("DPoP-Nonce")
	if p.Status != http.StatusBadRequest || p.Error != "use_dpop_nonce" || nonce == "" {
		t.Fatalf("push without a nonce: %d %s, DPoP-Nonce %q; want 400 use_dpop_nonce with a nonce", p.Status, p.Error, nonce)
	}
	if p := push(nonce); p.Status != http.StatusCreated || p.Header.Get("DPoP-Nonce") != "" {
		t.Fatalf("push with the nonce: %d %s %s, DPoP-Nonce %q", p.Status, p.Error, p.Description, p.Header.Get("DPoP-Nonce"))
	}
	clock.Add(5 * time.Minute) // the next slot
	p = push(nonce)
	if fresh := p.Header.Get("DPoP-Nonce"); p.Status != http.StatusCreated || fresh == "" || fresh == nonce {
		t.Fatalf("push with the previous slot's nonce: %d %s, DPoP-Nonce %q; want 201 with a fresh nonce", p.Status, p.Error, fresh)
	}
	// Without a proof there is nothing to ask a nonce for.
	if p := in.dpopPAR(c, simpleRequest()); p.Status != http.StatusCreated {
		t.Fatalf("push without DPoP: %d %s", p.Status, p.Error)
	}
}

// TestDPoPTokenExchange: the exchanged access token is bound to the key
// of the exchange request's proof, whatever the subject token's binding
// (tokens/grant_token_exchange.go says why); without a proof it is a
// bearer token.
func TestDPoPTokenExchange(t *testing.T) {
	forEachStore(t, func(t *testing.T, storeArgs []string) {
		in := start(t, "", storeArgs...)
		in.createUser("alice", "password-of-alice")
		front := in.createClient(map[string]any{"grant_types": []string{"password"}, "scope": "read", "audience": []string{"svc"}})
		svc := in.createClient(map[string]any{"client_id": "svc", "grant_types": []string{grantTokenExchange},
			"scope": "read", "audience": []string{"https://backend.example"}, "token_exchange_impersonation": true})
		user, service := newDPoPKey(t), newDPoPKey(t)
		login := in.dpopToken(front.ClientID, front.ClientSecret, url.Values{"grant_type": {"password"}, "username": {"alice"},
			"password": {"password-of-alice"}, "audience": {"svc"}}, user.proof(t, "POST", in.tokenURL(), proofOpts{}))
		wantDPoPBound(t, in, login, user, "svc")

		form := url.Values{"grant_type": {grantTokenExchange}, "subject_token": {login.AccessToken}, "subject_token_type": {tokenTypeAccess}}
		r := in.dpopToken(svc.ClientID, svc.ClientSecret, form, service.proof(t, "POST", in.tokenURL(), proofOpts{}))
		wantDPoPBound(t, in, r, service, "https://backend.example")
		if c := decodeClaims(t, r.AccessToken); c["sub"] != decodeClaims(t, login.AccessToken)["sub"] || c["client_id"] != "svc" {
			t.Errorf("exchanged token: sub %v client_id %v", c["sub"], c["client_id"])
		}
		// Without a proof: a bearer token, the subject's cnf not carried over.
		b := in.dpopToken(svc.ClientID, svc.ClientSecret, form)
		if b.Status != 200 || b.TokenType != "Bearer" {
			t.Fatalf("exchange without a proof: %d %s %s", b.Status, b.Error, b.TokenType)
		}
		if _, ok := decodeClaims(t, b.AccessToken)["cnf"]; ok {
			t.Error("an exchange without a proof carried the subject token's cnf over")
		}
		// A bad proof is refused before the exchange runs.
		wantProofRefused(t, "exchange with a proof for userinfo", in.dpopToken(svc.ClientID, svc.ClientSecret, form,
			service.proof(t, "POST", in.Issuer+"/oauth2/userinfo", proofOpts{})), "invalid_dpop_proof")
	})
}

// TestDPoPPublicPasswordRefresh: a public client's password login with a
// proof binds its refresh token to the key (RFC 9449 §5); a refresh
// without a proof or with another key is invalid_dpop_proof and spends
// and revokes nothing.
func TestDPoPPublicPasswordRefresh(t *testing.T) {
	forEachStore(t, func(t *testing.T, storeArgs []string) {
		in := start(t, "", storeArgs...)
		c := in.createClient(map[string]any{"grant_types": []string{"password", "refresh_token"}, "scope": "read",
			"token_endpoint_auth_method": "none"})
		in.createUser("dora", "password-of-dora")
		k, other := newDPoPKey(t), newDPoPKey(t)
		htu := in.tokenURL()
		r := in.dpopToken(c.ClientID, "", url.Values{"grant_type": {"password"}, "client_id": {c.ClientID},
			"username": {"dora"}, "password": {"password-of-dora"}}, k.proof(t, "POST", htu, proofOpts{}))
		wantDPoPBound(t, in, r, k, in.Issuer)
		if r.RefreshToken == "" {
			t.Fatal("no refresh token")
		}
		ref := url.Values{"grant_type": {"refresh_token"}, "client_id": {c.ClientID}, "refresh_token": {r.RefreshToken}}
		wantProofRefused(t, "public refresh without a proof", in.dpopToken(c.ClientID, "", ref), "invalid_dpop_proof")
		wantProofRefused(t, "public refresh with another key", in.dpopToken(c.ClientID, "", ref, other.proof(t, "POST", htu, proofOpts{})), "invalid_dpop_proof")
		rs := in.createClient(map[string]any{"grant_types": []string{"client_credentials"}})
		if !in.introspect(rs, r.AccessToken).Active {
			t.Error("a refused refresh revoked the login's access token")
		}
		r2 := in.dpopToken(c.ClientID, "", ref, k.proof(t, "POST", htu, proofOpts{}))
		wantDPoPBound(t, in, r2, k, in.Issuer)
		ref.Set("refresh_token", r2.RefreshToken)
		wantProofRefused(t, "rotated refresh with another key", in.dpopToken(c.ClientID, "", ref, other.proof(t, "POST", htu, proofOpts{})), "invalid_dpop_proof")
		wantDPoPBound(t, in, in.dpopToken(c.ClientID, "", ref, k.proof(t, "POST", htu, proofOpts{})), k, in.Issuer)

		// A public login begun without a proof is a bearer login; its
		// first refresh with a proof binds it from then on (§5).
		b := in.dpopToken(c.ClientID, "", url.Values{"grant_type": {"password"}, "client_id": {c.ClientID},
			"username": {"dora"}, "password": {"password-of-dora"}})
		if b.Status != 200 || b.TokenType != "Bearer" {
			t.Fatalf("public password login without a proof: %d %s %s", b.Status, b.Error, b.TokenType)
		}
		ref.Set("refresh_token", b.RefreshToken)
		b2 := in.dpopToken(c.ClientID, "", ref, k.proof(t, "POST", htu, proofOpts{}))
		wantDPoPBound(t, in, b2, k, in.Issuer)
		ref.Set("refresh_token", b2.RefreshToken)
		wantProofRefused(t, "refresh of a login bound at its first refresh, without a proof", in.dpopToken(c.ClientID, "", ref), "invalid_dpop_proof")
	})
}
