package app_test

import (
	"context"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/coreos/go-oidc/v3/oidc"
	"golang.org/x/oauth2"

	"github.com/authd-dev/authd/internal/redistest"
)

// Single sign-on sessions and the authorization request parameters of
// OIDC Core §3.1.2.1 (prompt, max_age, id_token_hint, login_hint), through
// HTTP on both stores. The OpenID Foundation conformance modules each test
// corresponds to are named in its comment.

// ssoClient is a registered confidential client and where it redirects.
type ssoClient struct {
	in       *instance
	c        registeredClient
	redirect string
}

func newSSOClient(in *instance, name string, skipConsent bool) ssoClient {
	redirect := "http://127.0.0.1:9999/" + name + "/cb"
	c := in.createClient(map[string]any{"client_name": name, "grant_types": []string{"authorization_code", "refresh_token"},
		"redirect_uris": []string{redirect}, "scope": "openid profile offline_access", "skip_consent": skipConsent})
	return ssoClient{in: in, c: c, redirect: redirect}
}

// authURL is an authorization request of the client with extra
// parameters (name, value pairs).
func (sc ssoClient) authURL(extra ...string) string {
	q := url.Values{"client_id": {sc.c.ClientID}, "response_type": {"code"}, "redirect_uri": {sc.redirect},
		"scope": {"openid profile"}, "state": {"st-" + sc.c.ClientID}, "nonce": {"n"}}
	for i := 0; i+1 < len(extra); i += 2 {
		q.Set(extra[i], extra[i+1])
	}
	return sc.in.Public.URL + "/oauth2/authorize?" + q.Encode()
}

// exchange trades a code for tokens.
func (sc ssoClient) exchange(t *testing.T, code string) tokenResponse {
	t.Helper()
	tr := sc.in.token(sc.c.ClientID, sc.c.ClientSecret, url.Values{"grant_type": {"authorization_code"}, "code": {code}, "redirect_uri": {sc.redirect}})
	if tr.Status != http.StatusOK || tr.IDToken == "" {
		t.Fatalf("code exchange: %d %s %s", tr.Status, tr.Error, tr.Description)
	}
	return tr
}

// login signs in from the login page the request shows (failing if it
// shows none) and returns the code (consent is skipped or approved).
func (sc ssoClient) login(t *testing.T, b *http.Client, username, pw string, extra ...string) string {
	t.Helper()
	resp, page := signIn(t, sc.in, b, sc.authURL(extra...), username, pw)
	if resp.StatusCode == http.StatusOK && strings.Contains(page, `value="allow"`) {
		resp, _ = consent(t, sc.in, b, page, "allow")
	}
	return codeOf(t, resp, sc.redirect)
}

// silent asks for a code in browser b and expects it without any page
// (consent skipped); with a consent page it approves it.
func (sc ssoClient) silent(t *testing.T, b *http.Client, extra ...string) string {
	t.Helper()
	resp, page := get(t, b, sc.authURL(extra...))
	if resp.StatusCode == http.StatusOK && strings.Contains(page, `name="password"`) {
		t.Fatalf("the login page was shown; want the session to sign the request in")
	}
	if resp.StatusCode == http.StatusOK && strings.Contains(page, `value="allow"`) {
		resp, _ = consent(t, sc.in, b, page, "allow")
	}
	return codeOf(t, resp, sc.redirect)
}

// authError expects a redirect to the client with error code want, the
// request's state and iss (OIDC Core §3.1.2.6, RFC 9207).
func (sc ssoClient) authError(t *testing.T, b *http.Client, want string, extra ...string) {
	t.Helper()
	resp, body := get(t, b, sc.authURL(extra...))
	loc, _ := url.Parse(resp.Header.Get("Location"))
	if resp.StatusCode != http.StatusSeeOther || loc == nil || !strings.HasPrefix(loc.String(), sc.redirect) {
		t.Fatalf("want a redirect with %s; got %d %q\n%s", want, resp.StatusCode, resp.Header.Get("Location"), body)
	}
	q := loc.Query()
	if q.Get("error") != want || q.Get("state") != "st-"+sc.c.ClientID || q.Get("iss") != sc.in.Issuer || q.Get("code") != "" {
		t.Fatalf("redirect %s; want error=%s with state and iss", loc, want)
	}
}

