package app_test

import (
	"context"
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/coreos/go-oidc/v3/oidc"
	"golang.org/x/oauth2"
)

// consentList is the admin API's GET /admin/users/{id}/consents answer.
type consentList struct {
	Consents []struct {
		ClientID  string `json:"client_id"`
		Scope     string `json:"scope"`
		GrantedAt string `json:"granted_at"`
	} `json:"consents"`
}

// rp is a relying party of the test: an x/oauth2 configuration found by
// go-oidc discovery.
type rp struct {
	c    registeredClient
	conf oauth2.Config
}

func newRP(t *testing.T, in *instance, name, redirect, scope string, extra map[string]any) rp {
	t.Helper()
	meta := map[string]any{"client_name": name, "grant_types": []string{"authorization_code", "refresh_token"},
		"redirect_uris": []string{redirect}, "scope": scope}
	for k, v := range extra {
		meta[k] = v
	}
	c := in.createClient(meta)
	provider, err := oidc.NewProvider(context.Background(), in.Issuer)
	if err != nil {
		t.Fatalf("go-oidc discovery: %v", err)
	}
	return rp{c: c, conf: oauth2.Config{ClientID: c.ClientID, ClientSecret: c.ClientSecret, Endpoint: provider.Endpoint(), RedirectURL: redirect}}
}

// authURL is an authorization request for scope with extra parameters.
func (r rp) authURL(scope string, extra ...string) string {
	opts := []oauth2.AuthCodeOption{oauth2.SetAuthURLParam("scope", scope)}
	for i := 0; i+1 < len(extra); i += 2 {
		opts = append(opts, oauth2.SetAuthURLParam(extra[i], extra[i+1]))
	}
	return r.conf.AuthCodeURL("st", opts...)
}

// signInNew signs in from a new browser, without an SSO session, and
// returns the browser with the page that follows.
func signInNew(t *testing.T, in *instance, authURL, username, pw string) (*http.Client, *http.Response, string) {
	t.Helper()
	b := browser(t)
	resp, page := signIn(t, in, b, authURL, username, pw)
	return b, resp, page
}

func isConsentPage(resp *http.Response, page string) bool {
	return resp.StatusCode == http.StatusOK && strings.Contains(page, `name="decision" value="allow"`)
}

func (in *instance) consents(userID string) consentList {
	in.t.Helper()
	var l consentList
	if st := in.admin(http.MethodGet, "/admin/users/"+userID+"/consents", nil, &l); st != http.StatusOK {
		in.t.Fatalf("list consents: %d", st)
	}
	return l
}

