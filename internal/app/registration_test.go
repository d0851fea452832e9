package app_test

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"golang.org/x/oauth2"
)

// regAnswer is an answer of the registration or client configuration
// endpoint, success or error.
type regAnswer struct {
	Status int
	Header http.Header
	Body   map[string]any
	Raw    string
}

func (a regAnswer) str(k string) string { s, _ := a.Body[k].(string); return s }

// registration calls the registration endpoint (or a client configuration
// endpoint, uri) with method, bearer token (""= none) and a JSON body (a
// string is sent as it is; nil sends none).
func (in *instance) registration(method, uri, bearer string, body any) regAnswer {
	in.t.Helper()
	if uri == "" {
		uri = in.Issuer + "/oauth2/register"
	}
	var rd io.Reader
	switch b := body.(type) {
	case nil:
	case string:
		rd = strings.NewReader(b)
	default:
		raw, _ := json.Marshal(b)
		rd = bytes.NewReader(raw)
	}
	req, _ := http.NewRequest(method, uri, rd)
	if rd != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	if bearer != "" {
		req.Header.Set("Authorization", "Bearer "+bearer)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		in.t.Fatal(err)
	}
	defer resp.Body.Close()
	raw, _ := io.ReadAll(resp.Body)
	a := regAnswer{Status: resp.StatusCode, Header: resp.Header, Raw: string(raw)}
	if len(raw) > 0 {
		if err := json.Unmarshal(raw, &a.Body); err != nil {
			in.t.Fatalf("%s %s: not JSON (%d): %s", method, uri, resp.StatusCode, raw)
		}
	}
	return a
}

// register registers meta and fails the test unless it got 201.
func (in *instance) register(bearer string, meta map[string]any) regAnswer {
	in.t.Helper()
	a := in.registration(http.MethodPost, "", bearer, meta)
	if a.Status != http.StatusCreated {
		in.t.Fatalf("register: %d %s", a.Status, a.Raw)
	}
	return a
}

// registrationToken asks the admin API for an initial access token.
func (in *instance) registrationToken(expiresIn, uses int) string {
	in.t.Helper()
	var out struct {
		Token     string `json:"token"`
		ExpiresAt int64  `json:"expires_at"`
		Uses      int    `json:"uses"`
	}
	if st := in.admin(http.MethodPost, "/admin/registration-tokens", map[string]any{"expires_in": expiresIn, "uses": uses}, &out); st != http.StatusCreated {
		in.t.Fatalf("POST /admin/registration-tokens: %d", st)
	}
	if out.Token == "" || out.Uses != uses || out.ExpiresAt < time.Now().Add(time.Duration(expiresIn-5)*time.Second).Unix() {
		in.t.Fatalf("initial access token answer %+v", out)
	}
	return out.Token
}

const regRedirect = "http://127.0.0.1:9999/callback"

// webApp is the metadata of a confidential web client.
func webApp() map[string]any {
	return map[string]any{
		"client_name": "Dynamic Web App", "grant_types": []string{"authorization_code", "refresh_token"},
		"redirect_uris": []string{regRedirect}, "scope": "openid profile offline_access",
	}
}

// TestRegistrationOff: the default mounts nothing and discovery names no
// registration endpoint.
func TestRegistrationOff(t *testing.T) {
	in := start(t, "")
	if a := in.registration(http.MethodPost, "", "", webApp()); a.Status != http.StatusNotFound {
		t.Fatalf("POST /oauth2/register with registration off: %d", a.Status)
	}
	if a := in.registration(http.MethodGet, in.Issuer+"/oauth2/register/some-client", "some-token", nil); a.Status != http.StatusNotFound {
		t.Fatalf("GET /oauth2/register/{id} with registration off: %d", a.Status)
	}
	if _, ok := discoveryDoc(t, in)["registration_endpoint"]; ok {
		t.Fatal("discovery names a registration_endpoint with registration off")
	}
	if st := in.admin(http.MethodPost, "/admin/registration-tokens", map[string]any{}, nil); st != http.StatusNotFound {
		t.Fatalf("POST /admin/registration-tokens with registration off: %d", st)
	}
}

