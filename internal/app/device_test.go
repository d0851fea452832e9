package app_test

import (
	"context"
	"errors"
	"net/http"
	"net/url"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/coreos/go-oidc/v3/oidc"
	"golang.org/x/oauth2"
)

// deviceClient is a registered client of the device grant and its
// golang.org/x/oauth2 configuration.
type deviceClient struct {
	c    registeredClient
	conf oauth2.Config
}

// newDeviceClient registers a public client with the device grant (and
// refresh_token) for scope.
func newDeviceClient(t *testing.T, in *instance, name, scope string, extra map[string]any) deviceClient {
	t.Helper()
	meta := map[string]any{"client_name": name, "token_endpoint_auth_method": "none",
		"grant_types": []string{"urn:ietf:params:oauth:grant-type:device_code", "refresh_token"}, "scope": scope}
	for k, v := range extra {
		meta[k] = v
	}
	c := in.createClient(meta)
	return deviceClient{c: c, conf: oauth2.Config{ClientID: c.ClientID, Scopes: strings.Fields(scope), Endpoint: oauth2.Endpoint{
		DeviceAuthURL: in.Public.URL + "/oauth2/device_authorization", TokenURL: in.Public.URL + "/oauth2/token",
		AuthStyle: oauth2.AuthStyleInParams}}}
}

// deviceAuth asks for codes with x/oauth2's DeviceAuth.
func (dc deviceClient) deviceAuth(t *testing.T) *oauth2.DeviceAuthResponse {
	t.Helper()
	da, err := dc.conf.DeviceAuth(context.Background())
	if err != nil {
		t.Fatalf("DeviceAuth: %v", err)
	}
	return da
}

// poll is one device access token request, answered raw.
func (dc deviceClient) poll(in *instance, deviceCode string) tokenResponse {
	return in.token("", "", url.Values{"grant_type": {"urn:ietf:params:oauth:grant-type:device_code"},
		"device_code": {deviceCode}, "client_id": {dc.c.ClientID}})
}

// verifyPage is the verification page of in (the issuer of a replica
// test is not its listener).
func verifyPage(in *instance, userCode string) string {
	return in.Public.URL + "/device?" + url.Values{"user_code": {userCode}}.Encode()
}

var userCodeInput = regexp.MustCompile(`name="user_code" value="([^"]*)"`)

// enterCode opens the verification page with code prefilled and submits
// it, returning the page that follows.
func enterCode(t *testing.T, in *instance, b *http.Client, code string) (*http.Response, string) {
	t.Helper()
	resp, page := get(t, b, verifyPage(in, code))
	m := userCodeInput.FindStringSubmatch(page)
	if resp.StatusCode != 200 || m == nil || m[1] != code {
		t.Fatalf("verification page: %d, user_code input %v\n%s", resp.StatusCode, m, page)
	}
	return post(t, b, in.Public.URL+"/device", url.Values{"request": {formField(t, page)}, "user_code": {m[1]}})
}

// approveDevice signs in as username on the verification page and
// answers the consent page with decision; it returns the final page.
func approveDevice(t *testing.T, in *instance, b *http.Client, code, username, pw, clientName, decision string) string {
	t.Helper()
	resp, page := enterCode(t, in, b, code)
	if strings.Contains(page, `name="password"`) {
		resp, page = post(t, b, in.Public.URL+"/device", url.Values{"request": {formField(t, page)}, "username": {username}, "password": {pw}})
	}
	if resp.StatusCode != 200 || !strings.Contains(page, `name="decision" value="allow"`) {
		t.Fatalf("consent page: %d\n%s", resp.StatusCode, page)
	}
	if !strings.Contains(page, clientName) || !strings.Contains(page, code) {
		t.Errorf("the consent page names neither the client %q nor the code %q (RFC 8628 §5.4)", clientName, code)
	}
	resp, page = post(t, b, in.Public.URL+"/device", url.Values{"request": {formField(t, page)}, "decision": {decision}})
	if resp.StatusCode != 200 || !strings.Contains(page, "Return to your device") {
		t.Fatalf("after %s: %d\n%s", decision, resp.StatusCode, page)
	}
	return page
}

