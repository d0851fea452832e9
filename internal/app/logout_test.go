package app_test

import (
	"context"
	"encoding/json"
	"html"
	"net/http"
	"net/http/httptest"
	"net/url"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/lestrrat-go/jwx/v3/jwk"
	"github.com/lestrrat-go/jwx/v3/jwt"
)

// RP-initiated logout (OpenID Connect RP-Initiated Logout 1.0) and
// back-channel logout (Back-Channel Logout 1.0) through HTTP on both
// stores. The OpenID Foundation conformance modules each test corresponds
// to are named in its comment.

// logoutReceiver is a client's backchannel_logout_uri: it records every
// logout_token posted to it; the first fail requests answer 503 after
// delay.
type logoutReceiver struct {
	srv   *httptest.Server
	mu    sync.Mutex
	got   []string
	hits  int
	fail  int
	delay time.Duration
}

func newLogoutReceiver(t *testing.T, fail int, delay time.Duration) *logoutReceiver {
	lr := &logoutReceiver{fail: fail, delay: delay}
	lr.srv = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		lr.mu.Lock()
		lr.hits++
		n := lr.hits
		lr.mu.Unlock()
		if ct := r.Header.Get("Content-Type"); r.Method != http.MethodPost || ct != "application/x-www-form-urlencoded" {
			http.Error(w, "want a form POST", http.StatusBadRequest)
			return
		}
		tok := r.PostFormValue("logout_token")
		if n <= lr.fail {
			time.Sleep(lr.delay)
			http.Error(w, "down", http.StatusServiceUnavailable)
			return
		}
		lr.mu.Lock()
		lr.got = append(lr.got, tok)
		lr.mu.Unlock()
		w.WriteHeader(http.StatusOK)
	}))
	t.Cleanup(lr.srv.Close)
	return lr
}

// tokens are the logout tokens received so far; attempts every request.
func (lr *logoutReceiver) tokens() ([]string, int) {
	lr.mu.Lock()
	defer lr.mu.Unlock()
	return append([]string(nil), lr.got...), lr.hits
}

// await waits up to d for n tokens.
func (lr *logoutReceiver) await(t *testing.T, d time.Duration, n int) []string {
	t.Helper()
	var got []string
	if !eventually(t, d, func() bool { got, _ = lr.tokens(); return len(got) >= n }) {
		t.Fatalf("back-channel receiver got %d logout tokens within %v, want %d", len(got), d, n)
	}
	return got
}

// logoutClient is an SSO client with a back-channel receiver and a
// post-logout redirect URI.
func newLogoutClient(t *testing.T, in *instance, name string, lr *logoutReceiver) ssoClient {
	redirect := "http://127.0.0.1:9999/" + name + "/cb"
	meta := map[string]any{"client_name": name, "grant_types": []string{"authorization_code", "refresh_token"},
		"redirect_uris": []string{redirect}, "post_logout_redirect_uris": []string{"http://127.0.0.1:9999/" + name + "/bye"},
		"scope": "openid profile offline_access", "skip_consent": true}
	if lr != nil {
		meta["backchannel_logout_uri"] = lr.srv.URL + "/backchannel"
		meta["backchannel_logout_session_required"] = true
	}
	c := in.createClient(meta)
	return ssoClient{in: in, c: c, redirect: redirect}
}

// bye is the client's registered post_logout_redirect_uri.
func (sc ssoClient) bye() string { return strings.TrimSuffix(sc.redirect, "/cb") + "/bye" }

