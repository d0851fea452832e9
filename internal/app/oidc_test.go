package app_test

import (
	"context"
	"encoding/json"
	"io"
	"net/http"
	"net/http/cookiejar"
	"net/url"
	"reflect"
	"regexp"
	"strings"
	"testing"

	"github.com/coreos/go-oidc/v3/oidc"
	"golang.org/x/oauth2"
)

// browser is an HTTP client with cookies that does not follow redirects,
// so the test sees where authd sends it.
func browser(t *testing.T) *http.Client {
	jar, _ := cookiejar.New(nil)
	return &http.Client{Jar: jar, CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
}

var hiddenRequest = regexp.MustCompile(`name="request" value="([^"]+)"`)

// formField extracts the sealed request from a login or consent page.
func formField(t *testing.T, body string) string {
	t.Helper()
	m := hiddenRequest.FindStringSubmatch(body)
	if m == nil {
		t.Fatalf("no request field in page:\n%s", body)
	}
	return strings.ReplaceAll(m[1], "&#43;", "+")
}

func get(t *testing.T, c *http.Client, u string) (*http.Response, string) {
	t.Helper()
	resp, err := c.Get(u)
	if err != nil {
		t.Fatal(err)
	}
	b, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	return resp, string(b)
}

func post(t *testing.T, c *http.Client, u string, form url.Values) (*http.Response, string) {
	t.Helper()
	resp, err := c.PostForm(u, form)
	if err != nil {
		t.Fatal(err)
	}
	b, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	return resp, string(b)
}

// TestOIDCAuthorizationCodeFlow drives the login and consent pages as a
// browser would and checks the result with golang.org/x/oauth2 and
// github.com/coreos/go-oidc/v3.
func TestOIDCAuthorizationCodeFlow(t *testing.T) {
	in := start(t, "")
	const redirect = "http://127.0.0.1:9999/callback"
	c := in.createClient(map[string]any{
		"client_name": "Web App", "grant_types": []string{"authorization_code", "refresh_token"},
		"redirect_uris": []string{redirect}, "scope": "openid profile email offline_access",
	})
	u := in.createUser("paula", "password-of-paula", "member")
	ctx := context.Background()
	provider, err := oidc.NewProvider(ctx, in.Issuer)
	if err != nil {
		t.Fatalf("go-oidc discovery: %v", err)
	}
	conf := oauth2.Config{ClientID: c.ClientID, ClientSecret: c.ClientSecret, Endpoint: provider.Endpoint(),
		RedirectURL: redirect, Scopes: []string{oidc.ScopeOpenID, "profile", "email"}}
	verifier := oauth2.GenerateVerifier()
	authURL := conf.AuthCodeURL("state-123", oauth2.S256ChallengeOption(verifier), oidc.Nonce("nonce-456"))

	b := browser(t)
	resp, page := get(t, b, authURL)
	if resp.StatusCode != 200 || !strings.Contains(page, `name="username"`) || !strings.Contains(page, `name="password"`) {
		t.Fatalf("login page: %d\n%s", resp.StatusCode, page)
	}
	action := in.Public.URL + "/oauth2/authorize/login"
	// A wrong password shows the form again.
	resp, again := post(t, b, action, url.Values{"request": {formField(t, page)}, "username": {"paula"}, "password": {"wrong-password"}})
	if resp.StatusCode != 401 || !strings.Contains(again, "Invalid username or password") {
		t.Fatalf("wrong password: %d", resp.StatusCode)
	}
	resp, consent := post(t, b, action, url.Values{"request": {formField(t, again)}, "username": {"paula"}, "password": {"password-of-paula"}})
	if resp.StatusCode != 200 || !strings.Contains(consent, `name="decision" value="allow"`) {
		t.Fatalf("consent page: %d\n%s", resp.StatusCode, consent)
	}
	resp, _ = post(t, b, action, url.Values{"request": {formField(t, consent)}, "decision": {"allow"}})
	if resp.StatusCode != http.StatusSeeOther {
		t.Fatalf("after consent: %d; want 303", resp.StatusCode)
	}
	loc, _ := url.Parse(resp.Header.Get("Location"))
	q := loc.Query()
	if !strings.HasPrefix(loc.String(), redirect) || q.Get("state") != "state-123" || q.Get("code") == "" || q.Get("iss") != in.Issuer {
		t.Fatalf("redirect %s", loc)
	}

	tok, err := conf.Exchange(ctx, q.Get("code"), oauth2.VerifierOption(verifier))
	if err != nil {
		t.Fatalf("code exchange: %v", err)
	}
	rawID, _ := tok.Extra("id_token").(string)
	idt, err := provider.Verifier(&oidc.Config{ClientID: c.ClientID}).Verify(ctx, rawID)
	if err != nil {
		t.Fatalf("go-oidc rejected the ID token: %v", err)
	}
	if idt.Nonce != "nonce-456" || idt.Subject != u.ID {
		t.Errorf("nonce %q sub %q", idt.Nonce, idt.Subject)
	}
	if err := idt.VerifyAccessToken(tok.AccessToken); err != nil {
		t.Errorf("at_hash: %v", err)
	}
	var claims struct {
		AuthTime int64  `json:"auth_time"`
		Username string `json:"preferred_username"`
		Email    string `json:"email"`
	}
	idt.Claims(&claims)
	if claims.AuthTime == 0 || claims.Username != "paula" || claims.Email != "paula@example.com" {
		t.Errorf("ID token claims %+v", claims)
	}
	if tok.RefreshToken == "" {
		t.Error("no refresh token for a client with the refresh_token grant")
	}
	info, err := provider.UserInfo(ctx, oauth2.StaticTokenSource(tok))
	if err != nil {
		t.Fatalf("userinfo: %v", err)
	}
	if info.Subject != u.ID || info.Email != "paula@example.com" {
		t.Errorf("userinfo %+v", info)
	}

	// The code works once; a replay revokes what it issued.
	if _, err := conf.Exchange(ctx, q.Get("code"), oauth2.VerifierOption(verifier)); err == nil {
		t.Fatal("the code worked twice")
	}
	if in.introspect(c, tok.AccessToken).Active {
		t.Error("tokens issued from a replayed code are still active")
	}
	if r := refresh(in, c, tok.RefreshToken); r.Error != "invalid_grant" {
		t.Errorf("refresh token of a replayed code: %d %s", r.Status, r.Error)
	}
}

func TestAuthorizeErrors(t *testing.T) {
	in := start(t, "")
	const redirect = "https://app.example/cb"
	c := in.createClient(map[string]any{"grant_types": []string{"authorization_code"}, "redirect_uris": []string{redirect}, "scope": "openid"})
	pub := in.createClient(map[string]any{"grant_types": []string{"authorization_code"}, "redirect_uris": []string{redirect},
		"scope": "openid", "token_endpoint_auth_method": "none"})
	b := browser(t)
	base := in.Public.URL + "/oauth2/authorize?"
	for _, tc := range []struct {
		name   string
		query  url.Values
		status int    // a page shown by authd
		code   string // or an error sent back to the client
	}{
		{"unknown client", url.Values{"client_id": {"nope"}, "response_type": {"code"}, "redirect_uri": {redirect}}, 400, ""},
		{"unregistered redirect", url.Values{"client_id": {c.ClientID}, "response_type": {"code"}, "redirect_uri": {"https://evil.example/cb"}}, 400, ""},
		{"wrong response type", url.Values{"client_id": {c.ClientID}, "response_type": {"token"}, "redirect_uri": {redirect}}, 303, "unsupported_response_type"},
		{"bad scope", url.Values{"client_id": {c.ClientID}, "response_type": {"code"}, "redirect_uri": {redirect}, "scope": {"admin"}}, 303, "invalid_scope"},
		{"public without PKCE", url.Values{"client_id": {pub.ClientID}, "response_type": {"code"}, "redirect_uri": {redirect}}, 303, "invalid_request"},
		{"plain PKCE", url.Values{"client_id": {pub.ClientID}, "response_type": {"code"}, "redirect_uri": {redirect}, "code_challenge": {strings.Repeat("a", 43)}, "code_challenge_method": {"plain"}}, 303, "invalid_request"},
		{"prompt none", url.Values{"client_id": {c.ClientID}, "response_type": {"code"}, "redirect_uri": {redirect}, "prompt": {"none"}}, 303, "login_required"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			resp, _ := get(t, b, base+tc.query.Encode())
			if resp.StatusCode != tc.status {
				t.Fatalf("status %d; want %d", resp.StatusCode, tc.status)
			}
			if tc.code != "" {
				loc, _ := url.Parse(resp.Header.Get("Location"))
				if !strings.HasPrefix(loc.String(), redirect) || loc.Query().Get("error") != tc.code {
					t.Errorf("redirect %s; want error=%s", loc, tc.code)
				}
			} else if resp.Header.Get("Location") != "" {
				t.Error("redirected to an untrusted redirect_uri")
			}
		})
	}
	t.Run("forged request field", func(t *testing.T) {
		resp, _ := post(t, b, in.Public.URL+"/oauth2/authorize/login", url.Values{"request": {"forged"}, "username": {"x"}, "password": {"y"}})
		if resp.StatusCode != 400 {
			t.Errorf("status %d; want 400", resp.StatusCode)
		}
	})
	t.Run("userinfo without token", func(t *testing.T) {
		resp, _ := get(t, b, in.Public.URL+"/oauth2/userinfo")
		if resp.StatusCode != 401 || !strings.HasPrefix(resp.Header.Get("WWW-Authenticate"), "Bearer") {
			t.Errorf("status %d, WWW-Authenticate %q", resp.StatusCode, resp.Header.Get("WWW-Authenticate"))
		}
	})
}

