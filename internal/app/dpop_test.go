package app_test

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/go-jose/go-jose/v4"
	"golang.org/x/oauth2"

	"github.com/authd-dev/authd/verifier/dpop"
)

// DPoP (RFC 9449) at the authorization server, through HTTP: proofs are
// built with go-jose here, tokens checked with a second JOSE library
// (jwx, verifyWithJWX).

// dpopKey is a client's DPoP key pair.
type dpopKey struct {
	priv *ecdsa.PrivateKey
	jkt  string
}

func newDPoPKey(t *testing.T) *dpopKey {
	t.Helper()
	priv, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	jkt, err := dpop.Thumbprint(jose.JSONWebKey{Key: &priv.PublicKey})
	if err != nil {
		t.Fatal(err)
	}
	return &dpopKey{priv: priv, jkt: jkt}
}

// proofOpts changes what a proof says.
type proofOpts struct {
	alg     jose.SignatureAlgorithm
	key     any // signing key (default: the ES256 key)
	jwk     any // the jwk header (default: the public key)
	iat     time.Time
	ath     string // access token to hash into ath
	nonce   string
	jti     string
	typ     string
	omitJWK bool
}

// proof mints a DPoP proof for method and target (RFC 9449 §4.2).
func (k *dpopKey) proof(t *testing.T, method, target string, o proofOpts) string {
	t.Helper()
	if o.alg == "" {
		o.alg, o.key = jose.ES256, k.priv
	}
	if o.jwk == nil {
		o.jwk = &k.priv.PublicKey
	}
	if o.iat.IsZero() {
		o.iat = time.Now()
	}
	if o.jti == "" {
		b := make([]byte, 16)
		rand.Read(b)
		o.jti = base64.RawURLEncoding.EncodeToString(b)
	}
	if o.typ == "" {
		o.typ = "dpop+jwt"
	}
	claims := map[string]any{"jti": o.jti, "htm": method, "htu": target, "iat": o.iat.Unix()}
	if o.ath != "" {
		claims["ath"] = dpop.HashToken(o.ath)
	}
	if o.nonce != "" {
		claims["nonce"] = o.nonce
	}
	payload, _ := json.Marshal(claims)
	headers := map[jose.HeaderKey]any{"typ": o.typ}
	if !o.omitJWK {
		headers["jwk"] = jose.JSONWebKey{Key: o.jwk}
	}
	signer, err := jose.NewSigner(jose.SigningKey{Algorithm: o.alg, Key: o.key}, &jose.SignerOptions{ExtraHeaders: headers})
	if err != nil {
		t.Fatal(err)
	}
	jws, err := signer.Sign(payload)
	if err != nil {
		t.Fatal(err)
	}
	s, err := jws.CompactSerialize()
	if err != nil {
		t.Fatal(err)
	}
	return s
}

// unsigned is a proof with alg "none" (RFC 9449 §4.3 item 5 refuses it).
func (k *dpopKey) unsigned(t *testing.T, target string) string {
	t.Helper()
	jwk, _ := json.Marshal(jose.JSONWebKey{Key: &k.priv.PublicKey})
	h, _ := json.Marshal(map[string]any{"typ": "dpop+jwt", "alg": "none", "jwk": json.RawMessage(jwk)})
	c, _ := json.Marshal(map[string]any{"jti": "none-1", "htm": "POST", "htu": target, "iat": time.Now().Unix()})
	return base64.RawURLEncoding.EncodeToString(h) + "." + base64.RawURLEncoding.EncodeToString(c) + "."
}

// tokenURL is the token endpoint under the issuer: the htu of proofs.
func (in *instance) tokenURL() string { return in.Issuer + "/oauth2/token" }

// dpopToken posts form to the token endpoint with one DPoP header per
// proof and Basic credentials (id empty: none, a public client sends
// client_id in the form).
func (in *instance) dpopToken(id, secret string, form url.Values, proofs ...string) tokenResponse {
	in.t.Helper()
	req, err := http.NewRequest(http.MethodPost, in.Public.URL+"/oauth2/token", strings.NewReader(form.Encode()))
	if err != nil {
		in.t.Fatal(err)
	}
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	if secret != "" {
		req.SetBasicAuth(url.QueryEscape(id), url.QueryEscape(secret))
	}
	for _, p := range proofs {
		req.Header.Add("DPoP", p)
	}
	return in.do(req)
}