// loginPage expects the login page.
func (sc ssoClient) loginPage(t *testing.T, b *http.Client, extra ...string) string {
	t.Helper()
	resp, page := get(t, b, sc.authURL(extra...))
	if resp.StatusCode != http.StatusOK || !strings.Contains(page, `name="password"`) {
		t.Fatalf("want the login page; got %d %q", resp.StatusCode, resp.Header.Get("Location"))
	}
	return page
}

type idClaims struct {
	Sub      string
	SID      string
	AuthTime int64
	AMR      []string
	ACR      string
}

func claimsOf(t *testing.T, idToken string) idClaims {
	t.Helper()
	m := decodeClaims(t, idToken)
	c := idClaims{}
	c.Sub, _ = m["sub"].(string)
	c.SID, _ = m["sid"].(string)
	at, _ := m["auth_time"].(float64)
	c.AuthTime = int64(at)
	c.ACR, _ = m["acr"].(string)
	if amr, ok := m["amr"].([]any); ok {
		for _, v := range amr {
			s, _ := v.(string)
			c.AMR = append(c.AMR, s)
		}
	}
	return c
}

// TestSSOAcrossClients: after one sign-in, a second client's request in
// the same browser needs no login (consent still applies), and both ID
// tokens carry the session's sid, auth_time, amr and acr. go-oidc and
// x/oauth2 verify and exchange. OpenID Foundation modules:
// oidcc-prompt-none-logged-in (the silent request of the first client),
// oidcc-ensure-other-browser-needs-login (a second browser).
func TestSSOAcrossClients(t *testing.T) {
	forEachStore(t, func(t *testing.T, storeArgs []string) {
		in := start(t, "", storeArgs...)
		first := newSSOClient(in, "first", true)
		web := newSSOClient(in, "web", false)
		u := in.createUser("ann", "password-of-ann")
		ctx := context.Background()
		provider, err := oidc.NewProvider(ctx, in.Issuer)
		if err != nil {
			t.Fatal(err)
		}
		verify := func(sc ssoClient, code string) idClaims {
			t.Helper()
			conf := oauth2.Config{ClientID: sc.c.ClientID, ClientSecret: sc.c.ClientSecret, Endpoint: provider.Endpoint(), RedirectURL: sc.redirect}
			tok, err := conf.Exchange(ctx, code)
			if err != nil {
				t.Fatalf("x/oauth2 exchange: %v", err)
			}
			raw, _ := tok.Extra("id_token").(string)
			idt, err := provider.Verifier(&oidc.Config{ClientID: sc.c.ClientID}).Verify(ctx, raw)
			if err != nil {
				t.Fatalf("go-oidc rejected the ID token: %v", err)
			}
			if idt.Subject != u.ID {
				t.Errorf("sub %q, want %q", idt.Subject, u.ID)
			}
			return claimsOf(t, raw)
		}

		b := browser(t)
		resp, page := get(t, b, first.authURL())
		if !strings.Contains(page, `name="password"`) {
			t.Fatalf("first request: %d, want the login page", resp.StatusCode)
		}
		resp, _ = post(t, b, in.Public.URL+"/oauth2/authorize/login", url.Values{"request": {formField(t, page)}, "username": {"ann"}, "password": {"password-of-ann"}})
		var sessionCookie *http.Cookie
		for _, c := range resp.Cookies() {
			if c.Name == "authd_session" {
				sessionCookie = c
			}
		}
		if sessionCookie == nil {
			t.Fatalf("no session cookie after sign-in: %v", resp.Header["Set-Cookie"])
		}
		// http issuer on loopback: not Secure, no __Host- prefix; HttpOnly, Lax, 256 bits.
		if !sessionCookie.HttpOnly || sessionCookie.SameSite != http.SameSiteLaxMode || sessionCookie.Path != "/" || sessionCookie.Secure || len(sessionCookie.Value) != 43 {
			t.Errorf("session cookie %+v; want HttpOnly, SameSite=Lax, Path=/, 43 base64url characters", sessionCookie)
		}
		one := verify(first, codeOf(t, resp, first.redirect))
		if one.SID == "" || one.SID == sessionCookie.Value || !slices.Equal(one.AMR, []string{"pwd"}) || one.ACR != "1" || one.AuthTime == 0 {
			t.Errorf("first ID token %+v; want sid (not the cookie), amr [pwd], acr 1, auth_time", one)
		}

		// The second client: no login page, its consent page, then a code.
		resp, page = get(t, b, web.authURL())
		if resp.StatusCode != http.StatusOK || strings.Contains(page, `name="password"`) || !strings.Contains(page, `value="allow"`) {
			t.Fatalf("second client in the same browser: %d; want its consent page and no login", resp.StatusCode)
		}
		resp, _ = consent(t, in, b, page, "allow")
		two := verify(web, codeOf(t, resp, web.redirect))
		if two.SID != one.SID || two.AuthTime != one.AuthTime || two.Sub != one.Sub {
			t.Errorf("second ID token %+v; want the session of the first %+v", two, one)
		}
		// oidcc-prompt-none-logged-in.
		three := verify(first, first.silent(t, b, "prompt", "none"))
		if three.SID != one.SID {
			t.Errorf("prompt=none: sid %q, want %q", three.SID, one.SID)
		}
		// Another browser has no session.
		first.loginPage(t, browser(t))
		first.authError(t, browser(t), "login_required", "prompt", "none")

		var list struct {
			Sessions []struct {
				ID      string   `json:"id"`
				Clients []string `json:"clients"`
			} `json:"sessions"`
		}
		if st := in.admin(http.MethodGet, "/admin/users/"+u.ID+"/sessions", nil, &list); st != http.StatusOK {
			t.Fatalf("list sessions: %d", st)
		}
		if len(list.Sessions) != 1 || list.Sessions[0].ID != one.SID || !slices.Equal(list.Sessions[0].Clients, []string{first.c.ClientID, web.c.ClientID}) {
			t.Errorf("sessions %+v; want one, sid %s, clients first and web", list.Sessions, one.SID)
		}
	})
}