func TestAuthorizeSkipConsentAndCSRF(t *testing.T) {
	in := start(t, "")
	const redirect = "http://localhost:7777/cb"
	c := in.createClient(map[string]any{"grant_types": []string{"authorization_code"}, "redirect_uris": []string{redirect},
		"scope": "openid", "skip_consent": true})
	in.createUser("quinn", "password-of-quinn")
	q := url.Values{"client_id": {c.ClientID}, "response_type": {"code"}, "redirect_uri": {redirect}, "scope": {"openid"}}
	victim := browser(t)
	_, page := get(t, victim, in.Public.URL+"/oauth2/authorize?"+q.Encode())
	sealed := formField(t, page)
	login := url.Values{"request": {sealed}, "username": {"quinn"}, "password": {"password-of-quinn"}}

	// The same page posted from another browser (no CSRF cookie) fails.
	attacker := browser(t)
	if resp, _ := post(t, attacker, in.Public.URL+"/oauth2/authorize/login", login); resp.StatusCode != http.StatusForbidden {
		t.Errorf("cross-browser post: %d; want 403", resp.StatusCode)
	}
	// First-party clients skip the consent page.
	resp, _ := post(t, victim, in.Public.URL+"/oauth2/authorize/login", login)
	if resp.StatusCode != http.StatusSeeOther || !strings.Contains(resp.Header.Get("Location"), "code=") {
		t.Fatalf("skip_consent: %d %s", resp.StatusCode, resp.Header.Get("Location"))
	}
}

