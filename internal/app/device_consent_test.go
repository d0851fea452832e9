package app_test

import (
	"context"
	"net/http"
	"net/url"
	"testing"

	"golang.org/x/oauth2"
)

// TestDeviceApprovalIsNotRememberedConsent: approving a device stores no
// remembered consent (RFC 8628 §5.4: a phished approval must not become
// standing consent), so the same client's browser code flow in the same
// SSO session still shows the consent page, and prompt=none is
// consent_required; the device's login is nevertheless ended by DELETE
// /admin/users/{id}/consents/{client_id}.
func TestDeviceApprovalIsNotRememberedConsent(t *testing.T) {
	forEachStore(t, func(t *testing.T, storeArgs []string) {
		in := start(t, "", append(storeArgs, "--device-poll-interval", "1s")...)
		u := in.createUser("dion", "password-of-dion")
		const redirect = "http://127.0.0.1:9999/cb"
		r := newRP(t, in, "Smart TV App", redirect, "openid offline_access", map[string]any{
			"grant_types":                []string{"authorization_code", "refresh_token", "urn:ietf:params:oauth:grant-type:device_code"},
			"token_endpoint_auth_method": "none"}) // a public app, as TV apps are
		pkce := []string{"code_challenge", oauth2.S256ChallengeFromVerifier(oauth2.GenerateVerifier()), "code_challenge_method", "S256"}
		conf := r.conf
		conf.Endpoint.DeviceAuthURL = in.Public.URL + "/oauth2/device_authorization"
		conf.Scopes = []string{"openid", "offline_access"}
		conf.Endpoint.AuthStyle = oauth2.AuthStyleInParams

		ctx := context.Background()
		da, err := conf.DeviceAuth(ctx)
		if err != nil {
			t.Fatalf("DeviceAuth: %v", err)
		}
		b := browser(t)
		approveDevice(t, in, b, da.UserCode, "dion", "password-of-dion", "Smart TV App", "allow")
		tok, err := conf.DeviceAccessToken(ctx, da)
		if err != nil {
			t.Fatalf("DeviceAccessToken: %v", err)
		}

		for _, c := range in.consents(u.ID).Consents {
			if c.ClientID == r.c.ClientID {
				t.Fatalf("the device approval was stored as remembered consent: %+v", c)
			}
		}
		// The same browser, signed in by the device approval: the code
		// flow of the same client asks for consent.
		if resp, page := get(t, b, r.authURL("openid", pkce...)); !isConsentPage(resp, page) {
			t.Fatalf("code flow after a device approval: %d %s\n%s", resp.StatusCode, resp.Header.Get("Location"), page)
		}
		resp, _ := get(t, b, r.authURL("openid", append([]string{"prompt", "none"}, pkce...)...))
		loc, _ := url.Parse(resp.Header.Get("Location"))
		if resp.StatusCode/100 != 3 || loc == nil || loc.Query().Get("error") != "consent_required" {
			t.Fatalf("prompt=none after a device approval: %d %q; want a redirect with consent_required", resp.StatusCode, resp.Header.Get("Location"))
		}

		// Withdrawing "consent" still ends the device's login.
		if st := in.admin(http.MethodDelete, "/admin/users/"+u.ID+"/consents/"+r.c.ClientID, nil, nil); st != http.StatusNoContent {
			t.Fatalf("DELETE consent of the device client: %d, want 204", st)
		}
		if _, err := conf.TokenSource(ctx, &oauth2.Token{RefreshToken: tok.RefreshToken}).Token(); err == nil {
			t.Fatal("the device's refresh token works after its consent was withdrawn")
		}
	})
}
