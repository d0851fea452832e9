package app_test

import (
	"context"
	"errors"
	"log/slog"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"

	"github.com/authd-dev/authd/internal/app"
	"github.com/authd-dev/authd/server"
)

var stylesheetLink = regexp.MustCompile(`<link rel="stylesheet" href="([^"]+)">`)

// startLogin starts an authorization for a new web client and returns the
// login page's answer. The client's redirect_uri and logo are on loopback
// port 9999.
func startLogin(t *testing.T, in *instance, extra map[string]any) (*http.Client, *http.Response, string) {
	t.Helper()
	meta := map[string]any{
		"client_name": "Web App", "grant_types": []string{"authorization_code"},
		"redirect_uris": []string{"http://127.0.0.1:9999/callback"}, "scope": "openid profile email notes:read notes:write",
	}
	for k, v := range extra {
		meta[k] = v
	}
	c := in.createClient(meta)
	q := url.Values{"response_type": {"code"}, "client_id": {c.ClientID}, "redirect_uri": {"http://127.0.0.1:9999/callback"},
		"scope": {"openid profile email notes:read notes:write"}, "code_challenge": {pkceChallenge}, "code_challenge_method": {"S256"}}
	b := browser(t)
	resp, page := get(t, b, in.Public.URL+"/oauth2/authorize?"+q.Encode())
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("login page: %d\n%s", resp.StatusCode, page)
	}
	return b, resp, page
}

// pkceChallenge is the S256 challenge of RFC 7636 Appendix B's verifier.
const pkceChallenge = "E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM"

// TestPagesStrictCSP: the pages carry no inline style or script; their
// CSP allows styles from 'self' only, the client's logo and the form's
// redirect to the registered redirect_uri, and nothing else. (Before: an
// inline <style> under style-src 'unsafe-inline'.)
func TestPagesStrictCSP(t *testing.T) {
	in := start(t, "")
	_, resp, page := startLogin(t, in, map[string]any{"logo_uri": "http://127.0.0.1:9999/logo.png",
		"policy_uri": "https://app.example/privacy", "tos_uri": "https://app.example/terms"})
	want := "default-src 'none'; style-src 'self'; img-src 'self' https: data: http://127.0.0.1:9999; " +
		"form-action 'self' http://127.0.0.1:9999; frame-ancestors 'none'; base-uri 'none'"
	if got := resp.Header.Get("Content-Security-Policy"); got != want {
		t.Errorf("CSP\n got %s\nwant %s", got, want)
	}
	if bad := regexp.MustCompile(`(?i)<style|<script|\sstyle=|\son[a-z]+=|javascript:`).FindString(page); bad != "" {
		t.Errorf("the page holds %q (inline style or script)", bad)
	}
	for _, want := range []string{`<html lang="en">`, "<title>Sign in – Web App</title>",
		`<label for="username">`, `id="username"`, `<label for="password">`, `id="password"`,
		`<img class="client-logo" src="http://127.0.0.1:9999/logo.png"`,
		`<a href="https://app.example/privacy" rel="noopener noreferrer">Privacy policy</a>`,
		`<a href="https://app.example/terms" rel="noopener noreferrer">Terms of service</a>`} {
		if !strings.Contains(page, want) {
			t.Errorf("the login page lacks %s\n%s", want, page)
		}
	}
	if resp.Header.Get("X-Content-Type-Options") != "nosniff" || resp.Header.Get("Cache-Control") != "no-store" {
		t.Errorf("headers %v", resp.Header)
	}

	// The stylesheet is served from 'self' with its type; the versioned
	// URL the page links is immutable, any other revalidates soon.
	m := stylesheetLink.FindStringSubmatch(page)
	if m == nil || !strings.HasPrefix(m[1], "/ui/authd.css?v=") {
		t.Fatalf("no stylesheet link under /ui/: %v", m)
	}
	css, body := get(t, http.DefaultClient, in.Public.URL+m[1])
	if css.StatusCode != 200 || css.Header.Get("Content-Type") != "text/css; charset=utf-8" ||
		css.Header.Get("Cache-Control") != "public, max-age=31536000, immutable" || css.Header.Get("X-Content-Type-Options") != "nosniff" ||
		!strings.Contains(body, ":focus-visible") {
		t.Fatalf("stylesheet: %d %v", css.StatusCode, css.Header)
	}
	req, _ := http.NewRequest(http.MethodGet, in.Public.URL+m[1], nil)
	req.Header.Set("If-None-Match", css.Header.Get("ETag"))
	if r, err := http.DefaultClient.Do(req); err != nil || r.StatusCode != http.StatusNotModified {
		t.Errorf("If-None-Match: %v %v", r, err)
	}
	if r, _ := get(t, http.DefaultClient, in.Public.URL+"/ui/authd.css?v=stale"); r.Header.Get("Cache-Control") != "public, max-age=300" {
		t.Errorf("unversioned stylesheet: Cache-Control %q", r.Header.Get("Cache-Control"))
	}
	for _, p := range []string{"/ui/login.html", "/ui/nope.css", "/ui/..%2Fserver.go"} {
		if r, _ := get(t, http.DefaultClient, in.Public.URL+p); r.StatusCode != http.StatusNotFound {
			t.Errorf("GET %s: %d, want 404", p, r.StatusCode)
		}
	}
}

