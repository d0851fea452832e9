package app_test

// A real browser (Debian's chromium, headless, driven over the DevTools
// protocol with github.com/chromedp/chromedp) signs in to a small relying
// party through authd's pages: the RP (golang.org/x/oauth2 + go-oidc)
// sends the browser to authorize, the test types into the login form,
// approves consent, the browser lands on the RP's callback, and the RP
// exchanges the code and verifies the ID token (nonce, at_hash). Every
// console message, uncaught exception and CSP violation fails the test.
// The error page is rendered too. With AUTHD_SCREENSHOTS=<dir> the pages'
// screenshots are written there (make screenshots: docs/screenshots).
//
// Each step is a helper on browserTab, so the SSO and logout steps of the
// sessions work slot in as further calls.

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/base64"
	"fmt"
	"html"
	"image"
	"image/color"
	"image/png"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/chromedp/cdproto/page"
	"github.com/chromedp/chromedp"
	"github.com/coreos/go-oidc/v3/oidc"
	"golang.org/x/oauth2"
)

// chromiumPath is Debian's chromium (scripts/ensure-chromium.sh installs
// it); AUTHD_CHROMIUM names another binary.
func chromiumPath(t *testing.T) string {
	t.Helper()
	p := os.Getenv("AUTHD_CHROMIUM")
	if p == "" {
		p = "/usr/bin/chromium"
	}
	if _, err := exec.LookPath(p); err != nil {
		if os.Getenv("CI") == "true" {
			t.Fatalf("no browser at %s (CI never skips the browser test; make test runs scripts/ensure-chromium.sh): %v", p, err)
		}
		t.Skipf("no browser at %s: run scripts/ensure-chromium.sh (CI=true never skips)", p)
	}
	return p
}

// startBrowser starts a headless chromium with a fresh profile and
// returns its allocator context.
func startBrowser(t *testing.T) context.Context {
	t.Helper()
	opts := []chromedp.ExecAllocatorOption{
		chromedp.ExecPath(chromiumPath(t)),
		chromedp.Headless,
		chromedp.NoSandbox,
		chromedp.DisableGPU,
		chromedp.NoFirstRun,
		chromedp.NoDefaultBrowserCheck,
		chromedp.Flag("disable-quic", true),
		chromedp.Flag("disable-background-networking", true),
		chromedp.Flag("disable-component-update", true),
		chromedp.Flag("disable-sync", true),
		chromedp.Flag("disable-features", "Translate,OptimizationHints,MediaRouter"),
		chromedp.UserDataDir(t.TempDir()),
		chromedp.WindowSize(800, 900),
	}
	ctx, cancel := chromedp.NewExecAllocator(context.Background(), opts...)
	t.Cleanup(cancel)
	return ctx
}

// cspListener reports securitypolicyviolation events to the console, where
// the tab's collector sees them. It is injected over the DevTools protocol,
// which the page's CSP does not govern; the pages themselves run no script.
const cspListener = `document.addEventListener("securitypolicyviolation", e =>
	console.error("CSP violation: " + e.violatedDirective + " blocked " + e.blockedURI + " at " + e.sourceFile + ":" + e.lineNumber));`

// browserTab is one tab, with everything the page wrote to its console.
type browserTab struct {
	t   *testing.T
	ctx context.Context

	mu       sync.Mutex
	messages []chromedp.ConsoleMessage

	shots string // where screenshots go ("" none)
}

func newTab(t *testing.T, browser context.Context, shots string) *browserTab {
	t.Helper()
	ctx, cancel := chromedp.NewContext(browser, chromedp.WithLogf(t.Logf))
	t.Cleanup(cancel)
	ctx, cancelTimeout := context.WithTimeout(ctx, 60*time.Second)
	t.Cleanup(cancelTimeout)
	tab := &browserTab{t: t, ctx: ctx, shots: shots}
	if err := chromedp.Do(ctx); err != nil { // attaches the tab
		t.Fatalf("start the browser: %v", err)
	}
	if _, err := chromedp.Call(ctx, page.AddScriptToEvaluateOnNewDocument, page.AddScriptToEvaluateOnNewDocumentParams{Source: cspListener}); err != nil {
		t.Fatalf("inject the CSP listener: %v", err)
	}
	console := chromedp.Console(ctx) // subscribes now: nothing is missed
	go func() {
		for m, err := range console {
			if err != nil {
				return
			}
			tab.mu.Lock()
			tab.messages = append(tab.messages, m)
			tab.mu.Unlock()
		}
	}()
	return tab
}