// wantDPoPBound checks a DPoP-bound answer: token_type DPoP (§5) and
// cnf.jkt the key's thumbprint (§6.1), read by jwx from a token it
// verified against the JWKS.
func wantDPoPBound(t *testing.T, in *instance, r tokenResponse, k *dpopKey, audience string) {
	t.Helper()
	if r.Status != 200 || r.TokenType != "DPoP" {
		t.Fatalf("DPoP token request: %d %s %s %q; want 200 token_type DPoP", r.Status, r.Error, r.Description, r.TokenType)
	}
	tok := verifyWithJWX(t, in, r.AccessToken, audience)
	var cnf map[string]any
	if err := tok.Get("cnf", &cnf); err != nil || cnf["jkt"] != k.jkt {
		t.Fatalf("cnf of a DPoP-bound token: %v (%v); want jkt %s", cnf, err, k.jkt)
	}
}

func wantProofRefused(t *testing.T, what string, r tokenResponse, code string) {
	t.Helper()
	if r.Status != 400 || r.Error != code {
		t.Errorf("%s: %d %s (%s); want 400 %s", what, r.Status, r.Error, r.Description, code)
	}
}

func TestDPoPClientCredentials(t *testing.T) {
	forEachStore(t, func(t *testing.T, storeArgs []string) {
		in := start(t, "", storeArgs...)
		c := in.createClient(map[string]any{"grant_types": []string{"client_credentials"}, "scope": "read"})
		k := newDPoPKey(t)
		form := url.Values{"grant_type": {"client_credentials"}}
		r := in.dpopToken(c.ClientID, c.ClientSecret, form, k.proof(t, "POST", in.tokenURL(), proofOpts{}))
		wantDPoPBound(t, in, r, k, in.Issuer)
		if got := r.Header.Get("Cache-Control"); got != "no-store" {
			t.Errorf("Cache-Control %q", got)
		}
		// RFC 9449 §6.2: introspection names the binding.
		in2 := introspectRaw(t, in, c, r.AccessToken)
		if cnf, _ := in2["cnf"].(map[string]any); in2["active"] != true || in2["token_type"] != "DPoP" || cnf["jkt"] != k.jkt {
			t.Errorf("introspection of a DPoP-bound token: %v", in2)
		}
		// Without a proof nothing changes: a bearer token without cnf.
		b := in.token(c.ClientID, c.ClientSecret, form)
		if b.Status != 200 || b.TokenType != "Bearer" {
			t.Fatalf("bearer request: %d %s", b.Status, b.TokenType)
		}
		if _, ok := decodeClaims(t, b.AccessToken)["cnf"]; ok {
			t.Error("a bearer token carries cnf")
		}
		if in3 := introspectRaw(t, in, c, b.AccessToken); in3["token_type"] != "Bearer" || in3["cnf"] != nil {
			t.Errorf("introspection of a bearer token: %v", in3)
		}
		// A DPoP-bound token is revoked like any other (RFC 7009).
		if st := in.revoke(c, r.AccessToken, ""); st != 200 {
			t.Fatalf("revoke: %d", st)
		}
		if in.introspect(c, r.AccessToken).Active {
			t.Error("a revoked DPoP-bound token is still active")
		}
	})
}

func TestDPoPDiscovery(t *testing.T) {
	in := start(t, "")
	resp, err := http.Get(in.Public.URL + "/.well-known/oauth-authorization-server")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var doc struct {
		Algs []string `json:"dpop_signing_alg_values_supported"`
	}
	if err := json.NewDecoder(resp.Body).Decode(&doc); err != nil {
		t.Fatal(err)
	}
	if strings.Join(doc.Algs, " ") != strings.Join(dpop.DefaultAlgorithms(), " ") {
		t.Errorf("dpop_signing_alg_values_supported %v; want %v", doc.Algs, dpop.DefaultAlgorithms())
	}
}