// checkLogoutToken verifies a logout token with a second JOSE library
// (lestrrat-go/jwx) against the served JWKS and checks Back-Channel
// Logout 1.0 §2.4: typ logout+jwt, iss, aud, iat, exp, jti, sid, sub,
// the event, no nonce.
func checkLogoutToken(t *testing.T, in *instance, raw, clientID, sub, sid string) string {
	t.Helper()
	set, err := jwk.Fetch(context.Background(), in.Public.URL+"/oauth2/jwks")
	if err != nil {
		t.Fatal(err)
	}
	tok, err := jwt.Parse([]byte(raw), jwt.WithKeySet(set), jwt.WithValidate(true),
		jwt.WithIssuer(in.Issuer), jwt.WithAudience(clientID), jwt.WithSubject(sub))
	if err != nil {
		t.Fatalf("jwx rejected the logout token: %v", err)
	}
	if typ := header(t, raw)["typ"]; typ != "logout+jwt" {
		t.Errorf("typ %v, want logout+jwt", typ)
	}
	c := decodeClaims(t, raw)
	ev, _ := c["events"].(map[string]any)
	if _, ok := ev["http://schemas.openid.net/event/backchannel-logout"]; !ok || len(ev) != 1 {
		t.Errorf("events %v", c["events"])
	}
	if _, ok := c["nonce"]; ok {
		t.Error("a logout token must not carry a nonce")
	}
	if c["sid"] != sid {
		t.Errorf("sid %v, want %s", c["sid"], sid)
	}
	iat, _ := tok.IssuedAt()
	exp, _ := tok.Expiration()
	if jti, _ := c["jti"].(string); jti == "" || exp.Sub(iat) <= 0 || exp.Sub(iat) > 5*time.Minute {
		t.Errorf("jti %q, iat %v, exp %v; want a jti and a short lifetime", jti, iat, exp)
	}
	jti, _ := c["jti"].(string)
	return jti
}

// sessionDead checks that the logins of the session no longer work and
// the browser needs a login.
func sessionDead(t *testing.T, b *http.Client, logins map[*ssoClient]tokenResponse) {
	t.Helper()
	for sc, tr := range logins {
		if r := refresh(sc.in, sc.c, tr.RefreshToken); r.Error != "invalid_grant" {
			t.Errorf("refresh token after logout: %d %s; want invalid_grant", r.Status, r.Error)
		}
		if sc.in.introspect(sc.c, tr.AccessToken).Active {
			t.Error("an access token of the logged-out session is still active")
		}
		sc.authError(t, b, "login_required", "prompt", "none")
		sc.loginPage(t, b)
	}
}

func sessionCookieGone(t *testing.T, resp *http.Response) {
	t.Helper()
	for _, c := range resp.Cookies() {
		if c.Name == "authd_session" && c.MaxAge < 0 {
			return
		}
	}
	t.Errorf("the session cookie was not cleared: %v", resp.Header["Set-Cookie"])
}

// TestLogoutWithIDTokenHint: a valid id_token_hint for the browser's
// session logs out at once and redirects to the registered
// post_logout_redirect_uri with state; both clients of the session get a
// logout token within 2 s; the session's refresh and access tokens are
// dead and the next authorization needs a login. OpenID Foundation
// modules: oidcc-rp-initiated-logout, oidcc-backchannel-rp-initiated-logout.
func TestLogoutWithIDTokenHint(t *testing.T) {
	forEachStore(t, func(t *testing.T, storeArgs []string) {
		in := start(t, "", storeArgs...)
		ra, rb := newLogoutReceiver(t, 0, 0), newLogoutReceiver(t, 0, 0)
		a, bc := newLogoutClient(t, in, "app-a", ra), newLogoutClient(t, in, "app-b", rb)
		plain := newLogoutClient(t, in, "app-c", nil)
		u := in.createUser("ann", "password-of-ann")
		b := browser(t)
		ta := a.exchange(t, a.login(t, b, "ann", "password-of-ann"))
		tb := bc.exchange(t, bc.silent(t, b))
		tc := plain.exchange(t, plain.silent(t, b))
		sid := claimsOf(t, ta.IDToken).SID

		var disc map[string]any
		_, body := get(t, http.DefaultClient, in.Public.URL+"/.well-known/openid-configuration")
		json.Unmarshal([]byte(body), &disc)
		if disc["end_session_endpoint"] != in.Issuer+"/oauth2/logout" || disc["backchannel_logout_supported"] != true ||
			disc["backchannel_logout_session_supported"] != true || disc["frontchannel_logout_supported"] != true {
			t.Errorf("discovery: end_session_endpoint %v, backchannel %v/%v, frontchannel %v", disc["end_session_endpoint"],
				disc["backchannel_logout_supported"], disc["backchannel_logout_session_supported"], disc["frontchannel_logout_supported"])
		}

		q := url.Values{"id_token_hint": {ta.IDToken}, "post_logout_redirect_uri": {a.bye()}, "state": {"s t&1"}}
		start := time.Now()
		resp, _ := get(t, b, in.Public.URL+"/oauth2/logout?"+q.Encode())
		loc, _ := url.Parse(resp.Header.Get("Location"))
		if resp.StatusCode != http.StatusSeeOther || loc == nil || !strings.HasPrefix(loc.String(), a.bye()+"?") || loc.Query().Get("state") != "s t&1" {
			t.Fatalf("logout: %d %q; want 303 to %s with state", resp.StatusCode, resp.Header.Get("Location"), a.bye())
		}
		sessionCookieGone(t, resp)
		for _, x := range []struct {
			lr *logoutReceiver
			sc ssoClient
		}{{ra, a}, {rb, bc}} {
			got := x.lr.await(t, 2*time.Second-time.Since(start), 1)
			checkLogoutToken(t, in, got[0], x.sc.c.ClientID, u.ID, sid)
		}
		sessionDead(t, b, map[*ssoClient]tokenResponse{&a: ta, &bc: tb, &plain: tc})

		// POST (form) is accepted too (§2); nothing to end: signed-out page.
		resp, page := post(t, b, in.Public.URL+"/oauth2/logout", url.Values{"id_token_hint": {ta.IDToken}})
		if resp.StatusCode != http.StatusOK || !strings.Contains(page, "You are signed out") {
			t.Errorf("POST logout without a session: %d, want the signed-out page", resp.StatusCode)
		}
	})
}

