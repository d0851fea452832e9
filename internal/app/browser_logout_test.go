package app_test

// Front-channel logout (OpenID Connect Front-Channel Logout 1.0) in a
// real browser: the signed-out page's iframe must be loaded by Chromium
// itself — under the page's CSP, whose frame-src names the RP's origin —
// and the browser must then go on to the post_logout_redirect_uri with
// no script on authd's page. Reuses the tab and relying-party helpers of
// browser_test.go.

import (
	"fmt"
	"net/http"
	"net/http/httptest"
	"net/url"
	"sync/atomic"
	"testing"
	"time"

	"github.com/chromedp/chromedp"
	"github.com/coreos/go-oidc/v3/oidc"
)

// frontchannelRP is a client's frontchannel_logout_uri: a page that
// records every load (its query) and may be framed.
type frontchannelRP struct {
	srv   *httptest.Server
	loads chan url.Values
}

func newFrontchannelRP(t *testing.T) *frontchannelRP {
	f := &frontchannelRP{loads: make(chan url.Values, 8)}
	f.srv = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path != "/fc" {
			http.NotFound(w, r)
			return
		}
		f.loads <- r.URL.Query()
		// §3: the RP's logout page should not be cached.
		w.Header().Set("Cache-Control", "no-cache, no-store")
		w.Header().Set("Content-Type", "text/html; charset=utf-8")
		fmt.Fprint(w, `<!doctype html><html lang="en"><head><link rel="icon" href="data:,"><title>RP logout</title></head><body>signed out</body></html>`)
	}))
	t.Cleanup(f.srv.Close)
	return f
}

// load waits for the browser to load the front-channel URI.
func (f *frontchannelRP) load(t *testing.T) url.Values {
	t.Helper()
	select {
	case q := <-f.loads:
		return q
	case <-time.After(15 * time.Second):
		t.Fatal("the browser never loaded the frontchannel_logout_uri")
		return nil
	}
}

// TestBrowserFrontchannelLogout: sign in at an RP with a
// frontchannel_logout_uri (session required), log out through the
// confirmation page: Chromium loads the iframe with iss and sid, reports
// no CSP violation, and lands on the RP's post_logout_redirect_uri with
// state. A second logout without a redirect URI stays on the signed-out
// page (screenshot logout-frontchannel). Module:
// oidcc-frontchannel-rp-initiated-logout.
func TestBrowserFrontchannelLogout(t *testing.T) {
	browser := startBrowser(t)
	shots := screenshotDir(t)
	for name, args := range backends(t) {
		t.Run(name, func(t *testing.T) {
			in := start(t, "", args(t)...)
			rp, front := newRelyingParty(t), newFrontchannelRP(t)
			c := in.createClient(map[string]any{
				"client_name": "Acme Notes", "grant_types": []string{"authorization_code"},
				"redirect_uris": []string{rp.srv.URL + "/callback"}, "scope": "openid", "skip_consent": true,
				"post_logout_redirect_uris":            []string{rp.srv.URL + "/bye"},
				"frontchannel_logout_uri":              front.srv.URL + "/fc",
				"frontchannel_logout_session_required": true,
			})
			in.createUser("paula", "password-of-paula")
			rp.connect(in.Issuer, c, []string{oidc.ScopeOpenID})
			dir := ""
			if name == "bolt" {
				dir = shots
			}
			tab := newTab(t, browser, dir)

			signIn := func() string {
				tab.do("start", chromedp.Navigate(rp.srv.URL+"/start"))
				tab.signIn("paula", "password-of-paula", "")
				sid, _ := tab.landOn(rp).claims["sid"].(string)
				if sid == "" {
					t.Fatal("the ID token has no sid")
				}
				return sid
			}
			confirm := func(query string) {
				tab.do("logout", chromedp.Navigate(in.Issuer+"/oauth2/logout?"+query))
				tab.do("logout page", chromedp.WaitVisible(chromedp.CSS(`button[name="decision"][value="logout"]`)))
				tab.clean("logout page", 0)
				tab.do("sign out", chromedp.Click(chromedp.CSS(`button[name="decision"][value="logout"]`)))
			}
			checkLoad := func(q url.Values, sid string) {
				t.Helper()
				if q.Get("iss") != in.Issuer || q.Get("sid") != sid {
					t.Errorf("front-channel load with iss %q sid %q; want %s and the session's sid %s", q.Get("iss"), q.Get("sid"), in.Issuer, sid)
				}
			}

			// With a post_logout_redirect_uri: iframe, then the RP's page.
			sid := signIn()
			confirm("client_id=" + c.ClientID + "&post_logout_redirect_uri=" + url.QueryEscape(rp.srv.URL+"/bye") + "&state=bye-state")
			checkLoad(front.load(t), sid)
			tab.do("back at the RP", chromedp.WaitVisible(chromedp.ID("signed-out")))
			if st := tab.text("#state"); st != "bye-state" {
				t.Errorf("post-logout redirect: state %q, want bye-state", st)
			}
			tab.clean("back at the RP", 0)

			// Without one: the signed-out page stays, its iframe loaded.
			sid = signIn()
			confirm("client_id=" + c.ClientID)
			checkLoad(front.load(t), sid)
			tab.do("signed-out page", chromedp.WaitVisible(chromedp.CSS("p.signed-out")))
			tab.checkPage("signed-out page", "You are signed out")
			if n := tab.eval(`String(document.querySelectorAll("iframe.frontchannel").length)`); n != "1" {
				t.Errorf("signed-out page: %s front-channel iframes, want 1", n)
			}
			if v := tab.eval(`getComputedStyle(document.querySelector("iframe.frontchannel")).visibility`); v != "hidden" {
				t.Errorf("the front-channel iframe is visible (%s)", v)
			}
			tab.clean("signed-out page", 0)
			tab.screenshot("logout-frontchannel")
			tab.cspCanary()
		})
	}
}