// signIn opens authURL in b and signs in as username: it returns the page
// that follows (the consent page, or the redirect when consent is skipped).
func signIn(t *testing.T, in *instance, b *http.Client, authURL, username, pw string) (*http.Response, string) {
	t.Helper()
	resp, page := get(t, b, authURL)
	if resp.StatusCode != 200 {
		t.Fatalf("authorize: %d\n%s", resp.StatusCode, page)
	}
	return post(t, b, in.Public.URL+"/oauth2/authorize/login", url.Values{"request": {formField(t, page)}, "username": {username}, "password": {pw}})
}

// consent posts the consent page's decision.
func consent(t *testing.T, in *instance, b *http.Client, page, decision string) (*http.Response, string) {
	t.Helper()
	return post(t, b, in.Public.URL+"/oauth2/authorize/login", url.Values{"request": {formField(t, page)}, "decision": {decision}})
}

// codeOf returns the code of a redirect to the client (fails otherwise).
func codeOf(t *testing.T, resp *http.Response, redirect string) string {
	t.Helper()
	loc, err := url.Parse(resp.Header.Get("Location"))
	if resp.StatusCode != http.StatusSeeOther || err != nil || !strings.HasPrefix(loc.String(), redirect) || loc.Query().Get("code") == "" {
		t.Fatalf("want a 303 to %s with a code; got %d %q", redirect, resp.StatusCode, resp.Header.Get("Location"))
	}
	return loc.Query().Get("code")
}

// introspectRaw returns the whole introspection answer.
func introspectRaw(t *testing.T, in *instance, c registeredClient, token string) map[string]any {
	t.Helper()
	req, _ := http.NewRequest(http.MethodPost, in.Public.URL+"/oauth2/introspect", strings.NewReader(url.Values{"token": {token}}.Encode()))
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	req.SetBasicAuth(url.QueryEscape(c.ClientID), url.QueryEscape(c.ClientSecret))
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var out map[string]any
	if err := json.NewDecoder(resp.Body).Decode(&out); err != nil || resp.StatusCode != 200 {
		t.Fatalf("introspect: %d %v", resp.StatusCode, err)
	}
	return out
}