// TestPromptValues: every prompt value with and without a session (OIDC
// Core §3.1.2.1). Modules: oidcc-prompt-none-not-logged-in,
// oidcc-prompt-none-logged-in, oidcc-prompt-login, plus consent_required.
func TestPromptValues(t *testing.T) {
	forEachStore(t, func(t *testing.T, storeArgs []string) {
		clock := newFakeClock(time.Now())
		in := startWith(t, clock.Now, "", storeArgs...)
		first := newSSOClient(in, "first", true)
		web := newSSOClient(in, "web", false)
		in.createUser("ann", "password-of-ann")
		b := browser(t)

		// Without a session.
		first.authError(t, b, "login_required", "prompt", "none") // oidcc-prompt-none-not-logged-in
		for _, p := range []string{"login", "consent", "select_account"} {
			first.loginPage(t, b, "prompt", p)
		}
		first.authError(t, b, "invalid_request", "prompt", "none login")
		first.authError(t, b, "invalid_request", "prompt", "sideways")

		before := claimsOf(t, first.exchange(t, first.login(t, b, "ann", "password-of-ann")).IDToken)

		// With a session.
		first.silent(t, b, "prompt", "none")
		web.authError(t, b, "consent_required", "prompt", "none")
		resp, page := get(t, b, web.authURL("prompt", "consent"))
		if resp.StatusCode != http.StatusOK || !strings.Contains(page, `value="allow"`) || strings.Contains(page, `name="password"`) {
			t.Errorf("prompt=consent with a session: %d; want the consent page", resp.StatusCode)
		}
		// oidcc-prompt-login: signs in again, a later auth_time, a new session.
		clock.Add(3 * time.Second)
		first.loginPage(t, b, "prompt", "login")
		after := claimsOf(t, first.exchange(t, first.login(t, b, "ann", "password-of-ann", "prompt", "login")).IDToken)
		if after.AuthTime <= before.AuthTime || after.SID == before.SID || after.SID == "" {
			t.Errorf("after prompt=login: %+v; want a later auth_time than %d and a new sid (was %s)", after, before.AuthTime, before.SID)
		}
		// select_account has one account to select: it signs in again.
		first.loginPage(t, b, "prompt", "select_account")
		// The new session works silently; the replaced one is gone.
		if got := claimsOf(t, first.exchange(t, first.silent(t, b, "prompt", "none")).IDToken); got.SID != after.SID {
			t.Errorf("silent after prompt=login: sid %s, want %s", got.SID, after.SID)
		}
		var list struct {
			Sessions []struct{ ID string } `json:"sessions"`
		}
		in.admin(http.MethodGet, "/admin/users/"+after.Sub+"/sessions", nil, &list)
		if len(list.Sessions) != 1 || list.Sessions[0].ID != after.SID {
			t.Errorf("sessions after a second sign-in: %+v; want only the new one", list.Sessions)
		}
	})
}