// TestDPoPProofRefused: every bad proof is 400 invalid_dpop_proof at the
// token endpoint (RFC 9449 §5, §4.3).
func TestDPoPProofRefused(t *testing.T) {
	in := start(t, "")
	c := in.createClient(map[string]any{"grant_types": []string{"client_credentials"}})
	k := newDPoPKey(t)
	form := url.Values{"grant_type": {"client_credentials"}}
	htu := in.tokenURL()
	hmacKey := make([]byte, 32)
	rand.Read(hmacKey)
	for _, tc := range []struct {
		name, why string
		proofs    []string
	}{
		{"wrong htm", "htm", []string{k.proof(t, "GET", htu, proofOpts{})}},
		{"wrong htu", "htu", []string{k.proof(t, "POST", "https://elsewhere.example/oauth2/token", proofOpts{})}},
		{"htu of the Host, not the issuer", "htu", []string{k.proof(t, "POST", in.Public.URL+"/other", proofOpts{})}},
		{"alg none", "alg", []string{k.unsigned(t, htu)}},
		{"HS256", "alg", []string{k.proof(t, "POST", htu, proofOpts{alg: jose.HS256, key: hmacKey, omitJWK: true})}},
		{"private key in jwk", "private", []string{k.proof(t, "POST", htu, proofOpts{jwk: k.priv})}},
		{"stale iat", "iat too old", []string{k.proof(t, "POST", htu, proofOpts{iat: time.Now().Add(-5 * time.Minute)})}},
		{"iat in the future", "iat in the future", []string{k.proof(t, "POST", htu, proofOpts{iat: time.Now().Add(5 * time.Minute)})}},
		{"wrong typ", "typ", []string{k.proof(t, "POST", htu, proofOpts{typ: "JWT"})}},
		{"two DPoP headers", "exactly one", []string{k.proof(t, "POST", htu, proofOpts{}), k.proof(t, "POST", htu, proofOpts{})}},
		{"garbage", "JWS", []string{"not-a-jwt"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			r := in.dpopToken(c.ClientID, c.ClientSecret, form, tc.proofs...)
			wantProofRefused(t, tc.name, r, "invalid_dpop_proof")
			if !strings.Contains(r.Error+" "+r.Description, tc.why) {
				t.Errorf("%s: error_description %q does not name %q", tc.name, r.Description, tc.why)
			}
		})
	}
	// §11.1: a proof works once.
	p := k.proof(t, "POST", htu, proofOpts{})
	if r := in.dpopToken(c.ClientID, c.ClientSecret, form, p); r.Status != 200 {
		t.Fatalf("first use of a proof: %d %s", r.Status, r.Error)
	}
	wantProofRefused(t, "replayed proof", in.dpopToken(c.ClientID, c.ClientSecret, form, p), "invalid_dpop_proof")
}

// TestDPoPReplayAcrossReplicas: the jti record is the store's, so a proof
// used on one replica is refused on another (RFC 9449 §11.1).
func TestDPoPReplayAcrossReplicas(t *testing.T) {
	args := sharedRedisArgs(t)
	a := start(t, "", args...)
	b := start(t, "", args...)
	c := a.createClient(map[string]any{"grant_types": []string{"client_credentials"}})
	k := newDPoPKey(t)
	form := url.Values{"grant_type": {"client_credentials"}}
	p := k.proof(t, "POST", a.tokenURL(), proofOpts{})
	if r := a.dpopToken(c.ClientID, c.ClientSecret, form, p); r.Status != 200 || r.TokenType != "DPoP" {
		t.Fatalf("replica A: %d %s %s", r.Status, r.Error, r.TokenType)
	}
	wantProofRefused(t, "proof replayed on replica B", b.dpopToken(c.ClientID, c.ClientSecret, form, p), "invalid_dpop_proof")
	wantProofRefused(t, "proof replayed on replica A", a.dpopToken(c.ClientID, c.ClientSecret, form, p), "invalid_dpop_proof")
	// A fresh proof works on B.
	if r := b.dpopToken(c.ClientID, c.ClientSecret, form, k.proof(t, "POST", b.tokenURL(), proofOpts{})); r.Status != 200 {
		t.Fatalf("replica B, fresh proof: %d %s", r.Status, r.Error)
	}
}

