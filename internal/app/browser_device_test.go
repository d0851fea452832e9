package app_test

// The device verification page (RFC 8628 §3.3) in a real browser: the
// device side is golang.org/x/oauth2 (DeviceAuth, DeviceAccessToken); the
// browser opens verification_uri_complete, confirms the prefilled code,
// signs in and allows; the device gets its tokens. Console messages,
// exceptions and CSP violations fail the test (browser_test.go's tab).
// With AUTHD_SCREENSHOTS the page is saved as device.png.

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"
	"golang.org/x/oauth2"
)

// TestBrowserDevice fills the device verification page in Chromium.
func TestBrowserDevice(t *testing.T) {
	browser := startBrowser(t)
	shots := screenshotDir(t)
	for name, args := range backends(t) {
		t.Run(name, func(t *testing.T) {
			in := start(t, "", append(args(t), "--device-poll-interval", "1s")...)
			in.createUser("paula", "password-of-paula")
			dc := newDeviceClient(t, in, "Living Room TV", "openid profile", nil)
			da := dc.deviceAuth(t)
			type result struct {
				tok *oauth2.Token
				err error
			}
			done := make(chan result, 1)
			go func() {
				tok, err := dc.conf.DeviceAccessToken(context.Background(), da)
				done <- result{tok, err}
			}()

			dir := ""
			if name == "bolt" { // one set of screenshots
				dir = shots
			}
			tab := newTab(t, browser, dir)
			tab.do("verification page", chromedp.Navigate(da.VerificationURIComplete), chromedp.WaitVisible(chromedp.ID("user_code")))
			tab.checkPage("verification page", "Connect a device")
			if v := tab.eval(`document.getElementById("user_code").value`); v != da.UserCode {
				t.Errorf("verification page: user_code prefilled with %q, want %q", v, da.UserCode)
			}
			if n := tab.eval(`String(document.getElementById("user_code").labels.length)`); n != "1" {
				t.Errorf("verification page: the user_code input has %s labels", n)
			}
			tab.clean("verification page", 0)
			tab.screenshot("device")
			tab.do("submit the code", chromedp.Click(chromedp.CSS(`button[type="submit"]`)))
			tab.signIn("paula", "password-of-paula", "")
			tab.do("consent page", chromedp.WaitVisible(chromedp.CSS(`button[name="decision"][value="allow"]`)))
			tab.checkPage("consent page", "Allow access?")
			if h := tab.text("h1"); h != "Allow Living Room TV to use your account?" {
				t.Errorf("consent page: heading %q", h)
			}
			if note := tab.text(`[role="note"]`); !strings.Contains(note, da.UserCode) {
				t.Errorf("consent page: the device's code is not shown (%q)", note)
			}
			tab.clean("consent page", 0)
			tab.do("allow", chromedp.Click(chromedp.CSS(`button[name="decision"][value="allow"]`)),
				chromedp.WaitVisible(chromedp.CSS(`body.page-device-done .user-code`)))
			tab.checkPage("done page", "Return to your device")
			if h := tab.text("h1"); h != "You’re all set" {
				t.Errorf("done page: heading %q", h)
			}
			tab.clean("done page", 0)

			select {
			case r := <-done:
				if r.err != nil {
					t.Fatalf("DeviceAccessToken: %v", r.err)
				}
				if id, _ := r.tok.Extra("id_token").(string); id == "" || r.tok.AccessToken == "" {
					t.Errorf("tokens %+v", r.tok)
				}
			case <-time.After(30 * time.Second):
				t.Fatal("DeviceAccessToken did not return within 30s of the approval")
			}
			tab.cspCanary()
		})
	}
}