// TestLogoutConfirmation: without an id_token_hint the user is asked
// (decision=logout, CSRF-protected); staying signed in keeps the session;
// confirming logs out. A hint for another session asks too. OpenID
// Foundation modules: oidcc-rp-initiated-logout-no-id-token-hint,
// oidcc-rp-initiated-logout-bad-id-token-hint (asked instead of refused).
func TestLogoutConfirmation(t *testing.T) {
	forEachStore(t, func(t *testing.T, storeArgs []string) {
		in := start(t, "", storeArgs...)
		ra := newLogoutReceiver(t, 0, 0)
		a := newLogoutClient(t, in, "app-a", ra)
		u := in.createUser("ann", "password-of-ann")
		in.createUser("bob", "password-of-bob")
		b := browser(t)
		ta := a.exchange(t, a.login(t, b, "ann", "password-of-ann"))
		sid := claimsOf(t, ta.IDToken).SID
		// Bob's ID token from another browser is valid but not this session's.
		tbob := a.exchange(t, a.login(t, browser(t), "bob", "password-of-bob"))
		// Ann's ID token of her session in another browser: her sub, another sid.
		tann2 := a.exchange(t, a.login(t, browser(t), "ann", "password-of-ann"))

		endpoint := in.Public.URL + "/oauth2/logout"
		for _, q := range []url.Values{
			{"client_id": {a.c.ClientID}, "post_logout_redirect_uri": {a.bye()}, "state": {"st"}},
			{"id_token_hint": {tbob.IDToken}, "post_logout_redirect_uri": {a.bye()}, "state": {"st"}},
			{"id_token_hint": {tann2.IDToken}, "post_logout_redirect_uri": {a.bye()}, "state": {"st"}},
		} {
			resp, page := get(t, b, endpoint+"?"+q.Encode())
			if resp.StatusCode != http.StatusOK || !strings.Contains(page, `name="decision" value="logout"`) || !strings.Contains(page, "app-a") {
				t.Fatalf("logout %v: %d; want the confirmation page", q, resp.StatusCode)
			}
			if csp := resp.Header.Get("Content-Security-Policy"); !strings.Contains(csp, "form-action 'self' http://127.0.0.1:9999") || strings.Contains(csp, "script") {
				t.Errorf("confirmation CSP %q", csp)
			}
		}
		resp, page := get(t, b, endpoint+"?"+url.Values{"client_id": {a.c.ClientID}, "post_logout_redirect_uri": {a.bye()}, "state": {"st"}}.Encode())
		request := html.UnescapeString(formField(t, page))

		// Another site's form (no CSRF cookie) is refused, and ends nothing.
		resp, _ = post(t, browser(t), endpoint, url.Values{"request": {request}, "decision": {"logout"}})
		if resp.StatusCode != http.StatusBadRequest || resp.Header.Get("Location") != "" {
			t.Errorf("confirmation without the CSRF cookie: %d %q; want 400", resp.StatusCode, resp.Header.Get("Location"))
		}
		// A forged request with this browser's cookie but another token.
		forged, _ := url.ParseQuery(request)
		forged.Set("csrf", strings.Repeat("A", 43))
		if resp, _ = post(t, b, endpoint, url.Values{"request": {forged.Encode()}, "decision": {"logout"}}); resp.StatusCode != http.StatusBadRequest {
			t.Errorf("confirmation with a wrong CSRF token: %d; want 400", resp.StatusCode)
		}
		// Stay signed in: back to the client, the session lives.
		resp, _ = post(t, b, endpoint, url.Values{"request": {request}, "decision": {"stay"}})
		if resp.StatusCode != http.StatusSeeOther || resp.Header.Get("Location") != a.bye() {
			t.Errorf("stay signed in: %d %q", resp.StatusCode, resp.Header.Get("Location"))
		}
		a.silent(t, b, "prompt", "none")
		if got, _ := ra.tokens(); len(got) != 0 {
			t.Fatalf("logout tokens sent before the user confirmed: %d", len(got))
		}

		start := time.Now()
		resp, _ = post(t, b, endpoint, url.Values{"request": {request}, "decision": {"logout"}})
		loc, _ := url.Parse(resp.Header.Get("Location"))
		if resp.StatusCode != http.StatusSeeOther || loc == nil || !strings.HasPrefix(loc.String(), a.bye()) || loc.Query().Get("state") != "st" {
			t.Fatalf("confirmed logout: %d %q; want 303 to %s with state", resp.StatusCode, resp.Header.Get("Location"), a.bye())
		}
		sessionCookieGone(t, resp)
		got := ra.await(t, 2*time.Second-time.Since(start), 1)
		checkLogoutToken(t, in, got[0], a.c.ClientID, u.ID, sid)
		sessionDead(t, b, map[*ssoClient]tokenResponse{&a: ta})
		// The sessions in the other browsers are untouched.
		for _, tr := range []tokenResponse{tbob, tann2} {
			if r := refresh(in, a.c, tr.RefreshToken); r.Status != http.StatusOK {
				t.Errorf("refresh of another session: %d %s", r.Status, r.Error)
			}
		}
	})
}

