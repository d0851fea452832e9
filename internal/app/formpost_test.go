package app_test

import (
	"context"
	"crypto/sha256"
	"encoding/base64"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"testing"

	"github.com/coreos/go-oidc/v3/oidc"
	"golang.org/x/net/html"
)

// postedForm is a form_post page as a browser sees it.
type postedForm struct {
	Action string
	Fields url.Values
	Script string // the text of the page's one script
}

// parseFormPost parses an HTML form_post page with golang.org/x/net/html.
func parseFormPost(t *testing.T, page string) postedForm {
	t.Helper()
	doc, err := html.Parse(strings.NewReader(page))
	if err != nil {
		t.Fatal(err)
	}
	f := postedForm{Fields: url.Values{}}
	forms, scripts := 0, 0
	var walk func(n *html.Node)
	walk = func(n *html.Node) {
		if n.Type == html.ElementNode {
			attr := map[string]string{}
			for _, a := range n.Attr {
				attr[a.Key] = a.Val
			}
			switch n.Data {
			case "form":
				forms++
				f.Action = attr["action"]
				if !strings.EqualFold(attr["method"], "post") {
					t.Errorf("form method %q; want post", attr["method"])
				}
			case "input":
				if attr["type"] == "hidden" {
					f.Fields.Add(attr["name"], attr["value"])
				}
			case "script":
				scripts++
				if n.FirstChild != nil {
					f.Script = n.FirstChild.Data
				}
			}
		}
		for c := n.FirstChild; c != nil; c = c.NextSibling {
			walk(c)
		}
	}
	walk(doc)
	if forms != 1 || scripts != 1 {
		t.Fatalf("page has %d forms and %d scripts; want one of each\n%s", forms, scripts, page)
	}
	return f
}

// checkFormPostCSP: the page's CSP allows only its own script, by hash,
// and the form only to the redirect_uri.
func checkFormPostCSP(t *testing.T, resp *http.Response, f postedForm, redirect string) {
	t.Helper()
	csp := resp.Header.Get("Content-Security-Policy")
	sum := sha256.Sum256([]byte(f.Script))
	hash := "'sha256-" + base64.StdEncoding.EncodeToString(sum[:]) + "'"
	for _, want := range []string{"default-src 'none'", "script-src " + hash, "form-action " + redirect, "frame-ancestors 'none'"} {
		if !strings.Contains(csp, want) {
			t.Errorf("CSP %q lacks %q", csp, want)
		}
	}
	if strings.Contains(csp, "unsafe-inline") {
		t.Errorf("CSP %q allows inline code", csp)
	}
}

// TestFormPostResponseMode is the OpenID Foundation's
// oidcc-response-mode-form-post: with response_mode=form_post the code
// (and state, iss) comes back as an auto-submitting form that the test
// posts, as a browser would, to a relying party that exchanges the code
// with x/oauth2 and verifies the ID token with go-oidc. Errors of such a
// request are posted too.
func TestFormPostResponseMode(t *testing.T) {
	forEachStore(t, func(t *testing.T, storeArgs []string) {
		in := start(t, "", storeArgs...)
		ctx := context.Background()
		got := make(chan url.Values, 1)
		rpSrv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			if r.Method != http.MethodPost || r.Header.Get("Content-Type") != "application/x-www-form-urlencoded" {
				t.Errorf("relying party got %s %q", r.Method, r.Header.Get("Content-Type"))
			}
			r.ParseForm()
			got <- r.PostForm
		}))
		defer rpSrv.Close()
		redirect := rpSrv.URL + "/cb"
		web := newRP(t, in, "Web", redirect, "openid", nil)
		in.createUser("fay", "password-of-fay")
		b := browser(t)

		resp, page := signIn(t, in, b, web.authURL("openid", "response_mode", "form_post", "nonce", "n-1"), "fay", "password-of-fay")
		if !isConsentPage(resp, page) {
			t.Fatalf("%d; want the consent page", resp.StatusCode)
		}
		resp, page = consent(t, in, b, page, "allow")
		if resp.StatusCode != http.StatusOK || resp.Header.Get("Location") != "" {
			t.Fatalf("form_post answer: %d %q; want a 200 page, no redirect", resp.StatusCode, resp.Header.Get("Location"))
		}
		f := parseFormPost(t, page)
		checkFormPostCSP(t, resp, f, redirect)
		if f.Action != redirect || f.Fields.Get("code") == "" || f.Fields.Get("state") != "st" || f.Fields.Get("iss") != in.Issuer {
			t.Fatalf("form to %q with %v", f.Action, f.Fields)
		}
		if _, err := b.PostForm(f.Action, f.Fields); err != nil {
			t.Fatal(err)
		}
		posted := <-got
		tok, err := web.conf.Exchange(ctx, posted.Get("code"))
		if err != nil {
			t.Fatalf("exchange of the posted code: %v", err)
		}
		provider, _ := oidc.NewProvider(ctx, in.Issuer)
		idt, err := provider.Verifier(&oidc.Config{ClientID: web.c.ClientID}).Verify(ctx, tok.Extra("id_token").(string))
		if err != nil || idt.Nonce != "n-1" {
			t.Fatalf("ID token: %v (nonce %v)", err, idt)
		}

		// An error goes back by form_post too.
		resp, page = get(t, browser(t), web.authURL("openid", "response_mode", "form_post", "prompt", "none")) // no session
		if resp.StatusCode != http.StatusOK {
			t.Fatalf("prompt=none with form_post: %d", resp.StatusCode)
		}
		f = parseFormPost(t, page)
		checkFormPostCSP(t, resp, f, redirect)
		if f.Action != redirect || f.Fields.Get("error") != "login_required" || f.Fields.Get("state") != "st" || f.Fields.Get("code") != "" {
			t.Errorf("error form to %q with %v", f.Action, f.Fields)
		}
		// So does a request-validation error, once the redirect_uri is good.
		resp, page = get(t, b, web.authURL("openid", "response_mode", "form_post", "request_uri", "https://x.example/r"))
		if f = parseFormPost(t, page); resp.StatusCode != http.StatusOK || f.Fields.Get("error") != "request_uri_not_supported" {
			t.Errorf("request_uri with form_post: %d %v", resp.StatusCode, f.Fields)
		}
	})
}