// TestDPoPPasswordConfidentialRefresh: a confidential client's refresh
// token stays bound to its client authentication (RFC 9449 §5): a refresh
// without a proof gives a bearer token, one with a proof a DPoP-bound one.
func TestDPoPPasswordConfidentialRefresh(t *testing.T) {
	forEachStore(t, func(t *testing.T, storeArgs []string) {
		in := start(t, "", storeArgs...)
		c := in.createClient(map[string]any{"grant_types": []string{"password", "refresh_token"}, "scope": "read"})
		in.createUser("dora", "password-of-dora")
		k := newDPoPKey(t)
		r := in.dpopToken(c.ClientID, c.ClientSecret, url.Values{"grant_type": {"password"}, "username": {"dora"}, "password": {"password-of-dora"}},
			k.proof(t, "POST", in.tokenURL(), proofOpts{}))
		wantDPoPBound(t, in, r, k, in.Issuer)
		if r.RefreshToken == "" {
			t.Fatal("no refresh token")
		}
		if in2 := introspectRaw(t, in, c, r.RefreshToken); in2["cnf"] != nil {
			t.Errorf("a confidential client's refresh token is DPoP-bound: %v", in2)
		}
		b := refresh(in, c, r.RefreshToken)
		if b.Status != 200 || b.TokenType != "Bearer" {
			t.Fatalf("confidential refresh without a proof: %d %s %s", b.Status, b.Error, b.TokenType)
		}
		d := in.dpopToken(c.ClientID, c.ClientSecret, url.Values{"grant_type": {"refresh_token"}, "refresh_token": {b.RefreshToken}},
			k.proof(t, "POST", in.tokenURL(), proofOpts{}))
		wantDPoPBound(t, in, d, k, in.Issuer)
	})
}

// dpopCodeLogin signs in through the authorization endpoint with extra
// parameters and returns the code and the PKCE verifier.
func dpopCodeLogin(t *testing.T, in *instance, clientID, redirect string, extra url.Values) (code, verifier string) {
	t.Helper()
	verifier = oauth2.GenerateVerifier()
	q := url.Values{"client_id": {clientID}, "response_type": {"code"}, "redirect_uri": {redirect}, "scope": {"openid offline_access"},
		"code_challenge": {oauth2.S256ChallengeFromVerifier(verifier)}, "code_challenge_method": {"S256"}}
	for k, v := range extra {
		q[k] = v
	}
	resp, _ := signIn(t, in, browser(t), in.Public.URL+"/oauth2/authorize?"+q.Encode(), "pia", "password-of-pia")
	return codeOf(t, resp, redirect), verifier
}