// TestBrowserFrontchannelLogoutBoundedWait: Front-Channel Logout 1.0 §4
// with an RP whose frontchannel_logout_uri never answers. The user signed
// in to two RPs (the second by SSO); one's logout page loads, the
// other's hangs until the test ends. <meta http-equiv="refresh"> alone
// would wait for that iframe forever; the signed-out page's script
// (logout.js, under script-src 'self') continues after its bound, so
// Chromium reaches the post_logout_redirect_uri while the hung request is
// still open, with no console error or CSP violation.
func TestBrowserFrontchannelLogoutBoundedWait(t *testing.T) {
	const bound = 3 * time.Second // server.frontchannelWait
	browser := startBrowser(t)
	in := start(t, "")
	rp, front := newRelyingParty(t), newFrontchannelRP(t)
	rp2 := newRelyingParty(t)

	hits := make(chan struct{}, 4)
	var answered atomic.Bool
	release := make(chan struct{})
	hung := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		hits <- struct{}{}
		select { // never answers while the test runs
		case <-release:
			answered.Store(true)
		case <-r.Context().Done(): // the browser gave the iframe up
		}
	}))
	t.Cleanup(hung.Close)
	t.Cleanup(func() { close(release) }) // runs before hung.Close

	c := in.createClient(map[string]any{
		"client_name": "Acme Notes", "grant_types": []string{"authorization_code"},
		"redirect_uris": []string{rp.srv.URL + "/callback"}, "scope": "openid", "skip_consent": true,
		"post_logout_redirect_uris": []string{rp.srv.URL + "/bye"},
		"frontchannel_logout_uri":   front.srv.URL + "/fc",
	})
	c2 := in.createClient(map[string]any{
		"client_name": "Stuck App", "grant_types": []string{"authorization_code"},
		"redirect_uris": []string{rp2.srv.URL + "/callback"}, "scope": "openid", "skip_consent": true,
		"frontchannel_logout_uri": hung.URL + "/fc",
	})
	in.createUser("quinn", "password-of-quinn")
	rp.connect(in.Issuer, c, []string{oidc.ScopeOpenID})
	rp2.connect(in.Issuer, c2, []string{oidc.ScopeOpenID})
	tab := newTab(t, browser, "")

	tab.do("start", chromedp.Navigate(rp.srv.URL+"/start"))
	tab.signIn("quinn", "password-of-quinn", "")
	tab.landOn(rp)
	tab.do("second RP (SSO)", chromedp.Navigate(rp2.srv.URL+"/start"))
	tab.landOn(rp2)

	tab.do("logout", chromedp.Navigate(in.Issuer+"/oauth2/logout?client_id="+c.ClientID+
		"&post_logout_redirect_uri="+url.QueryEscape(rp.srv.URL+"/bye")+"&state=bounded"))
	tab.do("logout page", chromedp.WaitVisible(chromedp.CSS(`button[name="decision"][value="logout"]`)))
	tab.clean("logout page", 0)
	clicked := time.Now()
	tab.do("sign out", chromedp.Click(chromedp.CSS(`button[name="decision"][value="logout"]`)))
	front.load(t)
	select {
	case <-hits:
	case <-time.After(15 * time.Second):
		t.Fatal("the browser never requested the hung frontchannel_logout_uri")
	}
	tab.do("back at the RP", chromedp.WaitVisible(chromedp.ID("signed-out")))
	took := time.Since(clicked)
	if answered.Load() {
		t.Fatal("the hung logout URI answered: the test proves nothing")
	}
	if st := tab.text("#state"); st != "bounded" {
		t.Errorf("post-logout redirect: state %q, want bounded", st)
	}
	// The bound plus generous slack for a loaded machine; without the
	// script the browser would still be on the signed-out page.
	if took > bound+10*time.Second {
		t.Errorf("reached the post_logout_redirect_uri after %s; the bound is %s", took, bound)
	}
	t.Logf("post_logout_redirect_uri reached %s after the click (bound %s)", took.Round(time.Millisecond), bound)
	tab.clean("back at the RP", 0)
}