// clean fails the test on any console message, exception or CSP violation
// seen so far, except the browser's network log line for a page answered
// with the status the step expects (wantStatus, 0: none; e.g. 401 for a
// wrong password, as the contract says): Chrome logs every 4xx document.
func (b *browserTab) clean(step string, wantStatus int) {
	b.t.Helper()
	// A round trip to the tab, so that events of the step are delivered.
	if _, err := chromedp.Run(b.ctx, chromedp.Evaluate[bool]("true")); err != nil {
		b.t.Fatalf("%s: %v", step, err)
	}
	time.Sleep(50 * time.Millisecond)
	b.mu.Lock()
	defer b.mu.Unlock()
	expected := fmt.Sprintf("Failed to load resource: the server responded with a status of %d ", wantStatus)
	for _, m := range b.messages {
		if wantStatus != 0 && m.Source == "network" && strings.HasPrefix(m.Text, expected) {
			continue
		}
		b.t.Errorf("%s: console %s (%s): %s at %s:%d", step, m.Type, m.Source, m.Text, m.URL, m.Line+1)
	}
	b.messages = nil
}

func (b *browserTab) do(step string, actions ...chromedp.Action[chromedp.Void]) {
	b.t.Helper()
	if err := chromedp.Do(b.ctx, actions...); err != nil {
		b.t.Fatalf("%s: %v", step, err)
	}
}

func (b *browserTab) text(sel string) string {
	b.t.Helper()
	s, err := chromedp.Run(b.ctx, chromedp.Text(chromedp.CSS(sel)))
	if err != nil {
		b.t.Fatalf("text of %s: %v", sel, err)
	}
	return strings.TrimSpace(s)
}

func (b *browserTab) eval(expr string) string {
	b.t.Helper()
	v, err := chromedp.Run(b.ctx, chromedp.Evaluate[string](expr))
	if err != nil {
		b.t.Fatalf("evaluate %s: %v", expr, err)
	}
	return v
}

// screenshot saves the page as <name>.png in the screenshot directory.
func (b *browserTab) screenshot(name string) {
	b.t.Helper()
	if b.shots == "" {
		return
	}
	png, err := chromedp.Run(b.ctx, chromedp.FullScreenshot(100)) // 100: PNG
	if err != nil {
		b.t.Fatalf("screenshot %s: %v", name, err)
	}
	if err := os.WriteFile(filepath.Join(b.shots, name+".png"), png, 0o644); err != nil {
		b.t.Fatal(err)
	}
}

// checkPage checks what every page of authd must have: a language, a
// title, its stylesheet applied (from 'self', under the CSP), and the
// page's own CSP header as sent.
func (b *browserTab) checkPage(step, wantTitle string) {
	b.t.Helper()
	if lang := b.eval(`document.documentElement.lang`); lang != "en" {
		b.t.Errorf("%s: lang %q", step, lang)
	}
	if title := b.eval(`document.title`); !strings.HasPrefix(title, wantTitle) {
		b.t.Errorf("%s: title %q, want %q…", step, title, wantTitle)
	}
	// The stylesheet is applied: the card has its background and the
	// body is not the browser's default serif.
	if got := b.eval(`getComputedStyle(document.querySelector("main.card")).maxWidth`); got != "416px" {
		b.t.Errorf("%s: the stylesheet is not applied (main.card max-width %q)", step, got)
	}
}

// signIn types into the login form and submits it; shot names its
// screenshot ("" none).
func (b *browserTab) signIn(username, password, shot string) {
	b.t.Helper()
	b.do("login page", chromedp.WaitVisible(chromedp.ID("username")))
	b.checkPage("login page", "Sign in")
	// Focus starts where typing starts: the username, or the password
	// when the username is refilled.
	want := "username"
	if b.eval(`document.getElementById("username").value`) != "" {
		want = "password"
	}
	// autofocus is applied at the browser's next rendering update, which
	// can come after WaitVisible returns on a loaded machine: poll for it
	// (a generous deadline) rather than read the focus once.
	got := b.eval(`document.activeElement.id`)
	for deadline := time.Now().Add(10 * time.Second); got != want && time.Now().Before(deadline); got = b.eval(`document.activeElement.id`) {
		time.Sleep(20 * time.Millisecond)
	}
	if got != want {
		b.t.Errorf("login page: focus is on %q, want %q (10 s after the page showed)", got, want)
	}
	// Labels are tied to their inputs.
	for _, id := range []string{"username", "password"} {
		if n := b.eval(`String(document.getElementById("` + id + `").labels.length)`); n != "1" {
			b.t.Errorf("login page: input %s has %s labels", id, n)
		}
	}
	b.clean("login page", 0)
	if shot != "" {
		b.screenshot(shot)
	}
	b.do("sign in",
		chromedp.Clear(chromedp.ID("username")),
		chromedp.SendKeys(chromedp.ID("username"), username),
		chromedp.SendKeys(chromedp.ID("password"), password),
		chromedp.Click(chromedp.CSS(`button[type="submit"]`)),
	)
}