// TestDeviceFlow: golang.org/x/oauth2's DeviceAuth and DeviceAccessToken
// drive the device grant (RFC 8628) while the test fills the verification
// page over HTTP; the tokens are verified with go-oidc.
func TestDeviceFlow(t *testing.T) {
	forEachStore(t, func(t *testing.T, storeArgs []string) {
		in := start(t, "", append(storeArgs, "--device-poll-interval", "1s")...)
		u := in.createUser("dana", "password-of-dana", "member")
		dc := newDeviceClient(t, in, "Living Room TV", "openid profile offline_access", nil)
		ctx := context.Background()

		provider, err := oidc.NewProvider(ctx, in.Issuer)
		if err != nil {
			t.Fatal(err)
		}
		var disc struct {
			DeviceEndpoint string   `json:"device_authorization_endpoint"`
			Grants         []string `json:"grant_types_supported"`
		}
		if err := provider.Claims(&disc); err != nil {
			t.Fatal(err)
		}
		if disc.DeviceEndpoint != dc.conf.Endpoint.DeviceAuthURL || !strings.Contains(strings.Join(disc.Grants, " "), "device_code") {
			t.Errorf("discovery: %+v", disc)
		}

		da := dc.deviceAuth(t)
		if !regexp.MustCompile(`^[BCDFGHJKLMNPQRSTVWXZ]{4}-[BCDFGHJKLMNPQRSTVWXZ]{4}$`).MatchString(da.UserCode) ||
			len(da.DeviceCode) < 22 || da.VerificationURI != in.Issuer+"/device" ||
			da.VerificationURIComplete != in.Issuer+"/device?user_code="+da.UserCode || da.Interval != 1 ||
			time.Until(da.Expiry) < 9*time.Minute || time.Until(da.Expiry) > 10*time.Minute {
			t.Fatalf("device authorization response %+v", da)
		}
		type result struct {
			tok *oauth2.Token
			err error
		}
		done := make(chan result, 1)
		go func() {
			tok, err := dc.conf.DeviceAccessToken(ctx, da)
			done <- result{tok, err}
		}()

		b := browser(t)
		// The code is compared case- and dash-insensitively: the user may
		// type it in lower case without the dash.
		typed := strings.ToLower(strings.ReplaceAll(da.UserCode, "-", ""))
		_, form := get(t, b, in.Public.URL+"/device")
		resp, page := post(t, b, in.Public.URL+"/device", url.Values{"request": {formField(t, form)}, "user_code": {typed}})
		if resp.StatusCode != 200 || !strings.Contains(page, `name="password"`) || !strings.Contains(page, "Living Room TV") {
			t.Fatalf("after the code: %d\n%s", resp.StatusCode, page)
		}
		resp, page = post(t, b, in.Public.URL+"/device", url.Values{"request": {formField(t, page)}, "username": {"dana"}, "password": {"password-of-dana"}})
		if resp.StatusCode != 200 || !strings.Contains(page, `name="decision" value="allow"`) || !strings.Contains(page, da.UserCode) {
			t.Fatalf("consent page: %d\n%s", resp.StatusCode, page)
		}
		resp, page = post(t, b, in.Public.URL+"/device", url.Values{"request": {formField(t, page)}, "decision": {"allow"}})
		if resp.StatusCode != 200 || !strings.Contains(page, "all set") {
			t.Fatalf("after allow: %d\n%s", resp.StatusCode, page)
		}

		var r result
		select {
		case r = <-done:
		case <-time.After(30 * time.Second):
			t.Fatal("DeviceAccessToken did not return within 30s of the approval")
		}
		if r.err != nil {
			t.Fatalf("DeviceAccessToken: %v", r.err)
		}
		rawID, _ := r.tok.Extra("id_token").(string)
		idt, err := provider.Verifier(&oidc.Config{ClientID: dc.c.ClientID}).Verify(ctx, rawID)
		if err != nil {
			t.Fatalf("go-oidc rejected the ID token: %v", err)
		}
		if err := idt.VerifyAccessToken(r.tok.AccessToken); err != nil {
			t.Errorf("at_hash: %v", err)
		}
		if _, err := oidc.NewRemoteKeySet(ctx, in.Issuer+"/oauth2/jwks").VerifySignature(ctx, r.tok.AccessToken); err != nil {
			t.Fatalf("access token signature: %v", err)
		}
		at, id := decodeClaims(t, r.tok.AccessToken), decodeClaims(t, rawID)
		if at["sub"] != u.ID || at["client_id"] != dc.c.ClientID || at["scope"] != "openid profile offline_access" || at["sid"] == nil {
			t.Errorf("access token claims %v", at)
		}
		if id["sub"] != u.ID || id["sid"] == nil || id["sid"] == at["sid"] || id["preferred_username"] != "dana" {
			t.Errorf("ID token claims %v (its sid must be the SSO session, the access token's the login)", id)
		}
		if r.tok.RefreshToken == "" {
			t.Fatal("no refresh token for a client with the refresh_token grant")
		}
		if rt := in.token("", "", url.Values{"grant_type": {"refresh_token"}, "refresh_token": {r.tok.RefreshToken}, "client_id": {dc.c.ClientID}}); rt.Status != 200 {
			t.Errorf("refresh: %d %s", rt.Status, rt.Error)
		}
		// Tokens are issued once: the next poll with the code is invalid_grant.
		if again := dc.poll(in, da.DeviceCode); again.Status != 400 || again.Error != "invalid_grant" {
			t.Errorf("second successful poll: %d %s; want 400 invalid_grant", again.Status, again.Error)
		}
		// The user code is used up too.
		resp, page = enterCode(t, in, b, da.UserCode)
		if resp.StatusCode != 400 || !strings.Contains(page, "wrong or has expired") {
			t.Errorf("used user code: %d\n%s", resp.StatusCode, page)
		}
	})
}