// TestRememberedConsent: consent is remembered per user and client for
// the scopes granted (OIDC Core §3.1.2.4); a subset skips the page, more
// scopes show it again, prompt=consent always shows it, denying stores
// nothing; the admin API lists consents and deleting one asks again and
// ends that client's logins of the user (refresh and access tokens).
func TestRememberedConsent(t *testing.T) {
	forEachStore(t, func(t *testing.T, storeArgs []string) {
		in := start(t, "", storeArgs...)
		ctx := context.Background()
		const redirect = "http://127.0.0.1:9999/cb"
		web := newRP(t, in, "Web", redirect, "openid profile email offline_access", nil)
		other := newRP(t, in, "Other", redirect, "openid", nil)
		u := in.createUser("rita", "password-of-rita")
		b := browser(t)
		exchange := func(r rp, resp *http.Response) *oauth2.Token {
			t.Helper()
			tok, err := r.conf.Exchange(ctx, codeOf(t, resp, redirect))
			if err != nil {
				t.Fatalf("code exchange: %v", err)
			}
			return tok
		}

		// First authorization: login, consent, allow.
		b, resp, page := signInNew(t, in, web.authURL("openid profile"), "rita", "password-of-rita")
		if !isConsentPage(resp, page) || strings.Contains(page, `class="new"`) {
			t.Fatalf("first authorization: %d; want the consent page, nothing marked new\n%s", resp.StatusCode, page)
		}
		resp, _ = consent(t, in, b, page, "allow")
		first := exchange(web, resp)
		l := in.consents(u.ID)
		if len(l.Consents) != 1 || l.Consents[0].ClientID != web.c.ClientID || l.Consents[0].Scope != "openid profile" || l.Consents[0].GrantedAt == "" {
			t.Fatalf("consents after allow: %+v", l)
		}

		// A subset of what was granted: no consent page.
		b, resp, page = signInNew(t, in, web.authURL("openid"), "rita", "password-of-rita")
		if resp.StatusCode != http.StatusSeeOther {
			t.Fatalf("remembered consent: %d; want the code at once\n%s", resp.StatusCode, page)
		}
		second := exchange(web, resp)

		// More scopes: the page again; allowing widens the remembered grant.
		b, resp, page = signInNew(t, in, web.authURL("openid profile email"), "rita", "password-of-rita")
		if !isConsentPage(resp, page) {
			t.Fatalf("wider request: %d; want the consent page", resp.StatusCode)
		}
		if n := strings.Count(page, `class="new"`); n != 1 || !strings.Contains(page, `See your email address <strong class="new">(new)</strong>`) {
			t.Errorf("wider request's page marks %d scopes new; want only email\n%s", n, page)
		}
		resp, _ = consent(t, in, b, page, "allow")
		codeOf(t, resp, redirect)
		if l := in.consents(u.ID); len(l.Consents) != 1 || l.Consents[0].Scope != "email openid profile" {
			t.Fatalf("consents after widening: %+v", l)
		}

		// prompt=consent shows the page even for a remembered grant.
		b, resp, page = signInNew(t, in, web.authURL("openid", "prompt", "consent"), "rita", "password-of-rita")
		if !isConsentPage(resp, page) {
			t.Fatalf("prompt=consent: %d; want the consent page", resp.StatusCode)
		}

		// Denying stores nothing.
		b, resp, page = signInNew(t, in, other.authURL("openid"), "rita", "password-of-rita")
		if !isConsentPage(resp, page) {
			t.Fatalf("other client: %d; want the consent page", resp.StatusCode)
		}
		resp, _ = consent(t, in, b, page, "deny")
		if loc, _ := url.Parse(resp.Header.Get("Location")); resp.StatusCode != http.StatusSeeOther || loc.Query().Get("error") != "access_denied" {
			t.Fatalf("deny: %d %s", resp.StatusCode, resp.Header.Get("Location"))
		}
		if l := in.consents(u.ID); len(l.Consents) != 1 || l.Consents[0].ClientID != web.c.ClientID {
			t.Fatalf("consents after a denial: %+v; want only web's", l)
		}

		// Withdrawing the consent ends web's logins of the user...
		if st := in.admin(http.MethodDelete, "/admin/users/"+u.ID+"/consents/"+web.c.ClientID, nil, nil); st != http.StatusNoContent {
			t.Fatalf("delete consent: %d", st)
		}
		for i, tok := range []*oauth2.Token{first, second} {
			if r := refresh(in, web.c, tok.RefreshToken); r.Error != "invalid_grant" {
				t.Errorf("login %d: refresh after the consent was withdrawn: %d %s; want invalid_grant", i, r.Status, r.Error)
			}
			if in.introspect(web.c, tok.AccessToken).Active {
				t.Errorf("login %d: access token still active after the consent was withdrawn", i)
			}
		}
		if l := in.consents(u.ID); len(l.Consents) != 0 {
			t.Errorf("consents after delete: %+v", l)
		}
		// ... and the next authorization asks again.
		b, resp, page = signInNew(t, in, web.authURL("openid"), "rita", "password-of-rita")
		if !isConsentPage(resp, page) {
			t.Fatalf("after withdrawal: %d; want the consent page", resp.StatusCode)
		}
		if st := in.admin(http.MethodDelete, "/admin/users/"+u.ID+"/consents/"+web.c.ClientID, nil, nil); st != http.StatusNotFound {
			t.Errorf("second delete: %d; want 404", st)
		}
		if st := in.admin(http.MethodGet, "/admin/users/nobody/consents", nil, nil); st != http.StatusNotFound {
			t.Errorf("consents of an unknown user: %d; want 404", st)
		}
		// Deleting the user deletes its consents.
		b, resp, page = signInNew(t, in, web.authURL("openid"), "rita", "password-of-rita")
		consent(t, in, b, page, "allow")
		if l := in.consents(u.ID); len(l.Consents) != 1 {
			t.Fatalf("consents before the user's deletion: %+v", l)
		}
		if st := in.admin(http.MethodDelete, "/admin/users/"+u.ID, nil, nil); st != http.StatusNoContent {
			t.Fatalf("delete user: %d", st)
		}
		if left, err := in.App.Store.ListConsents(ctx, u.ID); err != nil || len(left) != 0 {
			t.Errorf("consents of a deleted user: %+v, %v; want none", left, err)
		}
	})
}