// TestLogoutRefusesUnregisteredRedirect: a post_logout_redirect_uri the
// client did not register, one without a client, an id_token_hint authd
// did not issue and a client_id not in the hint's audience are error
// pages, never redirects, and end nothing. OpenID Foundation module:
// oidcc-rp-initiated-logout-bad-post-logout-redirect-uri.
func TestLogoutRefusesUnregisteredRedirect(t *testing.T) {
	forEachStore(t, func(t *testing.T, storeArgs []string) {
		in := start(t, "", storeArgs...)
		a := newLogoutClient(t, in, "app-a", nil)
		other := newLogoutClient(t, in, "app-b", nil)
		in.createUser("ann", "password-of-ann")
		b := browser(t)
		ta := a.exchange(t, a.login(t, b, "ann", "password-of-ann"))
		forged := ta.IDToken[:len(ta.IDToken)-4] + "AAAA"
		for name, q := range map[string]url.Values{
			"unregistered":        {"id_token_hint": {ta.IDToken}, "post_logout_redirect_uri": {"http://127.0.0.1:9999/evil"}, "state": {"x"}},
			"other client's":      {"id_token_hint": {ta.IDToken}, "post_logout_redirect_uri": {other.bye()}},
			"prefix only":         {"client_id": {a.c.ClientID}, "post_logout_redirect_uri": {a.bye() + "/more"}},
			"no client":           {"post_logout_redirect_uri": {a.bye()}},
			"forged hint":         {"id_token_hint": {forged}, "post_logout_redirect_uri": {a.bye()}},
			"client not audience": {"id_token_hint": {ta.IDToken}, "client_id": {other.c.ClientID}},
			"unknown client":      {"client_id": {"nope"}, "post_logout_redirect_uri": {a.bye()}},
		} {
			resp, page := get(t, b, in.Public.URL+"/oauth2/logout?"+q.Encode())
			if resp.StatusCode != http.StatusBadRequest || resp.Header.Get("Location") != "" || !strings.Contains(page, "invalid_request") {
				t.Errorf("%s: %d %q; want the error page", name, resp.StatusCode, resp.Header.Get("Location"))
			}
		}
		if r := refresh(in, a.c, ta.RefreshToken); r.Status != http.StatusOK {
			t.Errorf("a refused logout ended the login: %d %s", r.Status, r.Error)
		}
		a.silent(t, b, "prompt", "none")
	})
}