// rawDeviceAuth posts a device authorization request and decodes the
// answer, success or error.
func rawDeviceAuth(t *testing.T, in *instance, form url.Values) (int, http.Header, map[string]any) {
	t.Helper()
	var out map[string]any
	status, h := doJSON(t, in.formPost("/oauth2/device_authorization", form, "", ""), "device authorization", &out)
	return status, h, out
}

// TestDeviceErrors: every polling answer of RFC 8628 §3.5 (400 JSON),
// the endpoint's client checks, wrong codes on the verification page and
// their throttle (§5.1).
func TestDeviceErrors(t *testing.T) {
	forEachStore(t, func(t *testing.T, storeArgs []string) {
		clock := newFakeClock(time.Now())
		in := startWith(t, clock.Now, "", append(storeArgs, "--device-verify-ip-burst", "3")...)
		in.createUser("dana", "password-of-dana")
		dc := newDeviceClient(t, in, "Kitchen Radio", "openid profile", nil)
		other := newDeviceClient(t, in, "Other Device", "openid", nil)

		// The endpoint: no-store, the client's grant and scope checked.
		st, h, body := rawDeviceAuth(t, in, url.Values{"client_id": {dc.c.ClientID}, "scope": {"openid"}})
		if st != 200 || h.Get("Cache-Control") != "no-store" || body["device_code"] == nil {
			t.Fatalf("device authorization: %d %v %v", st, h, body)
		}
		noGrant := in.createClient(map[string]any{"client_name": "no device", "token_endpoint_auth_method": "none",
			"grant_types": []string{"authorization_code"}, "redirect_uris": []string{"http://127.0.0.1:9/cb"}, "scope": "openid"})
		if st, _, body := rawDeviceAuth(t, in, url.Values{"client_id": {noGrant.ClientID}}); st != 400 || body["error"] != "unauthorized_client" {
			t.Errorf("client without the device grant: %d %v", st, body)
		}
		if st, _, body := rawDeviceAuth(t, in, url.Values{"client_id": {dc.c.ClientID}, "scope": {"admin"}}); st != 400 || body["error"] != "invalid_scope" {
			t.Errorf("scope beyond the client's: %d %v", st, body)
		}
		if st, _, body := rawDeviceAuth(t, in, url.Values{"client_id": {"nobody"}}); st != 401 || body["error"] != "invalid_client" {
			t.Errorf("unknown client: %d %v", st, body)
		}

		want := func(r tokenResponse, code string) {
			t.Helper()
			if r.Status != 400 || r.Error != code || r.Header.Get("Cache-Control") != "no-store" {
				t.Fatalf("poll: %d %q %q; want 400 %s, no-store", r.Status, r.Error, r.Description, code)
			}
		}
		da := dc.deviceAuth(t)
		want(dc.poll(in, da.DeviceCode), "authorization_pending")
		want(dc.poll(in, da.DeviceCode), "slow_down") // sooner than 5s
		clock.Add(6 * time.Second)
		want(dc.poll(in, da.DeviceCode), "slow_down") // the interval grew to 10s (§3.5)
		clock.Add(16 * time.Second)
		want(dc.poll(in, da.DeviceCode), "authorization_pending") // 15s now
		clock.Add(16 * time.Second)
		want(other.poll(in, da.DeviceCode), "invalid_grant") // another client's code
		want(dc.poll(in, "no-such-device-code"), "invalid_grant")
		want(dc.poll(in, da.DeviceCode), "authorization_pending") // the other client's poll did not count

		// Denied on the page → access_denied, and it stays so.
		approveDevice(t, in, browser(t), da.UserCode, "dana", "password-of-dana", "Kitchen Radio", "deny")
		clock.Add(16 * time.Second)
		want(dc.poll(in, da.DeviceCode), "access_denied")
		clock.Add(16 * time.Second)
		want(dc.poll(in, da.DeviceCode), "access_denied")

		// Expired: the device code answers expired_token, the user code is
		// refused on the page.
		late := dc.deviceAuth(t)
		clock.Add(10*time.Minute + time.Second)
		want(dc.poll(in, late.DeviceCode), "expired_token")
		b := browser(t)
		if resp, page := enterCode(t, in, b, late.UserCode); resp.StatusCode != 400 || !strings.Contains(page, "wrong or has expired") {
			t.Errorf("expired user code: %d\n%s", resp.StatusCode, page)
		}
		// Unknown codes: the page again with the error (2 more: 3 wrong
		// codes in all), then the throttle: 429 with Retry-After.
		for _, code := range []string{"BBBB-BBBB", "not a code"} {
			if resp, page := enterCode(t, in, b, code); resp.StatusCode != 400 || !strings.Contains(page, "wrong or has expired") || !strings.Contains(page, `name="user_code"`) {
				t.Errorf("wrong code %q: %d\n%s", code, resp.StatusCode, page)
			}
		}
		resp, page := enterCode(t, in, b, "CCCC-CCCC")
		if resp.StatusCode != 429 || resp.Header.Get("Retry-After") == "" || !strings.Contains(page, "Too many wrong codes") {
			t.Errorf("fourth wrong code: %d Retry-After %q\n%s", resp.StatusCode, resp.Header.Get("Retry-After"), page)
		}
		// Even a right code waits: a guesser cannot tell.
		fresh := dc.deviceAuth(t)
		if resp, _ := enterCode(t, in, b, fresh.UserCode); resp.StatusCode != 429 {
			t.Errorf("right code while throttled: %d; want 429", resp.StatusCode)
		}
		clock.Add(time.Minute)
		if resp, page := enterCode(t, in, b, fresh.UserCode); resp.StatusCode != 200 || !strings.Contains(page, `name="password"`) {
			t.Errorf("right code after the throttle refilled: %d\n%s", resp.StatusCode, page)
		}
	})
}