// TestConsentDescribesScopes: the consent page says what each scope lets
// the application do: the operator's words (--scope-descriptions), which
// may reword a built-in scope, else the built-in ones; a scope without a
// description is named. (Before: the raw scope string.)
func TestConsentDescribesScopes(t *testing.T) {
	in := start(t, "", "--scope-descriptions", "notes:write=Write notes in your name,email=Know your email address")
	in.createUser("nora", "password-of-nora")
	b, _, page := startLogin(t, in, nil)
	resp, consent := post(t, b, in.Public.URL+"/oauth2/authorize/login", url.Values{"request": {formField(t, page)}, "username": {"nora"}, "password": {"password-of-nora"}})
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("consent page: %d\n%s", resp.StatusCode, consent)
	}
	for _, want := range []string{
		"<li>Confirm who you are</li>",
		"<li>See your name, username and profile details</li>",
		"<li>Know your email address</li>",
		"<li>Use <code>notes:read</code></li>",
		"<li>Write notes in your name</li>",
		`<h1 id="title">Allow <strong>Web App</strong> to use your account?</h1>`,
		`name="decision" value="allow"`, `name="decision" value="deny"`,
	} {
		if !strings.Contains(consent, want) {
			t.Errorf("the consent page lacks %s\n%s", want, consent)
		}
	}
}

// TestErrorPageInWords: an error that cannot go back to the client is
// explained to the person, with the OAuth code in small print for
// support. (Before: the raw error description under "Sign-in failed".)
func TestErrorPageInWords(t *testing.T) {
	in := start(t, "")
	c := in.createClient(map[string]any{"client_name": "Web App", "grant_types": []string{"authorization_code"},
		"redirect_uris": []string{"https://app.example/cb"}, "scope": "openid"})
	for name, q := range map[string]url.Values{
		"unknown client":        {"response_type": {"code"}, "client_id": {"no-such-app"}, "redirect_uri": {"https://app.example/cb"}},
		"unregistered redirect": {"response_type": {"code"}, "client_id": {c.ClientID}, "redirect_uri": {"https://evil.example/cb"}},
	} {
		resp, page := get(t, browser(t), in.Public.URL+"/oauth2/authorize?"+q.Encode())
		if resp.StatusCode != http.StatusBadRequest {
			t.Errorf("%s: status %d", name, resp.StatusCode)
		}
		for _, want := range []string{`<h1 id="title">This sign-in link doesn’t work</h1>`, `<div class="alert" role="alert">`,
			"The application sent a sign-in request that could not be accepted.", "For support: error <code>invalid_request</code>"} {
			if !strings.Contains(page, want) {
				t.Errorf("%s: the error page lacks %s\n%s", name, want, page)
			}
		}
		if csp := resp.Header.Get("Content-Security-Policy"); !strings.Contains(csp, "form-action 'self';") {
			t.Errorf("%s: the error page's CSP %q allows forms to go elsewhere", name, csp)
		}
	}

	// The flow's own errors get their own words: an expired (or forged)
	// page, and a sign-in posted from another browser.
	b, _, page := startLogin(t, in, nil)
	for name, tc := range map[string]struct {
		c      *http.Client
		form   url.Values
		status int
		title  string
		code   string
	}{
		"expired": {b, url.Values{"request": {"forged"}, "username": {"x"}, "password": {"y"}}, http.StatusBadRequest,
			"This sign-in page has expired", "invalid_request"},
		"other browser": {browser(t), url.Values{"request": {formField(t, page)}, "username": {"x"}, "password": {"y"}}, http.StatusForbidden,
			"Finish signing in where you started", "access_denied"},
	} {
		resp, body := post(t, tc.c, in.Public.URL+"/oauth2/authorize/login", tc.form)
		if resp.StatusCode != tc.status || !strings.Contains(body, `<h1 id="title">`+tc.title+`</h1>`) ||
			!strings.Contains(body, "For support: error <code>"+tc.code+"</code>") {
			t.Errorf("%s: %d\n%s", name, resp.StatusCode, body)
		}
	}
}