// TestDPoPPublicClientCodeAndRefresh: a public client's code flow with
// dpop_jkt (RFC 9449 §10), its refresh tokens bound to the key (§5), and
// userinfo with the DPoP scheme (§7).
func TestDPoPPublicClientCodeAndRefresh(t *testing.T) {
	forEachStore(t, func(t *testing.T, storeArgs []string) {
		in := start(t, "", storeArgs...)
		const redirect = "http://127.0.0.1:9999/cb"
		c := in.createClient(map[string]any{"grant_types": []string{"authorization_code", "refresh_token"}, "redirect_uris": []string{redirect},
			"scope": "openid offline_access", "token_endpoint_auth_method": "none", "skip_consent": true})
		in.createUser("pia", "password-of-pia")
		k, other := newDPoPKey(t), newDPoPKey(t)
		htu := in.tokenURL()

		code, verifier := dpopCodeLogin(t, in, c.ClientID, redirect, url.Values{"dpop_jkt": {k.jkt}})
		exchange := url.Values{"grant_type": {"authorization_code"}, "client_id": {c.ClientID}, "code": {code},
			"redirect_uri": {redirect}, "code_verifier": {verifier}}
		// §10: the code goes only with a proof of the dpop_jkt key; a
		// refused exchange does not spend it.
		if r := in.dpopToken(c.ClientID, "", exchange); r.Status != 400 || r.Error != "invalid_grant" {
			t.Errorf("dpop_jkt code without a proof: %d %s; want 400 invalid_grant", r.Status, r.Error)
		}
		if r := in.dpopToken(c.ClientID, "", exchange, other.proof(t, "POST", htu, proofOpts{})); r.Status != 400 || r.Error != "invalid_grant" {
			t.Errorf("dpop_jkt code with another key: %d %s; want 400 invalid_grant", r.Status, r.Error)
		}
		r := in.dpopToken(c.ClientID, "", exchange, k.proof(t, "POST", htu, proofOpts{}))
		wantDPoPBound(t, in, r, k, in.Issuer)
		if r.RefreshToken == "" {
			t.Fatal("no refresh token")
		}

		// §5: the public client's refresh token needs a proof of the key;
		// refused, it revokes nothing and is not spent.
		ref := url.Values{"grant_type": {"refresh_token"}, "client_id": {c.ClientID}, "refresh_token": {r.RefreshToken}}
		wantProofRefused(t, "public refresh without a proof", in.dpopToken(c.ClientID, "", ref), "invalid_dpop_proof")
		wantProofRefused(t, "public refresh with another key", in.dpopToken(c.ClientID, "", ref, other.proof(t, "POST", htu, proofOpts{})), "invalid_dpop_proof")
		rs := in.createClient(map[string]any{"grant_types": []string{"client_credentials"}}) // a resource server
		if !in.introspect(rs, r.AccessToken).Active {
			t.Error("a refused refresh revoked the login's access token")
		}
		r2 := in.dpopToken(c.ClientID, "", ref, k.proof(t, "POST", htu, proofOpts{}))
		wantDPoPBound(t, in, r2, k, in.Issuer)
		// The binding survives the rotation.
		ref.Set("refresh_token", r2.RefreshToken)
		wantProofRefused(t, "rotated refresh without a proof", in.dpopToken(c.ClientID, "", ref), "invalid_dpop_proof")
		r3 := in.dpopToken(c.ClientID, "", ref, k.proof(t, "POST", htu, proofOpts{}))
		wantDPoPBound(t, in, r3, k, in.Issuer)

		// §7: userinfo with the DPoP scheme and a proof with ath.
		ui := in.Issuer + "/oauth2/userinfo"
		at := r3.AccessToken
		st, hdr, body := userInfo(t, in, "DPoP "+at, k.proof(t, "GET", ui, proofOpts{ath: at}))
		if st != 200 || !strings.Contains(body, `"sub"`) {
			t.Fatalf("userinfo with DPoP: %d %s %s", st, hdr.Get("WWW-Authenticate"), body)
		}
		// §7.1: a bound token sent as a bearer token is refused.
		st, hdr, _ = userInfo(t, in, "Bearer "+at)
		if w := hdr.Get("WWW-Authenticate"); st != 401 || !strings.HasPrefix(w, "DPoP ") || !strings.Contains(w, `error="invalid_token"`) || !strings.Contains(w, `algs="`) {
			t.Errorf("bound token as Bearer: %d %q", st, w)
		}
		for _, tc := range []struct {
			name, proof string
		}{
			{"no proof", ""},
			{"proof without ath", k.proof(t, "GET", ui, proofOpts{})},
			{"proof of another key", other.proof(t, "GET", ui, proofOpts{ath: at})},
			{"proof for POST", k.proof(t, "POST", ui, proofOpts{ath: at})},
		} {
			var proofs []string
			if tc.proof != "" {
				proofs = []string{tc.proof}
			}
			st, hdr, _ := userInfo(t, in, "DPoP "+at, proofs...)
			if w := hdr.Get("WWW-Authenticate"); st != 401 || !strings.HasPrefix(w, "DPoP ") {
				t.Errorf("userinfo, %s: %d %q; want 401 with a DPoP challenge", tc.name, st, w)
			}
		}
		// A proof works once at userinfo too.
		p := k.proof(t, "GET", ui, proofOpts{ath: at})
		if st, _, _ := userInfo(t, in, "DPoP "+at, p); st != 200 {
			t.Fatalf("userinfo, fresh proof: %d", st)
		}
		if st, hdr, _ := userInfo(t, in, "DPoP "+at, p); st != 401 || !strings.Contains(hdr.Get("WWW-Authenticate"), "invalid_dpop_proof") {
			t.Errorf("userinfo, replayed proof: %d %q", st, hdr.Get("WWW-Authenticate"))
		}
	})
}