// TestAdminSessionDeleteSendsBackchannel: DELETE
// /admin/users/{id}/sessions/{sid} logs the session out everywhere,
// back-channel included. OpenID Foundation module (the OP side):
// oidcc-backchannel-rp-initiated-logout's logout token checks.
func TestAdminSessionDeleteSendsBackchannel(t *testing.T) {
	forEachStore(t, func(t *testing.T, storeArgs []string) {
		in := start(t, "", storeArgs...)
		ra := newLogoutReceiver(t, 0, 0)
		a := newLogoutClient(t, in, "app-a", ra)
		u := in.createUser("ann", "password-of-ann")
		b := browser(t)
		ta := a.exchange(t, a.login(t, b, "ann", "password-of-ann"))
		sid := claimsOf(t, ta.IDToken).SID
		start := time.Now()
		if st := in.admin(http.MethodDelete, "/admin/users/"+u.ID+"/sessions/"+sid, nil, nil); st != http.StatusNoContent {
			t.Fatalf("delete session: %d", st)
		}
		got := ra.await(t, 2*time.Second-time.Since(start), 1)
		checkLogoutToken(t, in, got[0], a.c.ClientID, u.ID, sid)
		sessionDead(t, b, map[*ssoClient]tokenResponse{&a: ta})
	})
}

// TestBackchannelRetriedNeverBlocks: a receiver that answers slowly with
// 503 does not delay the user's logout; the token is retried (same jti)
// until the receiver takes it.
func TestBackchannelRetriedNeverBlocks(t *testing.T) {
	forEachStore(t, func(t *testing.T, storeArgs []string) {
		in := start(t, "", storeArgs...)
		ra := newLogoutReceiver(t, 1, 1500*time.Millisecond)
		a := newLogoutClient(t, in, "app-a", ra)
		u := in.createUser("ann", "password-of-ann")
		b := browser(t)
		ta := a.exchange(t, a.login(t, b, "ann", "password-of-ann"))
		sid := claimsOf(t, ta.IDToken).SID
		start := time.Now()
		resp, _ := get(t, b, in.Public.URL+"/oauth2/logout?"+url.Values{"id_token_hint": {ta.IDToken}}.Encode())
		if took := time.Since(start); resp.StatusCode != http.StatusOK || took > time.Second {
			t.Fatalf("logout with a slow receiver: %d in %v; want the signed-out page at once", resp.StatusCode, took)
		}
		got := ra.await(t, 8*time.Second, 1)
		if _, hits := ra.tokens(); hits < 2 {
			t.Errorf("receiver hit %d times; want a retry after the 503", hits)
		}
		checkLogoutToken(t, in, got[0], a.c.ClientID, u.ID, sid)
	})
}

// newFrontchannelClient is an SSO client with a frontchannel_logout_uri
// (with iss and sid when session is set) and a post-logout redirect URI.
func newFrontchannelClient(in *instance, name, frontURI string, session bool) ssoClient {
	redirect := "http://127.0.0.1:9999/" + name + "/cb"
	c := in.createClient(map[string]any{"client_name": name, "grant_types": []string{"authorization_code", "refresh_token"},
		"redirect_uris": []string{redirect}, "post_logout_redirect_uris": []string{"http://127.0.0.1:9999/" + name + "/bye"},
		"scope": "openid profile offline_access", "skip_consent": true,
		"frontchannel_logout_uri": frontURI, "frontchannel_logout_session_required": session})
	return ssoClient{in: in, c: c, redirect: redirect}
}

var iframeSrc = regexp.MustCompile(`<iframe class="frontchannel" src="([^"]+)"`)

// frames are the front-channel iframes of a signed-out page.
func frames(page string) []string {
	var out []string
	for _, m := range iframeSrc.FindAllStringSubmatch(page, -1) {
		out = append(out, html.UnescapeString(m[1]))
	}
	return out
}