// TestCodeLoginRefreshKeepsAudience (issue 8 item 3): every token of an
// authorization-code login, refreshed ones included, carries the audience
// the first one got; introspection of its refresh token says the same.
func TestCodeLoginRefreshKeepsAudience(t *testing.T) {
	forEachStore(t, func(t *testing.T, storeArgs []string) {
		in := start(t, "", storeArgs...)
		const redirect = "http://127.0.0.1:9999/callback"
		for name, meta := range map[string]map[string]any{
			"default audience": {},
			"client audience":  {"audience": []string{"https://api.example"}},
		} {
			t.Run(name, func(t *testing.T) {
				meta["grant_types"] = []string{"authorization_code", "refresh_token"}
				meta["redirect_uris"] = []string{redirect}
				meta["scope"] = "openid"
				c := in.createClient(meta)
				in.createUser("aud-"+strings.ReplaceAll(name, " ", "-"), "password-of-aud")
				conf := oauth2.Config{ClientID: c.ClientID, ClientSecret: c.ClientSecret, RedirectURL: redirect, Scopes: []string{"openid"},
					Endpoint: oauth2.Endpoint{AuthURL: in.Issuer + "/oauth2/authorize", TokenURL: in.Issuer + "/oauth2/token", AuthStyle: oauth2.AuthStyleInHeader}}
				b := browser(t)
				_, page := signIn(t, in, b, conf.AuthCodeURL("s"), "aud-"+strings.ReplaceAll(name, " ", "-"), "password-of-aud")
				resp, _ := consent(t, in, b, page, "allow")
				tok, err := conf.Exchange(context.Background(), codeOf(t, resp, redirect))
				if err != nil {
					t.Fatal(err)
				}
				want := decodeClaims(t, tok.AccessToken)["aud"]
				if want == nil {
					t.Fatal("the first access token has no aud")
				}
				next := refresh(in, c, tok.RefreshToken)
				if next.Status != 200 {
					t.Fatalf("refresh: %d %s", next.Status, next.Error)
				}
				if got := decodeClaims(t, next.AccessToken)["aud"]; !reflect.DeepEqual(got, want) {
					t.Errorf("refreshed aud %v; want %v", got, want)
				}
				if in := introspectRaw(t, in, c, next.RefreshToken); in["active"] != true || !reflect.DeepEqual(in["aud"], want) {
					t.Errorf("refresh-token introspection %v; want aud %v", in, want)
				}
			})
		}
	})
}

// TestConsentIsSingleUse (issue 8 item 7): posting the same consent page
// twice yields one code; the second post is an error page.
func TestConsentIsSingleUse(t *testing.T) {
	forEachStore(t, func(t *testing.T, storeArgs []string) {
		in := start(t, "", storeArgs...)
		const redirect = "http://127.0.0.1:9999/callback"
		c := in.createClient(map[string]any{"grant_types": []string{"authorization_code"}, "redirect_uris": []string{redirect}, "scope": "openid"})
		in.createUser("rita", "password-of-rita")
		b := browser(t)
		q := url.Values{"client_id": {c.ClientID}, "response_type": {"code"}, "redirect_uri": {redirect}, "scope": {"openid"}}
		_, page := signIn(t, in, b, in.Public.URL+"/oauth2/authorize?"+q.Encode(), "rita", "password-of-rita")
		resp, _ := consent(t, in, b, page, "allow")
		codeOf(t, resp, redirect)
		resp, body := consent(t, in, b, page, "allow")
		if resp.StatusCode != http.StatusBadRequest || resp.Header.Get("Location") != "" || !strings.Contains(body, "already") {
			t.Fatalf("second consent post: %d %q; want an error page, no redirect", resp.StatusCode, resp.Header.Get("Location"))
		}
	})
}