// failSignIn submits a wrong password and expects the form again, with
// the error announced (role=alert) and tied to the inputs.
func (b *browserTab) failSignIn(username, wrong string) {
	b.t.Helper()
	b.signIn(username, wrong, "login")
	b.do("wrong password", chromedp.WaitVisible(chromedp.CSS(`[role="alert"]`)))
	if msg := b.text(`[role="alert"]`); msg != "Invalid username or password." {
		b.t.Errorf("wrong password: alert %q", msg)
	}
	if got := b.eval(`document.getElementById("password").getAttribute("aria-describedby")`); got != "login-error" {
		b.t.Errorf("wrong password: the password input is not described by the error (%q)", got)
	}
	// Focus is visible: the stylesheet's :focus-visible ring.
	if ring := b.eval(`(() => { const s = getComputedStyle(document.activeElement); return s.outlineStyle + " " + s.outlineWidth })()`); ring != "solid 3px" {
		b.t.Errorf("wrong password: the focused input shows no focus ring (%q)", ring)
	}
	b.clean("wrong password", http.StatusUnauthorized)
	b.screenshot("login-error")
}

// approve checks the consent page and allows the request.
func (b *browserTab) approve(clientName string, wantScopes []string) {
	b.t.Helper()
	b.do("consent page", chromedp.WaitVisible(chromedp.CSS(`button[name="decision"][value="allow"]`)))
	b.checkPage("consent page", "Allow access?")
	if h := b.text("h1"); h != "Allow "+clientName+" to use your account?" {
		b.t.Errorf("consent page: heading %q", h)
	}
	scopes := b.eval(`[...document.querySelectorAll("ul.scopes li")].map(li => li.textContent.trim()).join("|")`)
	if scopes != strings.Join(wantScopes, "|") {
		b.t.Errorf("consent page: scopes %q, want %q", scopes, strings.Join(wantScopes, "|"))
	}
	// The client's logo is shown (and loaded: the CSP allows it) and its
	// documents are linked.
	if w := b.eval(`String(document.querySelector("img.client-logo").naturalWidth)`); w == "0" {
		b.t.Error("consent page: the client's logo did not load")
	}
	links := b.eval(`[...document.querySelectorAll(".legal a")].map(a => a.textContent + "=" + a.href).join("|")`)
	if !strings.Contains(links, "Privacy policy=https://notes.example/privacy") || !strings.Contains(links, "Terms of service=https://notes.example/terms") {
		b.t.Errorf("consent page: policy and terms links %q", links)
	}
	b.clean("consent page", 0)
	b.screenshot("consent")
	b.do("allow", chromedp.Click(chromedp.CSS(`button[name="decision"][value="allow"]`)))
}

// landOn waits for the RP's page that says who signed in.
func (b *browserTab) landOn(rp *relyingParty) rpResult {
	b.t.Helper()
	select {
	case r := <-rp.results:
		if r.err != nil {
			b.t.Fatalf("relying party: %v", r.err)
		}
		b.do("callback", chromedp.WaitVisible(chromedp.ID("signed-in")))
		if loc := b.eval(`location.origin + location.pathname`); loc != rp.srv.URL+"/callback" {
			b.t.Errorf("the browser is at %s, want the RP's callback", loc)
		}
		b.clean("callback", 0)
		return r
	case <-time.After(15 * time.Second):
		loc := b.eval(`location.href`)
		body := b.eval(`document.body.innerText`)
		b.t.Fatalf("the browser never reached the RP's callback; it is at %s:\n%s", loc, body)
		return rpResult{}
	}
}