// TestFrontchannelLogout: logging out (with id_token_hint, and by the
// confirmation page) renders the signed-out page with one hidden iframe
// per client of the session that registered a frontchannel_logout_uri —
// with iss and sid for the one that asked (Front-Channel Logout 1.0 §2,
// §4) — a CSP whose frame-src names exactly their origins, and a
// scriptless continuation (meta refresh, a link) plus the bounded wait of
// /ui/logout.js (script-src 'self', nothing inline) to the
// post_logout_redirect_uri with state. A client not in the session gets
// no iframe. Module: oidcc-frontchannel-rp-initiated-logout.
func TestFrontchannelLogout(t *testing.T) {
	forEachStore(t, func(t *testing.T, storeArgs []string) {
		in := start(t, "", storeArgs...)
		withSID := newFrontchannelClient(in, "fc-sid", "https://rp-one.example:8443/fc?tenant=7", true)
		plain := newFrontchannelClient(in, "fc-plain", "http://127.0.0.1:9998/fc", false)
		newFrontchannelClient(in, "fc-absent", "https://rp-absent.example/fc", true) // never in the session
		noFront := newLogoutClient(t, in, "no-front", nil)
		in.createUser("ann", "password-of-ann")

		for _, confirm := range []bool{false, true} {
			b := browser(t)
			ta := withSID.exchange(t, withSID.login(t, b, "ann", "password-of-ann"))
			plain.exchange(t, plain.silent(t, b))
			noFront.exchange(t, noFront.silent(t, b))
			sid := claimsOf(t, ta.IDToken).SID

			endpoint := in.Public.URL + "/oauth2/logout"
			q := url.Values{"id_token_hint": {ta.IDToken}, "post_logout_redirect_uri": {withSID.bye()}, "state": {"s&1"}}
			if confirm { // no hint: the confirmation page, then decision=logout
				q.Del("id_token_hint")
				q.Set("client_id", withSID.c.ClientID)
			}
			resp, page := get(t, b, endpoint+"?"+q.Encode())
			if confirm {
				resp, page = post(t, b, endpoint, url.Values{"request": {html.UnescapeString(formField(t, page))}, "decision": {"logout"}})
			}
			if resp.StatusCode != http.StatusOK || !strings.Contains(page, "You are signed out") {
				t.Fatalf("confirm=%v: logout answered %d %q; want the signed-out page", confirm, resp.StatusCode, resp.Header.Get("Location"))
			}
			sessionCookieGone(t, resp)
			got := frames(page)
			if len(got) != 2 {
				t.Fatalf("confirm=%v: iframes %v; want the two front-channel clients of the session", confirm, got)
			}
			one, _ := url.Parse(got[0])
			if one.Host != "rp-one.example:8443" || one.Path != "/fc" || one.Query().Get("iss") != in.Issuer ||
				one.Query().Get("sid") != sid || one.Query().Get("tenant") != "7" {
				t.Errorf("session-required iframe %s; want iss=%s sid=%s and its own query", got[0], in.Issuer, sid)
			}
			if got[1] != "http://127.0.0.1:9998/fc" {
				t.Errorf("plain iframe %s; want the URI as registered (no iss/sid)", got[1])
			}
			if strings.Contains(page, "rp-absent.example") {
				t.Error("a client that was not in the session got an iframe")
			}
			csp := resp.Header.Get("Content-Security-Policy")
			// The bounded wait's script (logout.js) is the one loosening
			// besides frame-src: script-src 'self', nothing inline.
			if !strings.Contains(csp, "; frame-src http://127.0.0.1:9998 https://rp-one.example:8443; script-src 'self'") ||
				strings.Contains(csp, "rp-absent") || strings.Contains(csp, "unsafe") || !strings.Contains(csp, "default-src 'none'") {
				t.Errorf("signed-out CSP %q; want frame-src with exactly the two origins, script-src 'self' and nothing else loosened", csp)
			}
			back := withSID.bye() + "?" + url.Values{"state": {"s&1"}}.Encode()
			if !strings.Contains(html.UnescapeString(page), `<meta http-equiv="refresh" content="0;url=`+back+`">`) ||
				!strings.Contains(html.UnescapeString(page), `href="`+back+`"`) {
				t.Errorf("confirm=%v: the page does not continue to %s without script:\n%s", confirm, back, page)
			}
			if n := strings.Count(page, "<script"); n != 1 || !strings.Contains(page, `<script src="/ui/logout.js?v=`) ||
				!strings.Contains(page, `data-wait-ms="3000"`) {
				t.Errorf("confirm=%v: want exactly one script, /ui/logout.js, with a 3000 ms bound on the Continue link:\n%s", confirm, page)
			}
			withSID.loginPage(t, b)
		}
	})
}