// TestConsentLeavesOtherClientsAlone: withdrawing one client's consent
// ends only that client's logins of the user.
func TestConsentLeavesOtherClientsAlone(t *testing.T) {
	in := start(t, "")
	ctx := context.Background()
	const redirect = "http://127.0.0.1:9999/cb"
	web := newRP(t, in, "Web", redirect, "openid offline_access", nil)
	app2 := newRP(t, in, "App", redirect, "openid offline_access", map[string]any{"skip_consent": true})
	u := in.createUser("sam", "password-of-sam")
	b := browser(t)
	b, resp, page := signInNew(t, in, web.authURL("openid"), "sam", "password-of-sam")
	resp, _ = consent(t, in, b, page, "allow")
	webTok, err := web.conf.Exchange(ctx, codeOf(t, resp, redirect))
	if err != nil {
		t.Fatal(err)
	}
	b, resp, _ = signInNew(t, in, app2.authURL("openid"), "sam", "password-of-sam")
	appTok, err := app2.conf.Exchange(ctx, codeOf(t, resp, redirect))
	if err != nil {
		t.Fatal(err)
	}
	if st := in.admin(http.MethodDelete, "/admin/users/"+u.ID+"/consents/"+web.c.ClientID, nil, nil); st != http.StatusNoContent {
		t.Fatalf("delete consent: %d", st)
	}
	if r := refresh(in, app2.c, appTok.RefreshToken); r.Status != http.StatusOK {
		t.Errorf("the other client's login ended too: %d %s", r.Status, r.Error)
	}
	if r := refresh(in, web.c, webTok.RefreshToken); r.Error != "invalid_grant" {
		t.Errorf("web's login survived: %d %s", r.Status, r.Error)
	}
	// A skip_consent client has no consent record, but its logins are
	// indexed: deleting ends them (204), the next delete is 404.
	if st := in.admin(http.MethodDelete, "/admin/users/"+u.ID+"/consents/"+app2.c.ClientID, nil, nil); st != http.StatusNoContent {
		t.Fatalf("delete for a skip_consent client with a login: %d", st)
	}
	if in.introspect(app2.c, appTok.AccessToken).Active {
		t.Error("the skip_consent client's access token is still active")
	}
}

// TestAuthorizeRequestParameters: request objects are not supported
// (OIDC Core §6; OpenID Foundation modules
// oidcc-ensure-request-object-with-redirect-uri, oidcc-request-uri-unsigned,
// oidcc-unsigned-request-object-supported-correctly-or-rejected-as-unsupported),
// and response_mode is query or form_post.
func TestAuthorizeRequestParameters(t *testing.T) {
	in := start(t, "")
	const redirect = "https://app.example/cb"
	c := in.createClient(map[string]any{"grant_types": []string{"authorization_code"}, "redirect_uris": []string{redirect}, "scope": "openid"})
	b := browser(t)
	base := url.Values{"client_id": {c.ClientID}, "response_type": {"code"}, "redirect_uri": {redirect}, "scope": {"openid"}, "state": {"s1"}}
	with := func(kv ...string) url.Values {
		q := url.Values{}
		for k, v := range base {
			q[k] = v
		}
		for i := 0; i+1 < len(kv); i += 2 {
			q.Add(kv[i], kv[i+1])
		}
		return q
	}
	for _, tc := range []struct {
		name string
		q    url.Values
		code string
	}{
		{"request object", with("request", "eyJhbGciOiJub25lIn0.eyJzY29wZSI6Im9wZW5pZCJ9."), "request_not_supported"},
		{"request_uri", with("request_uri", "https://app.example/req.jwt"), "request_uri_not_supported"},
		{"unknown response_mode", with("response_mode", "fragment"), "invalid_request"},
		{"repeated response_mode", with("response_mode", "query", "response_mode", "query"), "invalid_request"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			resp, _ := get(t, b, in.Public.URL+"/oauth2/authorize?"+tc.q.Encode())
			loc, _ := url.Parse(resp.Header.Get("Location"))
			if resp.StatusCode != http.StatusSeeOther || !strings.HasPrefix(loc.String(), redirect) ||
				loc.Query().Get("error") != tc.code || loc.Query().Get("state") != "s1" {
				t.Errorf("%d %s; want a redirect with error=%s and the state", resp.StatusCode, loc, tc.code)
			}
		})
	}
	t.Run("request object with an unregistered redirect_uri is shown, not redirected", func(t *testing.T) {
		q := with("request", "x")
		q.Set("redirect_uri", "https://evil.example/cb")
		resp, _ := get(t, b, in.Public.URL+"/oauth2/authorize?"+q.Encode())
		if resp.StatusCode != http.StatusBadRequest || resp.Header.Get("Location") != "" {
			t.Errorf("%d %q; want 400 and no redirect", resp.StatusCode, resp.Header.Get("Location"))
		}
	})
	t.Run("response_mode=query is accepted", func(t *testing.T) {
		resp, page := get(t, b, in.Public.URL+"/oauth2/authorize?"+with("response_mode", "query").Encode())
		if resp.StatusCode != http.StatusOK || !strings.Contains(page, `name="username"`) {
			t.Errorf("%d; want the login page", resp.StatusCode)
		}
	})
}