// logout asks authd to sign out without an id_token_hint (RP-Initiated
// Logout 1.0 §2): the confirmation page, then decision=logout, then the
// RP's post_logout_redirect_uri with state.
func (b *browserTab) logout(issuer string, rp *relyingParty, clientName string) {
	b.t.Helper()
	q := "client_id=" + rp.conf.ClientID + "&post_logout_redirect_uri=" + rp.srv.URL + "/bye&state=bye-state"
	b.do("logout", chromedp.Navigate(issuer+"/oauth2/logout?"+q))
	b.do("logout page", chromedp.WaitVisible(chromedp.CSS(`button[name="decision"][value="logout"]`)))
	b.checkPage("logout page", "Sign out?")
	if p := b.text("main.card p"); !strings.Contains(p, clientName+" asks to sign you out") {
		b.t.Errorf("logout page: %q", p)
	}
	b.clean("logout page", 0)
	b.screenshot("logout")
	b.do("sign out", chromedp.Click(chromedp.CSS(`button[name="decision"][value="logout"]`)))
	b.do("signed out", chromedp.WaitVisible(chromedp.ID("signed-out")))
	if st := b.text("#state"); st != "bye-state" {
		b.t.Errorf("post-logout redirect: state %q, want bye-state", st)
	}
	b.clean("signed out", 0)
}

// showsError checks the error page: words a person understands, the
// OAuth code in small print.
func (b *browserTab) showsError(url, wantTitle, wantCode string) {
	b.t.Helper()
	b.do("error page", chromedp.Navigate(url), chromedp.WaitVisible(chromedp.CSS(`[role="alert"]`)))
	b.checkPage("error page", wantTitle)
	if h := b.text("h1"); h != wantTitle {
		b.t.Errorf("error page: heading %q, want %q", h, wantTitle)
	}
	if code := b.text(".support code"); code != wantCode {
		b.t.Errorf("error page: code %q, want %q", code, wantCode)
	}
	b.clean("error page", http.StatusBadRequest)
	b.screenshot("error")
}

// cspCanary proves that the collector sees CSP violations: an inline
// style added to the page must be refused (style-src 'self') and
// reported.
func (b *browserTab) cspCanary() {
	b.t.Helper()
	b.eval(`(() => { const s = document.createElement("style"); s.textContent = "body { color: red }"; document.head.appendChild(s); return "" })()`)
	if _, err := chromedp.Run(b.ctx, chromedp.Evaluate[bool]("true")); err != nil {
		b.t.Fatal(err)
	}
	deadline := time.Now().Add(2 * time.Second)
	for {
		b.mu.Lock()
		seen := false
		for _, m := range b.messages {
			seen = seen || strings.Contains(m.Text, "CSP violation: style-src")
		}
		if seen {
			b.messages = nil
		}
		b.mu.Unlock()
		if seen {
			break
		}
		if time.Now().After(deadline) {
			b.t.Fatal("an inline style was not reported as a CSP violation: the collector is blind")
		}
		time.Sleep(20 * time.Millisecond)
	}
	if color := b.eval(`getComputedStyle(document.body).color`); color == "rgb(255, 0, 0)" {
		b.t.Error("the inline style was applied: the page's CSP does not hold")
	}
}

// relyingParty is a web app that signs its users in with authd: it starts
// the flow with state, nonce and PKCE and, on the callback, exchanges the
// code and verifies the ID token with go-oidc.
type relyingParty struct {
	t        *testing.T
	srv      *httptest.Server
	issuer   string
	conf     oauth2.Config
	provider *oidc.Provider
	results  chan rpResult

	mu      sync.Mutex
	pending map[string][2]string // state → nonce, PKCE verifier
}

type rpResult struct {
	idToken *oidc.IDToken
	claims  map[string]any
	err     error
}

// newRelyingParty starts the RP's server (its URL is needed to register
// the client); connect finishes it once the client exists.
func newRelyingParty(t *testing.T) *relyingParty {
	rp := &relyingParty{t: t, results: make(chan rpResult, 4), pending: map[string][2]string{}}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	mux := http.NewServeMux()
	mux.HandleFunc("GET /start", rp.start)
	mux.HandleFunc("GET /callback", rp.callback)
	mux.HandleFunc("GET /bye", func(w http.ResponseWriter, r *http.Request) { // post_logout_redirect_uri
		w.Header().Set("Content-Type", "text/html; charset=utf-8")
		fmt.Fprintf(w, `<!doctype html><html lang="en"><head><link rel="icon" href="data:,"><title>RP</title></head><body><h1 id="signed-out">Signed out</h1><p id="state">%s</p></body></html>`, html.EscapeString(r.URL.Query().Get("state")))
	})
	mux.HandleFunc("GET /logo.png", func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "image/png")
		w.Write(logoPNG())
	})
	rp.srv = &httptest.Server{Listener: ln, Config: &http.Server{Handler: mux}}
	rp.srv.Start()
	t.Cleanup(rp.srv.Close)
	return rp
}