// TestMaxAge: max_age re-authenticates when auth_time is older (OIDC Core
// §3.1.2.1), with an injected clock instead of sleeping. Modules:
// oidcc-max-age-1, oidcc-max-age-10000.
func TestMaxAge(t *testing.T) {
	forEachStore(t, func(t *testing.T, storeArgs []string) {
		clock := newFakeClock(time.Now())
		in := startWith(t, clock.Now, "", storeArgs...)
		first := newSSOClient(in, "first", true)
		in.createUser("ann", "password-of-ann")
		b := browser(t)
		one := claimsOf(t, first.exchange(t, first.login(t, b, "ann", "password-of-ann")).IDToken)
		clock.Add(2 * time.Second)

		// oidcc-max-age-10000: the session is young enough.
		if got := claimsOf(t, first.exchange(t, first.silent(t, b, "max_age", "10000")).IDToken); got.AuthTime != one.AuthTime {
			t.Errorf("max_age=10000: auth_time %d, want the session's %d", got.AuthTime, one.AuthTime)
		}
		// oidcc-max-age-1: 2 s later the user signs in again.
		first.loginPage(t, b, "max_age", "1")
		first.authError(t, b, "login_required", "max_age", "1", "prompt", "none")
		two := claimsOf(t, first.exchange(t, first.login(t, b, "ann", "password-of-ann", "max_age", "1")).IDToken)
		if two.AuthTime <= one.AuthTime {
			t.Errorf("max_age=1 after 2 s: auth_time %d, want later than %d", two.AuthTime, one.AuthTime)
		}
		// max_age=0 is prompt=login; a bad max_age is invalid_request.
		first.loginPage(t, b, "max_age", "0")
		first.authError(t, b, "invalid_request", "max_age", "-1")
		first.authError(t, b, "invalid_request", "max_age", "soon")

		// The idle lifetime (--session-idle-ttl, 24h) ends the session.
		clock.Add(25 * time.Hour)
		first.authError(t, b, "login_required", "prompt", "none")
	})
}

// TestIDTokenHint: an ID token authd issued names the expected user
// (OIDC Core §3.1.2.1), even expired. Modules: oidcc-id-token-hint,
// oidcc-login-hint.
func TestIDTokenHint(t *testing.T) {
	forEachStore(t, func(t *testing.T, storeArgs []string) {
		clock := newFakeClock(time.Now())
		in := startWith(t, clock.Now, "", storeArgs...)
		first := newSSOClient(in, "first", true)
		other := newSSOClient(in, "other", true)
		in.createUser("ann", "password-of-ann")
		in.createUser("bob", "password-of-bob")
		annBrowser, bobBrowser := browser(t), browser(t)
		annToken := first.exchange(t, first.login(t, annBrowser, "ann", "password-of-ann")).IDToken
		bobToken := first.exchange(t, first.login(t, bobBrowser, "bob", "password-of-bob")).IDToken
		clock.Add(2 * time.Hour) // both ID tokens have expired (--id-token-ttl 1h)

		// oidcc-id-token-hint: the session's own user, silently.
		first.silent(t, annBrowser, "prompt", "none", "id_token_hint", annToken)
		// Another user's hint: login_required with prompt=none, else sign in.
		first.authError(t, annBrowser, "login_required", "prompt", "none", "id_token_hint", bobToken)
		first.loginPage(t, annBrowser, "id_token_hint", bobToken)
		// Not an ID token authd issued to this client.
		first.authError(t, annBrowser, "invalid_request", "id_token_hint", "garbage")
		other.authError(t, annBrowser, "invalid_request", "prompt", "none", "id_token_hint", annToken)
		forged := annToken[:len(annToken)-4] + "AAAA"
		first.authError(t, annBrowser, "invalid_request", "id_token_hint", forged)

		// oidcc-login-hint: the login form is prefilled.
		page := first.loginPage(t, browser(t), "login_hint", "ann")
		if !strings.Contains(page, `value="ann"`) {
			t.Errorf("login_hint=ann: the username input is not prefilled")
		}
		// acr_values and ui_locales are accepted; the acr achieved is "1".
		got := claimsOf(t, first.exchange(t, first.silent(t, annBrowser, "acr_values", "urn:example:mfa 1", "ui_locales", "fr-CA en")).IDToken)
		if got.ACR != "1" {
			t.Errorf("acr %q, want 1", got.ACR)
		}
	})
}