// TestRegistrationOpen registers a client (RFC 7591 §3), signs a user in
// with it, then reads, updates and deletes it (RFC 7592 §2).
func TestRegistrationOpen(t *testing.T) {
	forEachStore(t, func(t *testing.T, storeArgs []string) {
		in := start(t, "", append(storeArgs, "--dynamic-registration", "open")...)
		endpoint, _ := discoveryDoc(t, in)["registration_endpoint"].(string)
		if endpoint != in.Issuer+"/oauth2/register" {
			t.Fatalf("registration_endpoint %q", endpoint)
		}
		meta := webApp()
		meta["x_unknown_member"] = "ignored" // RFC 7591 §2
		a := in.register("", meta)
		id, secret, access, uri := a.str("client_id"), a.str("client_secret"), a.str("registration_access_token"), a.str("registration_client_uri")
		if id == "" || len(secret) < 40 || len(access) < 40 || uri != endpoint+"/"+id {
			t.Fatalf("client information response %s", a.Raw)
		}
		if a.Body["client_secret_expires_at"] != float64(0) || a.Body["client_id_issued_at"] == nil || a.Body["client_name"] != "Dynamic Web App" ||
			a.str("token_endpoint_auth_method") != "client_secret_basic" || a.str("scope") != "openid profile offline_access" {
			t.Fatalf("client information response %s", a.Raw)
		}
		if a.Header.Get("Cache-Control") != "no-store" {
			t.Errorf("Cache-Control %q", a.Header.Get("Cache-Control"))
		}
		if _, ok := a.Body["x_unknown_member"]; ok {
			t.Error("an unknown member was registered")
		}
		// The admin API shows the client, but nothing of its token.
		var view map[string]any
		if st := in.admin(http.MethodGet, "/admin/clients/"+id, nil, &view); st != 200 || view["client_name"] != "Dynamic Web App" {
			t.Fatalf("admin view: %d %v", st, view)
		}
		for k := range view {
			if strings.Contains(k, "registration") || strings.Contains(k, "secret") {
				t.Errorf("admin view shows %q", k)
			}
		}

		// The registered client completes a code flow with PKCE.
		codeFlow(t, in, id, secret)

		// Read (§2.1).
		r := in.registration(http.MethodGet, uri, access, nil)
		if r.Status != 200 || r.str("client_id") != id || r.str("registration_client_uri") != uri || r.Body["client_secret"] != nil {
			t.Fatalf("read: %d %s", r.Status, r.Raw)
		}
		for _, bad := range []string{"", "wrong-token", secret} {
			r := in.registration(http.MethodGet, uri, bad, nil)
			if r.Status != 401 || r.str("error") != "invalid_token" || !strings.HasPrefix(r.Header.Get("WWW-Authenticate"), "Bearer") {
				t.Fatalf("read with token %q: %d %s %q", bad, r.Status, r.Raw, r.Header.Get("WWW-Authenticate"))
			}
		}

		// Update (§2.2): a client_secret that is not the current one is
		// refused; then the metadata is replaced and the token rotated.
		upd := webApp()
		upd["client_id"], upd["client_name"], upd["client_secret"] = id, "Renamed App", "chosen-by-the-client"
		if r := in.registration(http.MethodPut, uri, access, upd); r.Status != 400 || r.str("error") != "invalid_client_metadata" {
			t.Fatalf("update with a foreign client_secret: %d %s", r.Status, r.Raw)
		}
		upd["client_secret"] = secret
		r = in.registration(http.MethodPut, uri, access, upd)
		access2 := r.str("registration_access_token")
		if r.Status != 200 || r.Body["client_name"] != "Renamed App" || access2 == "" || access2 == access || r.str("registration_client_uri") != uri {
			t.Fatalf("update: %d %s", r.Status, r.Raw)
		}
		if r := in.registration(http.MethodGet, uri, access, nil); r.Status != 401 {
			t.Fatalf("read with the rotated-out token: %d", r.Status)
		}
		if r := in.registration(http.MethodGet, uri, access2, nil); r.Status != 200 || r.Body["client_name"] != "Renamed App" {
			t.Fatalf("read after update: %d %s", r.Status, r.Raw)
		}
		// The secret is kept across the update.
		if tr := in.token(id, secret, url.Values{"grant_type": {"client_credentials"}}); tr.Error != "unauthorized_client" {
			t.Fatalf("the kept secret no longer authenticates: %d %s", tr.Status, tr.Error)
		}
		// An update within the policy only: password is not allowed.
		upd["grant_types"] = []string{"authorization_code", "password"}
		if r := in.registration(http.MethodPut, uri, access2, upd); r.Status != 400 || r.str("error") != "invalid_client_metadata" {
			t.Fatalf("update outside the policy: %d %s", r.Status, r.Raw)
		}

		// A client of the admin API cannot be managed here.
		adm := in.createClient(map[string]any{"client_name": "operator's"})
		if r := in.registration(http.MethodGet, endpoint+"/"+adm.ClientID, access2, nil); r.Status != 401 {
			t.Fatalf("read of an admin-registered client: %d", r.Status)
		}
		if r := in.registration(http.MethodDelete, endpoint+"/"+adm.ClientID, access2, nil); r.Status != 401 {
			t.Fatalf("delete of an admin-registered client: %d", r.Status)
		}

		// Delete (§2.3).
		if r := in.registration(http.MethodDelete, uri, access, nil); r.Status != 401 {
			t.Fatalf("delete with the old token: %d", r.Status)
		}
		if r := in.registration(http.MethodDelete, uri, access2, nil); r.Status != http.StatusNoContent {
			t.Fatalf("delete: %d %s", r.Status, r.Raw)
		}
		if r := in.registration(http.MethodGet, uri, access2, nil); r.Status != 401 {
			t.Fatalf("read after delete: %d", r.Status)
		}
		if st := in.admin(http.MethodGet, "/admin/clients/"+id, nil, nil); st != 404 {
			t.Fatalf("admin GET after delete: %d", st)
		}
		if tr := in.token(id, secret, url.Values{"grant_type": {"client_credentials"}}); tr.Error != "invalid_client" {
			t.Fatalf("token request of a deleted client: %d %s", tr.Status, tr.Error)
		}
	})
}