// writeUIDir writes files into a new directory.
func writeUIDir(t *testing.T, files map[string]string) string {
	t.Helper()
	dir := t.TempDir()
	for name, body := range files {
		if strings.HasSuffix(name, "/") {
			if err := os.Mkdir(filepath.Join(dir, name), 0o755); err != nil {
				t.Fatal(err)
			}
			continue
		}
		if err := os.WriteFile(filepath.Join(dir, name), []byte(body), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	return dir
}

const operatorLogin = `{{define "content"}}<h1 id="title">Welcome to Example Corp</h1>
<form method="post" action="{{.Action}}"><input type="hidden" name="request" value="{{.Request}}">
<label for="u">Employee id</label><input id="u" name="username" value="{{.Username}}">
<label for="p">Passphrase</label><input id="p" type="password" name="password">
<button type="submit">Go</button></form>{{end}}`

// TestUIDir: an operator's directory replaces a template and adds a
// stylesheet and a logo, without rebuilding; the flow goes on through the
// operator's page. Its static files are served with their type and a
// sandboxing CSP.
func TestUIDir(t *testing.T) {
	dir := writeUIDir(t, map[string]string{
		"login.html": operatorLogin,
		"custom.css": ".card { border-color: #0f766e; }",
		"logo.svg":   `<svg xmlns="http://www.w3.org/2000/svg" width="80" height="20"><rect width="80" height="20" fill="#0f766e"/></svg>`,
		".DS_Store":  "ignored",
	})
	in := start(t, "", "--ui-dir", dir)
	in.createUser("olga", "password-of-olga")
	b, _, page := startLogin(t, in, nil)
	links := stylesheetLink.FindAllStringSubmatch(page, -1)
	if !strings.Contains(page, "Welcome to Example Corp") || len(links) != 2 ||
		!strings.HasPrefix(links[0][1], "/ui/authd.css?v=") || !strings.HasPrefix(links[1][1], "/ui/custom.css?v=") {
		t.Fatalf("the operator's login page, then authd.css and custom.css: %v\n%s", links, page)
	}
	logo := regexp.MustCompile(`<img class="brand" src="(/ui/logo\.svg\?v=[0-9a-f]+)" alt="">`).FindStringSubmatch(page)
	if logo == nil {
		t.Fatalf("no operator logo\n%s", page)
	}
	resp, _ := get(t, http.DefaultClient, in.Public.URL+logo[1])
	if resp.StatusCode != 200 || resp.Header.Get("Content-Type") != "image/svg+xml" || !strings.Contains(resp.Header.Get("Content-Security-Policy"), "sandbox") {
		t.Errorf("logo: %d %v", resp.StatusCode, resp.Header)
	}
	if resp, body := get(t, http.DefaultClient, in.Public.URL+links[1][1]); resp.StatusCode != 200 || !strings.Contains(body, "#0f766e") {
		t.Errorf("custom.css: %d %q", resp.StatusCode, body)
	}
	// The operator's form works: it leads to the (built-in) consent page.
	resp, consent := post(t, b, in.Public.URL+"/oauth2/authorize/login", url.Values{"request": {formField(t, page)}, "username": {"olga"}, "password": {"password-of-olga"}})
	if resp.StatusCode != http.StatusOK || !strings.Contains(consent, `name="decision" value="allow"`) || !strings.Contains(consent, "custom.css") {
		t.Errorf("after the operator's login form: %d\n%s", resp.StatusCode, consent)
	}
}

// TestUIDirCheckedAtStart: a broken operator UI stops authd at start,
// with server.ErrUIDir, instead of failing a user's sign-in later.
func TestUIDirCheckedAtStart(t *testing.T) {
	for name, files := range map[string]map[string]string{
		"template does not parse":  {"login.html": `{{define "content"}}{{.Username`},
		"template does not render": {"consent.html": `{{define "content"}}{{.NoSuchField}}{{end}}`},
		"no content template":      {"error.html": `<p>hello</p>`},
		"password input lost":      {"login.html": strings.ReplaceAll(operatorLogin, `name="password"`, `name="pw"`)},
		"allow button lost":        {"consent.html": `{{define "content"}}<form><input type="hidden" name="request" value="{{.Request}}"><button name="decision" value="deny">No</button></form>{{end}}`},
		"unknown template":         {"logout.html": `{{define "content"}}{{end}}`},
		"script file":              {"app.js": `alert(1)`},
		"subdirectory":             {"img/": ""},
	} {
		t.Run(name, func(t *testing.T) {
			dir := writeUIDir(t, files)
			cfg := loadConfig(t, "--dev", "--data-dir", t.TempDir(), "--ui-dir", dir)
			a, err := app.New(context.Background(), cfg, app.Options{Logger: slog.New(slog.DiscardHandler), Argon2: testArgon2})
			if err == nil {
				a.Close()
				t.Fatal("app.New accepted the UI directory")
			}
			if !errors.Is(err, server.ErrUIDir) {
				t.Errorf("error %v does not wrap server.ErrUIDir", err)
			}
		})
	}
}