// userInfo calls GET userinfo with an Authorization header and proofs.
func userInfo(t *testing.T, in *instance, authz string, proofs ...string) (int, http.Header, string) {
	t.Helper()
	return rsGet(t, in.Public.URL+"/oauth2/userinfo", authz, proofs...)
}

// TestDPoPBoundClientRequiresProof: dpop_bound_access_tokens (RFC 9449
// §5.2) makes a proof mandatory for that client.
func TestDPoPBoundClientRequiresProof(t *testing.T) {
	in := start(t, "")
	c := in.createClient(map[string]any{"grant_types": []string{"client_credentials"}, "dpop_bound_access_tokens": true})
	var view map[string]any
	if st := in.admin(http.MethodGet, "/admin/clients/"+c.ClientID, nil, &view); st != 200 || view["dpop_bound_access_tokens"] != true {
		t.Fatalf("admin view: %d %v", st, view)
	}
	form := url.Values{"grant_type": {"client_credentials"}}
	wantProofRefused(t, "dpop_bound_access_tokens without a proof", in.token(c.ClientID, c.ClientSecret, form), "invalid_dpop_proof")
	k := newDPoPKey(t)
	wantDPoPBound(t, in, in.dpopToken(c.ClientID, c.ClientSecret, form, k.proof(t, "POST", in.tokenURL(), proofOpts{})), k, in.Issuer)
}

// TestDPoPNonce: with --dpop-nonce the token endpoint asks for its nonce
// (RFC 9449 §8) and any replica accepts any replica's nonce.
func TestDPoPNonce(t *testing.T) {
	args := append(sharedRedisArgs(t), "--dpop-nonce")
	a := start(t, "", args...)
	b := start(t, "", args...)
	c := a.createClient(map[string]any{"grant_types": []string{"client_credentials"}})
	k := newDPoPKey(t)
	form := url.Values{"grant_type": {"client_credentials"}}
	r := a.dpopToken(c.ClientID, c.ClientSecret, form, k.proof(t, "POST", a.tokenURL(), proofOpts{}))
	nonce := r.Header.Get("DPoP-Nonce")
	if r.Status != 400 || r.Error != "use_dpop_nonce" || nonce == "" {
		t.Fatalf("proof without a nonce: %d %s nonce %q; want 400 use_dpop_nonce with DPoP-Nonce", r.Status, r.Error, nonce)
	}
	wantProofRefused(t, "forged nonce", a.dpopToken(c.ClientID, c.ClientSecret, form,
		k.proof(t, "POST", a.tokenURL(), proofOpts{nonce: forgeNonce(nonce)})), "use_dpop_nonce")
	wantDPoPBound(t, b, b.dpopToken(c.ClientID, c.ClientSecret, form, k.proof(t, "POST", b.tokenURL(), proofOpts{nonce: nonce})), k, b.Issuer)
	wantDPoPBound(t, a, a.dpopToken(c.ClientID, c.ClientSecret, form, k.proof(t, "POST", a.tokenURL(), proofOpts{nonce: nonce})), k, a.Issuer)
	// Without --dpop-nonce a nonce is not asked for.
	in := start(t, "")
	c2 := in.createClient(map[string]any{"grant_types": []string{"client_credentials"}})
	wantDPoPBound(t, in, in.dpopToken(c2.ClientID, c2.ClientSecret, form, k.proof(t, "POST", in.tokenURL(), proofOpts{})), k, in.Issuer)
}