// TestAdminDeletesSession: deleting a session through the admin API
// revokes the refresh families begun in it and the next authorization
// needs a login.
func TestAdminDeletesSession(t *testing.T) {
	forEachStore(t, func(t *testing.T, storeArgs []string) {
		in := start(t, "", storeArgs...)
		first := newSSOClient(in, "first", true)
		web := newSSOClient(in, "web", true)
		u := in.createUser("ann", "password-of-ann")
		b := browser(t)
		t1 := first.exchange(t, first.login(t, b, "ann", "password-of-ann"))
		t2 := web.exchange(t, web.silent(t, b))
		// Signing in again replaces the session; its logins carry over.
		t4 := first.exchange(t, first.login(t, b, "ann", "password-of-ann", "prompt", "login"))
		sid := claimsOf(t, t4.IDToken).SID
		if sid == claimsOf(t, t1.IDToken).SID {
			t.Fatal("prompt=login kept the session id")
		}
		if t1.RefreshToken == "" || t2.RefreshToken == "" {
			t.Fatal("no refresh tokens")
		}
		// Another session of the same user, in another browser, stays.
		other := browser(t)
		t3 := first.exchange(t, first.login(t, other, "ann", "password-of-ann"))

		if st := in.admin(http.MethodDelete, "/admin/users/no-such-user/sessions/"+sid, nil, nil); st != http.StatusNotFound {
			t.Errorf("delete under another user: %d, want 404", st)
		}
		if st := in.admin(http.MethodDelete, "/admin/users/"+u.ID+"/sessions/"+sid, nil, nil); st != http.StatusNoContent {
			t.Fatalf("delete session: %d", st)
		}
		for _, x := range []struct {
			sc ssoClient
			tr tokenResponse
		}{{first, t1}, {web, t2}, {first, t4}} {
			if r := refresh(in, x.sc.c, x.tr.RefreshToken); r.Error != "invalid_grant" {
				t.Errorf("refresh token of the deleted session: %d %s; want invalid_grant", r.Status, r.Error)
			}
			if in.introspect(x.sc.c, x.tr.AccessToken).Active {
				t.Error("an access token of the deleted session is still active")
			}
		}
		first.authError(t, b, "login_required", "prompt", "none")
		first.loginPage(t, b)
		// The other browser's session and login are untouched.
		if r := refresh(in, first.c, t3.RefreshToken); r.Status != http.StatusOK {
			t.Errorf("refresh of the other session: %d %s", r.Status, r.Error)
		}
		first.silent(t, other, "prompt", "none")
		if st := in.admin(http.MethodDelete, "/admin/users/"+u.ID+"/sessions/"+sid, nil, nil); st != http.StatusNotFound {
			t.Errorf("second delete: %d, want 404", st)
		}
	})
}

// TestSessionAcrossReplicas: two replicas on one Redis share sessions: a
// sign-in on A, a silent authorization on B.
func TestSessionAcrossReplicas(t *testing.T) {
	args := sharedRedisArgs(t)
	a := start(t, "", args...)
	b := start(t, "", args...)
	ca := newSSOClient(a, "first", true)
	cb := ssoClient{in: b, c: ca.c, redirect: ca.redirect}
	a.createUser("ann", "password-of-ann")
	br := browser(t) // one cookie jar: both replicas are 127.0.0.1
	one := claimsOf(t, ca.exchange(t, ca.login(t, br, "ann", "password-of-ann")).IDToken)
	two := claimsOf(t, cb.exchange(t, cb.silent(t, br, "prompt", "none")).IDToken)
	if two.SID != one.SID || two.AuthTime != one.AuthTime {
		t.Errorf("on replica B: %+v; want the session begun on A %+v", two, one)
	}
}