func (rp *relyingParty) connect(issuer string, c registeredClient, scopes []string) {
	rp.t.Helper()
	p, err := oidc.NewProvider(context.Background(), issuer)
	if err != nil {
		rp.t.Fatalf("go-oidc discovery: %v", err)
	}
	rp.issuer, rp.provider = issuer, p
	rp.conf = oauth2.Config{ClientID: c.ClientID, ClientSecret: c.ClientSecret, Endpoint: p.Endpoint(),
		RedirectURL: rp.srv.URL + "/callback", Scopes: scopes}
}

func randomString() string {
	b := make([]byte, 16)
	rand.Read(b)
	return base64.RawURLEncoding.EncodeToString(b)
}

func (rp *relyingParty) start(w http.ResponseWriter, r *http.Request) {
	state, nonce, verifier := randomString(), randomString(), oauth2.GenerateVerifier()
	rp.mu.Lock()
	rp.pending[state] = [2]string{nonce, verifier}
	rp.mu.Unlock()
	http.Redirect(w, r, rp.conf.AuthCodeURL(state, oauth2.S256ChallengeOption(verifier), oidc.Nonce(nonce)), http.StatusFound)
}

func (rp *relyingParty) callback(w http.ResponseWriter, r *http.Request) {
	res := rp.finish(r)
	rp.results <- res
	w.Header().Set("Content-Type", "text/html; charset=utf-8")
	if res.err != nil {
		w.WriteHeader(http.StatusBadRequest)
		fmt.Fprintf(w, `<!doctype html><html lang="en"><head><link rel="icon" href="data:,"><title>RP error</title></head><body><p id="rp-error">%s</p></body></html>`, html.EscapeString(res.err.Error()))
		return
	}
	fmt.Fprintf(w, `<!doctype html><html lang="en"><head><link rel="icon" href="data:,"><title>RP</title></head><body><h1 id="signed-in">Signed in as %s</h1></body></html>`, html.EscapeString(res.idToken.Subject))
}

// finish is the RP's side of the callback: state, iss (RFC 9207 §2.4),
// the code exchange with the PKCE verifier, then the ID token: signature,
// iss, aud, exp (go-oidc), nonce (OIDC Core §3.1.3.7) and at_hash
// (§3.1.3.8).
func (rp *relyingParty) finish(r *http.Request) rpResult {
	q := r.URL.Query()
	rp.mu.Lock()
	p, ok := rp.pending[q.Get("state")]
	delete(rp.pending, q.Get("state"))
	rp.mu.Unlock()
	switch {
	case !ok:
		return rpResult{err: fmt.Errorf("unknown state %q (query %s)", q.Get("state"), r.URL.RawQuery)}
	case q.Get("error") != "":
		return rpResult{err: fmt.Errorf("authorization error %s: %s", q.Get("error"), q.Get("error_description"))}
	case q.Get("iss") != rp.issuer:
		return rpResult{err: fmt.Errorf("iss %q, want %q", q.Get("iss"), rp.issuer)}
	}
	ctx := r.Context()
	tok, err := rp.conf.Exchange(ctx, q.Get("code"), oauth2.VerifierOption(p[1]))
	if err != nil {
		return rpResult{err: fmt.Errorf("code exchange: %w", err)}
	}
	raw, _ := tok.Extra("id_token").(string)
	idt, err := rp.provider.Verifier(&oidc.Config{ClientID: rp.conf.ClientID}).Verify(ctx, raw)
	if err != nil {
		return rpResult{err: fmt.Errorf("ID token: %w", err)}
	}
	if idt.Nonce != p[0] {
		return rpResult{err: fmt.Errorf("nonce %q, want %q", idt.Nonce, p[0])}
	}
	if idt.AccessTokenHash == "" {
		return rpResult{err: fmt.Errorf("the ID token has no at_hash")}
	}
	if err := idt.VerifyAccessToken(tok.AccessToken); err != nil {
		return rpResult{err: fmt.Errorf("at_hash: %w", err)}
	}
	claims := map[string]any{}
	if err := idt.Claims(&claims); err != nil {
		return rpResult{err: err}
	}
	return rpResult{idToken: idt, claims: claims}
}