// TestConsentOfAReRegisteredClient: a client deleted and registered again
// under the same client_id does not inherit what the user allowed the old
// one (the consent predates the client's client_id_issued_at).
func TestConsentOfAReRegisteredClient(t *testing.T) {
	forEachStore(t, func(t *testing.T, storeArgs []string) {
		in := start(t, "", storeArgs...)
		const redirect = "http://127.0.0.1:9999/cb"
		meta := map[string]any{"client_id": "reused-id"}
		old := newRP(t, in, "Old", redirect, "openid email", meta)
		u := in.createUser("uma", "password-of-uma")
		b := browser(t)
		b, resp, page := signInNew(t, in, old.authURL("openid email"), "uma", "password-of-uma")
		consent(t, in, b, page, "allow")
		if b, resp, _ = signInNew(t, in, old.authURL("openid email"), "uma", "password-of-uma"); resp.StatusCode != http.StatusSeeOther {
			t.Fatalf("remembered: %d; want the code at once", resp.StatusCode)
		}
		if st := in.admin(http.MethodDelete, "/admin/clients/reused-id", nil, nil); st != http.StatusNoContent {
			t.Fatalf("delete client: %d", st)
		}
		fresh := newRP(t, in, "New", redirect, "openid email", meta)
		b, resp, page = signInNew(t, in, fresh.authURL("openid"), "uma", "password-of-uma")
		if !isConsentPage(resp, page) {
			t.Fatalf("re-registered client: %d; want the consent page", resp.StatusCode)
		}
		consent(t, in, b, page, "allow")
		if l := in.consents(u.ID); len(l.Consents) != 1 || l.Consents[0].Scope != "openid" {
			t.Errorf("consents %+v; want only what the new client got", l)
		}
	})
}

// TestSilentAuthorizationNeedsConsent: with an SSO session, prompt=none
// answers with a code when the consent is remembered and consent_required
// when it is not (OIDC Core §3.1.2.6); a remembered consent with a
// session needs no page at all, and prompt=consent still shows one.
func TestSilentAuthorizationNeedsConsent(t *testing.T) {
	forEachStore(t, func(t *testing.T, storeArgs []string) {
		in := start(t, "", storeArgs...)
		const redirect = "http://127.0.0.1:9999/cb"
		web := newRP(t, in, "Web", redirect, "openid profile", nil)
		other := newRP(t, in, "Other", redirect, "openid", nil)
		in.createUser("vic", "password-of-vic")
		b := browser(t)
		b, resp, page := signInNew(t, in, web.authURL("openid"), "vic", "password-of-vic")
		resp, _ = consent(t, in, b, page, "allow")
		codeOf(t, resp, redirect)

		// Remembered consent, live session: the code at once, silently or not.
		for _, extra := range [][]string{{"prompt", "none"}, nil} {
			resp, page = get(t, b, web.authURL("openid", extra...))
			if resp.StatusCode != http.StatusSeeOther {
				t.Fatalf("%v with a session and remembered consent: %d\n%s", extra, resp.StatusCode, page)
			}
			codeOf(t, resp, redirect)
		}
		// Wider scope or another client: consent_required for prompt=none.
		for name, u := range map[string]string{"wider": web.authURL("openid profile", "prompt", "none"), "other client": other.authURL("openid", "prompt", "none")} {
			resp, _ = get(t, b, u)
			loc, _ := url.Parse(resp.Header.Get("Location"))
			if resp.StatusCode != http.StatusSeeOther || loc.Query().Get("error") != "consent_required" {
				t.Errorf("%s: %d %s; want error=consent_required", name, resp.StatusCode, loc)
			}
		}
		// prompt=consent with the session: the consent page, no login.
		resp, page = get(t, b, web.authURL("openid", "prompt", "consent"))
		if !isConsentPage(resp, page) {
			t.Errorf("prompt=consent with a session: %d; want the consent page", resp.StatusCode)
		}
	})
}