// TestRevokedUserNeedsLogin: a session that outlives its user's
// revocation (admin revoke, password change) or deletion no longer signs
// requests in: the browser gets the login page (login_required with
// prompt=none), not an access_denied it cannot get past.
func TestRevokedUserNeedsLogin(t *testing.T) {
	forEachStore(t, func(t *testing.T, storeArgs []string) {
		clock := newFakeClock(time.Now())
		in := startWith(t, clock.Now, "", storeArgs...)
		first := newSSOClient(in, "first", true)
		ann := in.createUser("ann", "password-of-ann")
		bob := in.createUser("bob", "password-of-bob")
		annB, bobB := browser(t), browser(t)
		first.login(t, annB, "ann", "password-of-ann")
		first.login(t, bobB, "bob", "password-of-bob")
		clock.Add(2 * time.Second)
		if st := in.admin(http.MethodPost, "/admin/users/"+ann.ID+"/revoke", nil, nil); st != http.StatusNoContent {
			t.Fatalf("revoke: %d", st)
		}
		clock.Add(time.Second) // a sign-in after the revocation
		first.authError(t, annB, "login_required", "prompt", "none")
		first.loginPage(t, annB)
		first.exchange(t, first.login(t, annB, "ann", "password-of-ann")) // signs in again
		first.silent(t, annB, "prompt", "none")

		if st := in.admin(http.MethodDelete, "/admin/users/"+bob.ID, nil, nil); st != http.StatusNoContent {
			t.Fatalf("delete bob: %d", st)
		}
		first.loginPage(t, bobB)
	})
}

// TestDiscoveryAndACR: discovery states the acr authd issues and the
// claims that say how and when the user signed in (OIDC Discovery §3);
// an essential acr that no sign-in can reach is a failed authentication
// (OIDC Core §5.5.1.1: access_denied), a satisfiable or voluntary one
// (acr_values, essential false) is ignored and "1" is issued.
// Module: oidcc-claims-essential (acr).
func TestDiscoveryAndACR(t *testing.T) {
	forEachStore(t, func(t *testing.T, storeArgs []string) {
		in := start(t, "", storeArgs...)
		provider, err := oidc.NewProvider(context.Background(), in.Issuer)
		if err != nil {
			t.Fatal(err)
		}
		var disco struct {
			ACR                []string `json:"acr_values_supported"`
			Claims             []string `json:"claims_supported"`
			Front              *bool    `json:"frontchannel_logout_supported"`
			FrontSession       *bool    `json:"frontchannel_logout_session_supported"`
			BackSession        *bool    `json:"backchannel_logout_session_supported"`
			RequestParam       *bool    `json:"request_parameter_supported"`
			RequestURIParam    *bool    `json:"request_uri_parameter_supported"`
			EndSessionEndpoint string   `json:"end_session_endpoint"`
		}
		if err := provider.Claims(&disco); err != nil {
			t.Fatal(err)
		}
		if !slices.Equal(disco.ACR, []string{"1"}) {
			t.Errorf("acr_values_supported %v, want [1]", disco.ACR)
		}
		for _, c := range []string{"sid", "auth_time", "acr", "amr"} {
			if !slices.Contains(disco.Claims, c) {
				t.Errorf("claims_supported lacks %s: %v", c, disco.Claims)
			}
		}
		isTrue := func(b *bool) bool { return b != nil && *b }
		isFalse := func(b *bool) bool { return b != nil && !*b }
		if !isTrue(disco.Front) || !isTrue(disco.FrontSession) || !isTrue(disco.BackSession) ||
			!isFalse(disco.RequestParam) || !isFalse(disco.RequestURIParam) || disco.EndSessionEndpoint == "" {
			t.Errorf("discovery logout/request fields: %+v", disco)
		}

		first := newSSOClient(in, "first", true)
		in.createUser("ann", "password-of-ann")
		b := browser(t)
		first.exchange(t, first.login(t, b, "ann", "password-of-ann"))
		essential := func(spec string) string { return `{"id_token":{"acr":` + spec + `}}` }
		first.authError(t, b, "access_denied", "claims", essential(`{"essential":true,"values":["urn:example:mfa"]}`))
		first.authError(t, b, "access_denied", "claims", essential(`{"essential":true,"value":"2"}`))
		first.authError(t, browser(t), "access_denied", "claims", essential(`{"essential":true,"value":"2"}`))
		for _, extra := range [][]string{
			{"claims", essential(`{"essential":true,"values":["urn:example:mfa","1"]}`)},
			{"claims", essential(`{"essential":true}`)},
			{"claims", essential(`{"essential":false,"value":"urn:example:mfa"}`)},
			{"acr_values", "urn:example:mfa"},
		} {
			got := claimsOf(t, first.exchange(t, first.silent(t, b, extra...)).IDToken)
			if got.ACR != "1" || !slices.Equal(got.AMR, []string{"pwd"}) {
				t.Errorf("%v: acr %q amr %v, want 1 [pwd]", extra, got.ACR, got.AMR)
			}
		}
	})
}