// codeFlow signs a user in with client id/secret (code flow with PKCE)
// and checks the tokens.
func codeFlow(t *testing.T, in *instance, id, secret string) {
	t.Helper()
	in.createUser("rita", "password-of-rita", "member")
	conf := oauth2.Config{ClientID: id, ClientSecret: secret, RedirectURL: regRedirect, Scopes: []string{"openid", "profile", "offline_access"},
		Endpoint: oauth2.Endpoint{AuthURL: in.Issuer + "/oauth2/authorize", TokenURL: in.Issuer + "/oauth2/token"}}
	verifier := oauth2.GenerateVerifier()
	b := browser(t)
	resp, page := signIn(t, in, b, conf.AuthCodeURL("st", oauth2.S256ChallengeOption(verifier)), "rita", "password-of-rita")
	if resp.StatusCode != 200 || !strings.Contains(page, `value="allow"`) {
		t.Fatalf("a dynamically registered client skipped consent: %d", resp.StatusCode)
	}
	resp, _ = consent(t, in, b, page, "allow")
	tok, err := conf.Exchange(context.Background(), codeOf(t, resp, regRedirect), oauth2.VerifierOption(verifier))
	if err != nil {
		t.Fatalf("code exchange of a registered client: %v", err)
	}
	if tok.Extra("id_token") == nil || tok.RefreshToken == "" || decodeClaims(t, tok.AccessToken)["client_id"] != id {
		t.Fatalf("tokens of a registered client: %+v", tok)
	}
}