// TestConsentSwitchAccount: the consent page names the signed-in user
// and its "Not you?" (a POSTed decision=switch_account) ends that session
// everywhere — its logins revoked, back-channel logout sent, the cookie
// cleared — and the SAME authorization request continues at the login
// page; the other user signs in, consents and the code is theirs.
func TestConsentSwitchAccount(t *testing.T) {
	forEachStore(t, func(t *testing.T, storeArgs []string) {
		in := start(t, "", storeArgs...)
		lr := newLogoutReceiver(t, 0, 0)
		first := newLogoutClient(t, in, "first", lr)    // skip_consent: signs ann in
		app := newSSOClient(in, "needs-consent", false) // shows the consent page
		ann := in.createUser("ann", "password-of-ann")
		bob := in.createUser("bob", "password-of-bob")
		b := browser(t)
		annLogin := first.exchange(t, first.login(t, b, "ann", "password-of-ann"))
		annSID := claimsOf(t, annLogin.IDToken).SID

		// The session signs ann in; the consent page says so.
		resp, page := get(t, b, app.authURL("state", "keep-me"))
		if !isConsentPage(resp, page) || !strings.Contains(page, "Signed in as <strong>ann</strong>") ||
			!strings.Contains(page, `name="decision" value="switch_account"`) {
			t.Fatalf("consent page without the account and its switch: %d\n%s", resp.StatusCode, page)
		}
		// Without this browser's CSRF cookie the switch is refused.
		stranger := browser(t)
		if r, _ := consent(t, in, stranger, page, "switch_account"); r.StatusCode != http.StatusForbidden {
			t.Errorf("switch from another browser: %d, want 403", r.StatusCode)
		}
		resp, page = consent(t, in, b, page, "switch_account")
		if resp.StatusCode != http.StatusOK || !strings.Contains(page, `name="password"`) || strings.Contains(page, `value="ann"`) {
			t.Fatalf("after the switch: %d, want the login page (not prefilled)\n%s", resp.StatusCode, page)
		}
		sessionCookieGone(t, resp)
		// ann's session ended everywhere: her client got a logout token
		// for it, her login there is revoked, admin lists no session.
		checkLogoutToken(t, in, lr.await(t, 2*time.Second, 1)[0], first.c.ClientID, ann.ID, annSID)
		if r := refresh(in, first.c, annLogin.RefreshToken); r.Error != "invalid_grant" {
			t.Errorf("ann's refresh token after the switch: %d %s, want invalid_grant", r.Status, r.Error)
		}
		var list struct {
			Sessions []struct{ ID string } `json:"sessions"`
		}
		if st := in.admin(http.MethodGet, "/admin/users/"+ann.ID+"/sessions", nil, &list); st != http.StatusOK || len(list.Sessions) != 0 {
			t.Errorf("ann's sessions after the switch: %d %v, want none", st, list.Sessions)
		}

		// The same request goes on with bob: his consent, his code, the
		// request's state.
		resp, page = post(t, b, in.Public.URL+"/oauth2/authorize/login", url.Values{"request": {formField(t, page)},
			"username": {"bob"}, "password": {"password-of-bob"}})
		if !isConsentPage(resp, page) || !strings.Contains(page, "Signed in as <strong>bob</strong>") {
			t.Fatalf("bob's consent page: %d\n%s", resp.StatusCode, page)
		}
		resp, _ = consent(t, in, b, page, "allow")
		if loc, _ := url.Parse(resp.Header.Get("Location")); loc == nil || loc.Query().Get("state") != "keep-me" {
			t.Fatalf("the code redirect lost the request's state: %q", resp.Header.Get("Location"))
		}
		got := claimsOf(t, app.exchange(t, codeOf(t, resp, app.redirect)).IDToken)
		if got.Sub != bob.ID || got.SID == annSID {
			t.Errorf("code for sub %s sid %s; want bob (%s) in a new session", got.Sub, got.SID, bob.ID)
		}
		if l := in.consents(ann.ID); len(l.Consents) != 0 {
			t.Errorf("ann consented to nothing, has %v", l.Consents)
		}
		// bob's session is this browser's now.
		app.silent(t, b)
	})
}