// TestConsentRechecksTheLiveClient (issue 8 item 7): after a PUT removed a
// redirect URI, neither allowing nor denying a pending consent sends the
// browser there.
func TestConsentRechecksTheLiveClient(t *testing.T) {
	in := start(t, "")
	const keep, drop = "http://127.0.0.1:9999/keep", "http://127.0.0.1:9999/dropped"
	meta := map[string]any{"client_name": "web", "grant_types": []string{"authorization_code"}, "redirect_uris": []string{keep, drop}, "scope": "openid"}
	c := in.createClient(meta)
	in.createUser("sam", "password-of-sam")
	q := url.Values{"client_id": {c.ClientID}, "response_type": {"code"}, "redirect_uri": {drop}, "scope": {"openid"}}
	b := browser(t)
	_, pageA := signIn(t, in, b, in.Public.URL+"/oauth2/authorize?"+q.Encode(), "sam", "password-of-sam")
	_, pageB := signIn(t, in, b, in.Public.URL+"/oauth2/authorize?"+q.Encode(), "sam", "password-of-sam")
	meta["redirect_uris"] = []string{keep}
	if st := in.admin(http.MethodPut, "/admin/clients/"+c.ClientID, meta, nil); st != 200 {
		t.Fatalf("PUT client: %d", st)
	}
	for name, tc := range map[string]struct{ page, decision string }{"allow": {pageA, "allow"}, "deny": {pageB, "deny"}} {
		resp, _ := consent(t, in, b, tc.page, tc.decision)
		if resp.StatusCode != http.StatusBadRequest || resp.Header.Get("Location") != "" {
			t.Errorf("%s after the redirect_uri was removed: %d, Location %q; want 400 and no redirect", name, resp.StatusCode, resp.Header.Get("Location"))
		}
	}
}

// TestTokenRequestWithoutRedirectURI (issue 8 item 9, RFC 6749 §4.1.3):
// an authorization request without redirect_uri (one registered URI) is
// redeemed without one; one that named it must repeat it.
func TestTokenRequestWithoutRedirectURI(t *testing.T) {
	in := start(t, "")
	const redirect = "http://127.0.0.1:9999/only"
	c := in.createClient(map[string]any{"grant_types": []string{"authorization_code"}, "redirect_uris": []string{redirect},
		"scope": "openid", "skip_consent": true})
	in.createUser("tess", "password-of-tess")
	conf := oauth2.Config{ClientID: c.ClientID, ClientSecret: c.ClientSecret, Scopes: []string{"openid"}, // no RedirectURL
		Endpoint: oauth2.Endpoint{AuthURL: in.Issuer + "/oauth2/authorize", TokenURL: in.Issuer + "/oauth2/token", AuthStyle: oauth2.AuthStyleInHeader}}
	authURL := conf.AuthCodeURL("st")
	if strings.Contains(authURL, "redirect_uri") {
		t.Fatalf("x/oauth2 sent a redirect_uri: %s", authURL)
	}
	resp, _ := signIn(t, in, browser(t), authURL, "tess", "password-of-tess")
	if _, err := conf.Exchange(context.Background(), codeOf(t, resp, redirect)); err != nil {
		t.Fatalf("exchange without redirect_uri: %v", err)
	}

	// Named in the authorization request: the token request must repeat it.
	q := url.Values{"client_id": {c.ClientID}, "response_type": {"code"}, "redirect_uri": {redirect}, "scope": {"openid"}}
	resp, _ = signIn(t, in, browser(t), in.Public.URL+"/oauth2/authorize?"+q.Encode(), "tess", "password-of-tess")
	code := codeOf(t, resp, redirect)
	if r := in.token(c.ClientID, c.ClientSecret, url.Values{"grant_type": {"authorization_code"}, "code": {code}}); r.Error != "invalid_grant" {
		t.Errorf("omitted redirect_uri after naming it: %d %s; want invalid_grant", r.Status, r.Error)
	}
}

// TestCodeExchangeAppliesLoginChecks (issue 8 item 6): a user revoked
// between sign-in and the code exchange gets no tokens.
func TestCodeExchangeAppliesLoginChecks(t *testing.T) {
	in := start(t, "")
	const redirect = "http://127.0.0.1:9999/cb"
	c := in.createClient(map[string]any{"grant_types": []string{"authorization_code"}, "redirect_uris": []string{redirect},
		"scope": "openid", "skip_consent": true})
	u := in.createUser("uma", "password-of-uma")
	q := url.Values{"client_id": {c.ClientID}, "response_type": {"code"}, "redirect_uri": {redirect}, "scope": {"openid"}}
	resp, _ := signIn(t, in, browser(t), in.Public.URL+"/oauth2/authorize?"+q.Encode(), "uma", "password-of-uma")
	code := codeOf(t, resp, redirect)
	if st := in.admin(http.MethodPost, "/admin/users/"+u.ID+"/revoke", nil, nil); st != 204 {
		t.Fatalf("revoke: %d", st)
	}
	if r := in.token(c.ClientID, c.ClientSecret, url.Values{"grant_type": {"authorization_code"}, "code": {code}, "redirect_uri": {redirect}}); r.Error != "invalid_grant" {
		t.Errorf("code of a revoked user: %d %s; want invalid_grant", r.Status, r.Error)
	}
}