// TestRegistrationErrors: every RFC 7591 §3.2.2 error, and each policy
// rule, refused with the right code.
func TestRegistrationErrors(t *testing.T) {
	forEachStore(t, func(t *testing.T, storeArgs []string) {
		in := start(t, "", append(storeArgs, "--dynamic-registration", "open", "--registration-ip-burst", "1000")...)
		with := func(k string, v any) map[string]any { m := webApp(); m[k] = v; return m }
		for name, tc := range map[string]struct {
			body any
			code string
		}{
			"http redirect off loopback":   {with("redirect_uris", []string{"http://app.example/cb"}), "invalid_redirect_uri"},
			"redirect with a fragment":     {with("redirect_uris", []string{"https://app.example/cb#x"}), "invalid_redirect_uri"},
			"code grant without redirects": {with("redirect_uris", []string{}), "invalid_redirect_uri"},
			"unknown grant type":           {with("grant_types", []string{"implicit"}), "invalid_client_metadata"},
			"grant type outside policy":    {with("grant_types", []string{"authorization_code", "password"}), "invalid_client_metadata"},
			"client_credentials (policy)":  {with("grant_types", []string{"client_credentials"}), "invalid_client_metadata"},
			"scope outside policy":         {with("scope", "openid roles"), "invalid_client_metadata"},
			"malformed scope":              {with("scope", `openid "x"`), "invalid_client_metadata"},
			"unknown auth method":          {with("token_endpoint_auth_method", "tls_client_auth"), "invalid_client_metadata"},
			"skip_consent":                 {with("skip_consent", true), "invalid_client_metadata"},
			"audience":                     {with("audience", []string{"https://api.example"}), "invalid_client_metadata"},
			"client_id chosen":             {with("client_id", "mine"), "invalid_client_metadata"},
			"token exchange impersonation": {with("token_exchange_impersonation", true), "invalid_client_metadata"},
			"wrong member type":            {with("grant_types", "authorization_code"), "invalid_client_metadata"},
			"software statement":           {with("software_statement", "eyJhbGciOiJub25lIn0.e30."), "unapproved_software_statement"},
			"malformed JSON":               {`{"client_name":`, "invalid_request"},
		} {
			a := in.registration(http.MethodPost, "", "", tc.body)
			if a.Status != 400 || a.str("error") != tc.code || a.str("error_description") == "" {
				t.Errorf("%s: %d %s, want 400 %s", name, a.Status, a.Raw, tc.code)
			}
		}
		// The body is bounded like every public request body (64 KiB).
		big := with("client_name", strings.Repeat("x", 70<<10))
		if a := in.registration(http.MethodPost, "", "", big); a.Status != http.StatusRequestEntityTooLarge {
			t.Errorf("a 70 KiB registration: %d %s", a.Status, a.Raw)
		}
		// What the default policy allows: a public native app with a
		// loopback and a private-use redirect URI; its scope defaults to
		// the policy's.
		a := in.register("", map[string]any{"client_name": "Native", "token_endpoint_auth_method": "none",
			"redirect_uris": []string{"http://127.0.0.1/cb", "com.example.app:/cb"}})
		if a.Body["client_secret"] != nil || a.str("scope") != "openid profile email phone offline_access" ||
			a.Body["grant_types"].([]any)[0] != "authorization_code" {
			t.Fatalf("public client: %s", a.Raw)
		}

		// A stricter policy: https only, no public clients.
		// (The policy does not depend on the store: this instance is on
		// bolt, so that the Redis run needs no second key prefix.)
		strict := start(t, "", "--dynamic-registration", "open", "--registration-redirect-schemes", "https",
			"--registration-allow-public-clients=false", "--registration-grant-types", "authorization_code,client_credentials")
		code := func(redirects ...string) map[string]any {
			return map[string]any{"grant_types": []string{"authorization_code"}, "redirect_uris": redirects}
		}
		for name, tc := range map[string]struct {
			body map[string]any
			code string
		}{
			"loopback http":   {code(regRedirect), "invalid_redirect_uri"},
			"private-use":     {code("https://app.example/cb", "com.example.app:/cb"), "invalid_redirect_uri"},
			"public client":   {map[string]any{"token_endpoint_auth_method": "none", "redirect_uris": []string{"https://app.example/cb"}}, "invalid_client_metadata"},
			"post-logout uri": {map[string]any{"redirect_uris": []string{"https://app.example/cb"}, "post_logout_redirect_uris": []string{regRedirect}}, "invalid_redirect_uri"},
		} {
			if a := strict.registration(http.MethodPost, "", "", tc.body); a.Status != 400 || a.str("error") != tc.code {
				t.Errorf("strict policy, %s: %d %s, want 400 %s", name, a.Status, a.Raw, tc.code)
			}
		}
		// The policy's client_credentials works end to end.
		a = strict.register("", map[string]any{"grant_types": []string{"client_credentials"}, "scope": "openid"})
		if tr := strict.token(a.str("client_id"), a.str("client_secret"), url.Values{"grant_type": {"client_credentials"}}); tr.Status != 200 || tr.AccessToken == "" {
			t.Fatalf("client_credentials of a registered client: %d %s", tr.Status, tr.Error)
		}
	})
}