// TestDeviceCSRF: the verification page's form posts only from the
// browser it was shown to.
func TestDeviceCSRF(t *testing.T) {
	in := start(t, "")
	dc := newDeviceClient(t, in, "TV", "openid", nil)
	da := dc.deviceAuth(t)
	_, page := get(t, browser(t), verifyPage(in, da.UserCode))
	resp, body := post(t, browser(t), in.Public.URL+"/device", url.Values{"request": {formField(t, page)}, "user_code": {da.UserCode}})
	if resp.StatusCode != http.StatusForbidden || strings.Contains(body, `name="password"`) {
		t.Errorf("form posted from another browser: %d\n%s", resp.StatusCode, body)
	}
}

// TestDeviceSSOAndSkipConsent: a browser with an SSO session is not asked
// to sign in again; a skip_consent (first-party) client is approved
// without the consent page.
func TestDeviceSSOAndSkipConsent(t *testing.T) {
	in := start(t, "", "--device-poll-interval", "1s")
	in.createUser("dana", "password-of-dana")
	first := newDeviceClient(t, in, "TV", "openid", nil)
	b := browser(t)
	da := first.deviceAuth(t)
	approveDevice(t, in, b, da.UserCode, "dana", "password-of-dana", "TV", "allow")

	own := newDeviceClient(t, in, "Operator Console", "openid", map[string]any{"skip_consent": true})
	da2 := own.deviceAuth(t)
	resp, page := enterCode(t, in, b, da2.UserCode)
	if resp.StatusCode != 200 || !strings.Contains(page, "all set") {
		t.Fatalf("skip_consent client in a session: %d\n%s", resp.StatusCode, page)
	}
	tok, err := own.conf.DeviceAccessToken(context.Background(), da2)
	if err != nil {
		t.Fatalf("DeviceAccessToken: %v", err)
	}
	// Remembered consent does not count for a device: the first client is
	// asked again (RFC 8628 §5.4).
	da3 := first.deviceAuth(t)
	if resp, page := enterCode(t, in, b, da3.UserCode); resp.StatusCode != 200 || !strings.Contains(page, `name="decision" value="allow"`) {
		t.Errorf("second device of a consented client: %d\n%s", resp.StatusCode, page)
	}
	if id := decodeClaims(t, tok.Extra("id_token").(string)); id["sid"] == nil {
		t.Errorf("ID token without the session's sid: %v", id)
	}
}