// forgeNonce keeps a nonce's slot and replaces its MAC.
func forgeNonce(n string) string {
	raw, _ := base64.RawURLEncoding.DecodeString(n)
	m := hmac.New(sha256.New, []byte("not the server's key"))
	m.Write(raw[:8])
	return base64.RawURLEncoding.EncodeToString(append(raw[:8:8], m.Sum(nil)[:16]...))
}

// TestDPoPNonceSlots: a nonce lives for its 5-minute slot and the next; a
// proof with the previous slot's nonce succeeds and gets the current one
// back in DPoP-Nonce (RFC 9449 §8.2); older nonces are refused.
func TestDPoPNonceSlots(t *testing.T) {
	clock := newFakeClock(time.Now())
	in := startWith(t, clock.Now, "", "--dpop-nonce")
	c := in.createClient(map[string]any{"grant_types": []string{"client_credentials"}})
	k := newDPoPKey(t)
	form := url.Values{"grant_type": {"client_credentials"}}
	ask := func(nonce string) tokenResponse {
		return in.dpopToken(c.ClientID, c.ClientSecret, form, k.proof(t, "POST", in.tokenURL(), proofOpts{iat: clock.Now(), nonce: nonce}))
	}
	n0 := ask("").Header.Get("DPoP-Nonce")
	if n0 == "" {
		t.Fatal("no DPoP-Nonce with use_dpop_nonce")
	}
	if r := ask(n0); r.Status != 200 || r.Header.Get("DPoP-Nonce") != "" {
		t.Fatalf("current nonce: %d %s, DPoP-Nonce %q; want 200 without a new nonce", r.Status, r.Error, r.Header.Get("DPoP-Nonce"))
	}
	clock.Add(5 * time.Minute) // the next slot
	r := ask(n0)
	n1 := r.Header.Get("DPoP-Nonce")
	if r.Status != 200 || r.TokenType != "DPoP" || n1 == "" || n1 == n0 {
		t.Fatalf("previous slot's nonce: %d %s, DPoP-Nonce %q; want 200 with a fresh nonce", r.Status, r.Error, n1)
	}
	if r := ask(n1); r.Status != 200 {
		t.Fatalf("fresh nonce: %d %s", r.Status, r.Error)
	}
	clock.Add(10 * time.Minute) // two slots later
	if r := ask(n1); r.Status != 400 || r.Error != "use_dpop_nonce" || r.Header.Get("DPoP-Nonce") == "" {
		t.Errorf("stale nonce: %d %s; want 400 use_dpop_nonce with a new nonce", r.Status, r.Error)
	}
}

// TestDPoPJKTWithPAR: dpop_jkt pushed with the other parameters (RFC 9449
// §10.1) binds the code like a front-channel one.
func TestDPoPJKTWithPAR(t *testing.T) {
	in := start(t, "")
	c := codeClient(in, map[string]any{"skip_consent": true})
	in.createUser("pia", "password-of-pia")
	k := newDPoPKey(t)
	form := simpleRequest()
	form.Set("dpop_jkt", k.jkt)
	b := browser(t)
	page := wantLoginPage(t, b, in.authorizeURL(c.ClientID, in.pushed(c, form)))
	resp, _ := post(t, b, in.Public.URL+"/oauth2/authorize/login", url.Values{"request": {formField(t, page)}, "username": {"pia"}, "password": {"password-of-pia"}})
	code := codeOf(t, resp, parRedirect)
	exchange := url.Values{"grant_type": {"authorization_code"}, "code": {code}, "redirect_uri": {parRedirect}}
	if r := in.token(c.ClientID, c.ClientSecret, exchange); r.Status != 400 || r.Error != "invalid_grant" {
		t.Errorf("pushed dpop_jkt, exchange without a proof: %d %s; want 400 invalid_grant", r.Status, r.Error)
	}
	wantDPoPBound(t, in, in.dpopToken(c.ClientID, c.ClientSecret, exchange, k.proof(t, "POST", in.tokenURL(), proofOpts{})), k, in.Issuer)
}
