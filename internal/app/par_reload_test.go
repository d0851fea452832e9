package app_test

import (
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"
)

// TestPARReloadSameBrowser: RFC 9126 §4 lets the authorization server
// allow a request_uri's reuse "for a short time" by the same user agent.
// The browser that used a pushed request may reload the authorization
// URL while the request lives (its reload ticket is an HttpOnly cookie
// bound to its CSRF value) and sign in from the reloaded page; another
// browser with the same URL, the same browser after the request's
// expiry, and a ticket posted as a login form are all refused.
func TestPARReloadSameBrowser(t *testing.T) {
	forEachStore(t, func(t *testing.T, storeArgs []string) {
		clk := newFakeClock(time.Now())
		in := startWith(t, clk.Now, "", storeArgs...)
		c := codeClient(in, map[string]any{"skip_consent": true})
		in.createUser("rita", "password-of-rita")
		uri := in.pushed(c, simpleRequest())
		u := in.authorizeURL(c.ClientID, uri)

		b := browser(t)
		wantLoginPage(t, b, u)
		ticket := cookieOf(t, b, in.Public.URL+"/oauth2/authorize", "authd_par")
		if ticket == "" {
			t.Fatal("no reload ticket cookie after the first use")
		}
		clk.Add(30 * time.Second)
		page := wantLoginPage(t, b, u) // the reload
		// The URL alone is not enough.
		wantErrorPage(t, browser(t), u, "invalid_request_uri")

		// The reloaded page signs in and ends at the pushed redirect_uri
		// with the pushed state.
		resp, _ := post(t, b, in.Public.URL+"/oauth2/authorize/login",
			url.Values{"request": {formField(t, page)}, "username": {"rita"}, "password": {"password-of-rita"}})
		codeOf(t, resp, parRedirect)
		if loc, _ := url.Parse(resp.Header.Get("Location")); loc == nil || loc.Query().Get("state") != "st" {
			t.Fatalf("redirect %q; want the pushed state", resp.Header.Get("Location"))
		}

		// A ticket is no pending interaction.
		if resp, _ := post(t, b, in.Public.URL+"/oauth2/authorize/login",
			url.Values{"request": {ticket}, "username": {"rita"}, "password": {"password-of-rita"}}); resp.StatusCode < 400 {
			t.Errorf("a reload ticket posted as the login form's request: %d; want an error", resp.StatusCode)
		}

		// A ticket is for its own request_uri only: a browser holding the
		// ticket of another pushed request cannot reload this one.
		b3 := browser(t)
		wantLoginPage(t, b3, in.authorizeURL(c.ClientID, in.pushed(c, simpleRequest())))
		wantErrorPage(t, b3, u, "invalid_request_uri")

		// After the request's lifetime the reload is refused too.
		clk.Add(31 * time.Second)
		wantErrorPage(t, b, u, "invalid_request_uri")
	})
}

// cookieOf is the value of b's cookie name for u ("" for none).
func cookieOf(t *testing.T, b *http.Client, u, name string) string {
	t.Helper()
	pu, err := url.Parse(u)
	if err != nil {
		t.Fatal(err)
	}
	for _, ck := range b.Jar.Cookies(pu) {
		if strings.EqualFold(ck.Name, name) {
			return ck.Value
		}
	}
	return ""
}