// TestDeviceAcrossReplicas: two replicas on one Redis: the device asks and
// polls on A, the user approves on B.
func TestDeviceAcrossReplicas(t *testing.T) {
	args := append(sharedRedisArgs(t), "--device-poll-interval", "1s")
	a := start(t, "", args...)
	b := start(t, "", args...)
	a.createUser("dana", "password-of-dana")
	dc := newDeviceClient(t, a, "TV", "openid", nil)
	da := dc.deviceAuth(t)
	if r := dc.poll(a, da.DeviceCode); r.Error != "authorization_pending" {
		t.Fatalf("first poll on A: %d %s", r.Status, r.Error)
	}
	approveDevice(t, b, browser(t), da.UserCode, "dana", "password-of-dana", "TV", "allow")
	tok, err := dc.conf.DeviceAccessToken(context.Background(), da)
	if err != nil {
		var re *oauth2.RetrieveError
		errors.As(err, &re)
		t.Fatalf("DeviceAccessToken on A after approval on B: %v %+v", err, re)
	}
	if tok.AccessToken == "" {
		t.Fatal("no access token")
	}
}

// TestDeviceLogoutBeforePoll: a device approved in an SSO session that is
// logged out before the device's next poll gets no tokens — the login was
// begun in the session, and ending the session ends its logins, as for a
// code issued in it.
func TestDeviceLogoutBeforePoll(t *testing.T) {
	forEachStore(t, func(t *testing.T, storeArgs []string) {
		in := start(t, "", storeArgs...)
		u := in.createUser("dana", "password-of-dana")
		dc := newDeviceClient(t, in, "TV", "openid", nil)
		da := dc.deviceAuth(t)
		approveDevice(t, in, browser(t), da.UserCode, "dana", "password-of-dana", "TV", "allow")
		var list struct {
			Sessions []struct {
				ID string `json:"id"`
			} `json:"sessions"`
		}
		if st := in.admin(http.MethodGet, "/admin/users/"+u.ID+"/sessions", nil, &list); st != 200 || len(list.Sessions) != 1 {
			t.Fatalf("sessions: %d %+v", st, list)
		}
		if st := in.admin(http.MethodDelete, "/admin/users/"+u.ID+"/sessions/"+list.Sessions[0].ID, nil, nil); st != http.StatusNoContent {
			t.Fatalf("delete session: %d", st)
		}
		if r := dc.poll(in, da.DeviceCode); r.Status != 400 || r.Error != "invalid_grant" {
			t.Errorf("poll after the session was logged out: %d %s; want 400 invalid_grant", r.Status, r.Error)
		}
	})
}