// TestSessionWritesWaitForReplica: on Redis with durable writes
// (--redis-wait-replicas 1), a sign-in whose session no replica holds
// and a logout whose writes no replica acknowledged answer 503 instead
// of success (a failover must not undo them); once the replica is back
// the retry of the logout completes, its client gets the logout token,
// and new sign-ins work. (A delete that is itself unacknowledged still
// notifies the clients: store/redis TestDurableSessionAndConsentWrites
// checks the record it hands back.)
func TestSessionWritesWaitForReplica(t *testing.T) {
	pair := redistest.NewReplicated(t)
	in := start(t, "", "--store", "redis", "--redis-url", "redis://"+pair.Nodes[0]+"/0", "--redis-prefix", "sesswait:",
		"--redis-wait-replicas", "1", "--redis-wait-timeout", "100ms")
	lr := newLogoutReceiver(t, 0, 0)
	first := newLogoutClient(t, in, "first", lr)
	u := in.createUser("ann", "password-of-ann")
	b := browser(t)
	ta := first.exchange(t, first.login(t, b, "ann", "password-of-ann"))
	sid := claimsOf(t, ta.IDToken).SID

	pair.Pause(pair.Nodes[1], true)
	// A sign-in in another browser: its session cannot be made durable.
	resp, page := signIn(t, in, browser(t), first.authURL(), "ann", "password-of-ann")
	if resp.StatusCode != http.StatusServiceUnavailable || resp.Header.Get("Location") != "" {
		t.Errorf("sign-in with the replica stopped: %d %q, want a 503 page\n%s", resp.StatusCode, resp.Header.Get("Location"), page)
	}
	// The logout: 503 (its first durable write, revoking the session's
	// logins, is not acknowledged), the cookie kept for the retry.
	q := url.Values{"id_token_hint": {ta.IDToken}, "post_logout_redirect_uri": {first.bye()}, "state": {"st"}}
	resp, _ = get(t, b, in.Public.URL+"/oauth2/logout?"+q.Encode())
	if resp.StatusCode != http.StatusServiceUnavailable || len(resp.Cookies()) != 0 {
		t.Errorf("logout with the replica stopped: %d %q %v, want 503 and the cookie kept", resp.StatusCode, resp.Header.Get("Location"), resp.Cookies())
	}
	pair.Pause(pair.Nodes[1], false)

	// The retry completes: logged out, redirected, the client told.
	resp, _ = get(t, b, in.Public.URL+"/oauth2/logout?"+q.Encode())
	if loc := resp.Header.Get("Location"); resp.StatusCode != http.StatusSeeOther || !strings.HasPrefix(loc, first.bye()) {
		t.Errorf("logout retry: %d %q, want 303 to %s", resp.StatusCode, loc, first.bye())
	}
	checkLogoutToken(t, in, lr.await(t, 2*time.Second, 1)[0], first.c.ClientID, u.ID, sid)
	sessionDead(t, b, map[*ssoClient]tokenResponse{&first: ta})
	first.exchange(t, first.login(t, b, "ann", "password-of-ann"))
}