// logoPNG is a small generated logo (a blue square with a white bar).
func logoPNG() []byte {
	img := image.NewRGBA(image.Rect(0, 0, 64, 64))
	for y := range 64 {
		for x := range 64 {
			c := color.RGBA{0x0f, 0x76, 0x6e, 0xff}
			if y > 26 && y < 38 && x > 12 && x < 52 {
				c = color.RGBA{0xff, 0xff, 0xff, 0xff}
			}
			img.Set(x, y, c)
		}
	}
	var buf bytes.Buffer
	png.Encode(&buf, img)
	return buf.Bytes()
}

// screenshotDir is where the test writes screenshots: AUTHD_SCREENSHOTS
// (relative to the repository root), else a temporary directory, so the
// screenshot step runs (and is checked) in every run.
func screenshotDir(t *testing.T) string {
	dir := os.Getenv("AUTHD_SCREENSHOTS")
	if dir == "" {
		return t.TempDir()
	}
	if !filepath.IsAbs(dir) {
		dir = filepath.Join("..", "..", dir) // the test runs in internal/app
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	return dir
}

// TestBrowserSignIn is the OpenID Connect code flow in a real browser on
// each store: login (a wrong password first), consent, the RP's callback
// with a verified ID token; then the error page of an unknown client.
// OpenID Foundation Basic OP modules covered: oidcc-server (code flow
// end to end), oidcc-ensure-request-with-valid-pkce-succeeds,
// oidcc-ensure-redirect-uri-in-authorization-request (the error page).
func TestBrowserSignIn(t *testing.T) {
	browser := startBrowser(t)
	shots := screenshotDir(t)
	for name, args := range backends(t) {
		t.Run(name, func(t *testing.T) {
			in := start(t, "", args(t)...)
			rp := newRelyingParty(t)
			c := in.createClient(map[string]any{
				"client_name": "Acme Notes", "grant_types": []string{"authorization_code"},
				"redirect_uris": []string{rp.srv.URL + "/callback"}, "scope": "openid profile email offline_access notes:write",
				"logo_uri": rp.srv.URL + "/logo.png", "policy_uri": "https://notes.example/privacy", "tos_uri": "https://notes.example/terms",
				"post_logout_redirect_uris": []string{rp.srv.URL + "/bye"},
			})
			u := in.createUser("paula", "password-of-paula")
			rp.connect(in.Issuer, c, []string{oidc.ScopeOpenID, "profile", "email", "notes:write"})

			dir := ""
			if name == "bolt" { // one set of screenshots
				dir = shots
			}
			tab := newTab(t, browser, dir)
			tab.do("start", chromedp.Navigate(rp.srv.URL+"/start"))
			tab.failSignIn("paula", "not-her-password")
			tab.signIn("paula", "password-of-paula", "")
			tab.approve("Acme Notes", []string{
				"Confirm who you are",
				"See your name, username and profile details",
				"See your email address",
				"Use notes:write",
			})
			got := tab.landOn(rp)
			if got.idToken.Subject != u.ID || got.claims["preferred_username"] != "paula" {
				t.Errorf("ID token sub %q claims %v; want the user %s", got.idToken.Subject, got.claims, u.ID)
			}

			// SSO: a second (first-party) client signs in silently in the
			// session; logging out at the first ends it for both.
			rp2 := newRelyingParty(t)
			c2 := in.createClient(map[string]any{"client_name": "Acme Tasks", "grant_types": []string{"authorization_code"},
				"redirect_uris": []string{rp2.srv.URL + "/callback"}, "scope": "openid", "skip_consent": true})
			rp2.connect(in.Issuer, c2, []string{oidc.ScopeOpenID})
			tab.do("second client", chromedp.Navigate(rp2.srv.URL+"/start"))
			if got2 := tab.landOn(rp2); got2.idToken.Subject != u.ID || got2.claims["sid"] != got.claims["sid"] {
				t.Errorf("silent sign-in of the second client: sub %q sid %v; want %s in sid %v", got2.idToken.Subject, got2.claims["sid"], u.ID, got.claims["sid"])
			}
			tab.logout(in.Issuer, rp, "Acme Notes")
			tab.do("second client after logout", chromedp.Navigate(rp2.srv.URL+"/start"))
			tab.do("login page after logout", chromedp.WaitVisible(chromedp.ID("username")))
			tab.clean("login page after logout", 0)

			tab.showsError(in.Issuer+"/oauth2/authorize?response_type=code&client_id=no-such-app&redirect_uri=https%3A%2F%2Fapp.example%2Fcb&scope=openid",
				"This sign-in link doesn’t work", "invalid_request")
			tab.cspCanary()
		})
	}
}