// TestRegistrationTokenMode: registering needs an initial access token,
// which works for its number of uses until it expires.
func TestRegistrationTokenMode(t *testing.T) {
	forEachStore(t, func(t *testing.T, storeArgs []string) {
		in := start(t, "", append(storeArgs, "--dynamic-registration", "token", "--registration-ip-burst", "1000")...)
		for _, bad := range []string{"", "never-issued"} {
			a := in.registration(http.MethodPost, "", bad, webApp())
			challenge := a.Header.Get("WWW-Authenticate")
			if a.Status != 401 || a.str("error") != "invalid_token" || !strings.HasPrefix(challenge, `Bearer realm="authd"`) ||
				(bad != "") != strings.Contains(challenge, `error="invalid_token"`) {
				t.Fatalf("token %q: %d %s %q", bad, a.Status, a.Raw, challenge)
			}
		}
		tok := in.registrationToken(3600, 2)
		// A refused request does not spend a use.
		if a := in.registration(http.MethodPost, "", tok, map[string]any{"grant_types": []string{"implicit"}}); a.Status != 400 {
			t.Fatalf("invalid metadata with a good token: %d", a.Status)
		}
		in.register(tok, webApp())
		in.register(tok, webApp())
		if a := in.registration(http.MethodPost, "", tok, webApp()); a.Status != 401 || a.str("error") != "invalid_token" {
			t.Fatalf("third use of a 2-use token: %d %s", a.Status, a.Raw)
		}

		// An expired token stops working (it expires by TTL on the
		// backend's clock: await it).
		short := in.registrationToken(1, 1000)
		if !eventually(t, 5*time.Second, func() bool {
			return in.registration(http.MethodPost, "", short, webApp()).Status == 401
		}) {
			t.Fatal("the 1-second initial access token still works after 5s")
		}

		// The admin API checks its input.
		for _, body := range []map[string]any{{"expires_in": -1}, {"uses": -1}, {"uses": 2_000_000}, {"expires_in": 1 << 40}} {
			if st := in.admin(http.MethodPost, "/admin/registration-tokens", body, nil); st != 400 {
				t.Errorf("POST /admin/registration-tokens %v: %d", body, st)
			}
		}
		var def struct{ Uses int }
		if st := in.admin(http.MethodPost, "/admin/registration-tokens", nil, &def); st != 201 || def.Uses != 1 {
			t.Errorf("POST /admin/registration-tokens without a body: %d %+v", st, def)
		}
	})
}

// TestRegistrationRateLimit: the registration endpoint is throttled per
// client address; the answer says when to come back.
func TestRegistrationRateLimit(t *testing.T) {
	forEachStore(t, func(t *testing.T, storeArgs []string) {
		in := start(t, "", append(storeArgs, "--dynamic-registration", "open", "--registration-ip-burst", "3", "--registration-ip-per-minute", "1")...)
		for range 3 {
			in.register("", webApp())
		}
		a := in.registration(http.MethodPost, "", "", webApp())
		if a.Status != http.StatusTooManyRequests || a.Header.Get("Retry-After") == "" || a.Header.Get("Retry-After") == "0" {
			t.Fatalf("fourth registration in a burst of 3: %d %s Retry-After %q", a.Status, a.Raw, a.Header.Get("Retry-After"))
		}
	})
}

// TestRegistrationOpenIDClient registers a client with a certified client
// library, openid-client v6 (testclients/node), which then completes a
// code flow with PKCE, a refresh and userinfo, and reads and deletes its
// registration (RFC 7592). Under CI=true a missing node fails.
func TestRegistrationOpenIDClient(t *testing.T) {
	node, err := exec.LookPath("node")
	if err != nil {
		missingTool(t, "node is not installed")
	}
	dir := filepath.Join("..", "..", "testclients", "node")
	if _, err := os.Stat(filepath.Join(dir, "node_modules", "openid-client", "package.json")); err != nil {
		missingTool(t, "openid-client is not installed in %s (npm ci)", dir)
	}
	in := start(t, "", "--dynamic-registration", "token")
	in.createUser("nora", "password-of-nora", "member")
	env := []string{
		"AUTHD_ISSUER=" + in.Issuer,
		"AUTHD_INITIAL_TOKEN=" + in.registrationToken(600, 1),
		"AUTHD_USERNAME=nora", "AUTHD_PASSWORD=password-of-nora",
		"AUTHD_REDIRECT_URI=" + regRedirect,
	}
	runRecipe(t, dir, env, node, "--test", "--test-reporter=spec", "register.test.mjs")
}

// TestRegistrationConcurrentUpdates: the registration access token is
// checked and rotated atomically with the write, so of parallel updates
// with one token exactly one succeeds.
func TestRegistrationConcurrentUpdates(t *testing.T) {
	forEachStore(t, func(t *testing.T, storeArgs []string) {
		in := start(t, "", append(storeArgs, "--dynamic-registration", "open", "--registration-ip-burst", "1000")...)
		a := in.register("", webApp())
		uri, access := a.str("registration_client_uri"), a.str("registration_access_token")
		const n = 8
		statuses := make(chan int, n)
		var wg sync.WaitGroup
		for i := range n {
			wg.Go(func() {
				upd := webApp()
				upd["client_name"] = fmt.Sprint("update ", i)
				statuses <- in.registration(http.MethodPut, uri, access, upd).Status
			})
		}
		wg.Wait()
		close(statuses)
		got := map[int]int{}
		for st := range statuses {
			got[st]++
		}
		if got[200] != 1 || got[401] != n-1 {
			t.Fatalf("%d parallel updates with one token: statuses %v, want one 200 and %d 401", n, got, n-1)
		}
	})
}
