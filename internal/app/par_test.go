package app_test

import (
	"context"
	"encoding/json"
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"

	"golang.org/x/oauth2"
)

// Pushed authorization requests (RFC 9126), end to end: the client pushes
// its request to /oauth2/par, the browser carries only client_id and the
// request_uri to the authorization endpoint.

const (
	parRedirect  = "http://127.0.0.1:9999/callback"
	requestURIPf = "urn:ietf:params:oauth:request_uri:"
)

// parResponse is an answer of the pushed authorization request endpoint.
type parResponse struct {
	Status      int
	Header      http.Header
	RequestURI  string `json:"request_uri"`
	ExpiresIn   int64  `json:"expires_in"`
	Error       string `json:"error"`
	Description string `json:"error_description"`
}

// par pushes form for c: with Basic credentials when c has a secret,
// with client_id in the form otherwise (a public client, RFC 9126 §2).
func (in *instance) par(c registeredClient, form url.Values) parResponse {
	in.t.Helper()
	form = cloneValues(form)
	if c.ClientSecret == "" && form.Get("client_id") == "" {
		form.Set("client_id", c.ClientID)
	}
	id := c.ClientID
	if c.ClientSecret == "" {
		id = ""
	}
	var pr parResponse
	pr.Status, pr.Header = doJSON(in.t, in.formPost("/oauth2/par", form, id, c.ClientSecret), "PAR endpoint", &pr)
	return pr
}

func cloneValues(v url.Values) url.Values {
	out := url.Values{}
	for k, vs := range v {
		out[k] = append([]string(nil), vs...)
	}
	return out
}

// pushed pushes form and fails the test unless it got 201.
func (in *instance) pushed(c registeredClient, form url.Values) string {
	in.t.Helper()
	p := in.par(c, form)
	if p.Status != http.StatusCreated || !strings.HasPrefix(p.RequestURI, requestURIPf) {
		in.t.Fatalf("push: %d %s %s (%q)", p.Status, p.Error, p.Description, p.RequestURI)
	}
	return p.RequestURI
}

// authorizeURL is the front-channel request that uses a pushed request.
func (in *instance) authorizeURL(clientID, requestURI string) string {
	return in.Public.URL + "/oauth2/authorize?" + url.Values{"client_id": {clientID}, "request_uri": {requestURI}}.Encode()
}

// codeClient registers a confidential authorization-code client; extra
// metadata is merged in.
func codeClient(in *instance, extra map[string]any) registeredClient {
	meta := map[string]any{"grant_types": []string{"authorization_code", "refresh_token"},
		"redirect_uris": []string{parRedirect}, "scope": "openid profile offline_access"}
	for k, v := range extra {
		meta[k] = v
	}
	return in.createClient(meta)
}

// simpleRequest is a valid authorization request of a confidential client.
func simpleRequest() url.Values {
	return url.Values{"response_type": {"code"}, "redirect_uri": {parRedirect}, "scope": {"openid"}, "state": {"st"}}
}

// wantLoginPage fails unless u answers the login page.
func wantLoginPage(t *testing.T, b *http.Client, u string) string {
	t.Helper()
	resp, page := get(t, b, u)
	if resp.StatusCode != http.StatusOK || !strings.Contains(page, `name="username"`) {
		t.Fatalf("want the login page; got %d %s\n%s", resp.StatusCode, resp.Header.Get("Location"), page)
	}
	return page
}

// wantErrorPage fails unless u answers an error page (never a redirect)
// naming code.
func wantErrorPage(t *testing.T, b *http.Client, u, code string) {
	t.Helper()
	resp, page := get(t, b, u)
	if resp.StatusCode != http.StatusBadRequest || resp.Header.Get("Location") != "" || !strings.Contains(page, "<code>"+code+"</code>") {
		t.Fatalf("want a 400 error page with %s; got %d %q\n%s", code, resp.StatusCode, resp.Header.Get("Location"), page)
	}
}

// discoveryDoc reads the RFC 8414 metadata.
func discoveryDoc(t *testing.T, in *instance) map[string]any {
	t.Helper()
	resp, body := get(t, http.DefaultClient, in.Public.URL+"/.well-known/oauth-authorization-server")
	if resp.StatusCode != 200 {
		t.Fatalf("discovery: %d", resp.StatusCode)
	}
	var doc map[string]any
	if err := json.Unmarshal([]byte(body), &doc); err != nil {
		t.Fatal(err)
	}
	return doc
}

// TestPARCodeFlow: push, authorize with client_id and request_uri, sign
// in (after a wrong password), consent, and exchange the code with
// golang.org/x/oauth2; the pushed parameters rule, the front channel's
// others are ignored, and the request_uri works once.
func TestPARCodeFlow(t *testing.T) {
	forEachStore(t, func(t *testing.T, storeArgs []string) {
		in := start(t, "", storeArgs...)
		c := codeClient(in, map[string]any{"client_name": "PAR app"})
		u := in.createUser("petra", "password-of-petra")
		ctx := context.Background()

		doc := discoveryDoc(t, in)
		if doc["pushed_authorization_request_endpoint"] != in.Issuer+"/oauth2/par" || doc["require_pushed_authorization_requests"] != false {
			t.Errorf("discovery: pushed_authorization_request_endpoint %v, require_pushed_authorization_requests %v",
				doc["pushed_authorization_request_endpoint"], doc["require_pushed_authorization_requests"])
		}

		conf := oauth2.Config{ClientID: c.ClientID, ClientSecret: c.ClientSecret, RedirectURL: parRedirect, Scopes: []string{"openid", "profile"},
			Endpoint: oauth2.Endpoint{AuthURL: in.Public.URL + "/oauth2/authorize", TokenURL: in.Public.URL + "/oauth2/token", AuthStyle: oauth2.AuthStyleInHeader}}
		verifier := oauth2.GenerateVerifier()
		// What the client would have sent through the browser, it pushes.
		front, err := url.Parse(conf.AuthCodeURL("state-par", oauth2.S256ChallengeOption(verifier), oauth2.SetAuthURLParam("nonce", "nonce-par")))
		if err != nil {
			t.Fatal(err)
		}
		p := in.par(c, front.Query())
		if p.Status != http.StatusCreated {
			t.Fatalf("push: %d %s %s", p.Status, p.Error, p.Description)
		}
		if cc := p.Header.Get("Cache-Control"); cc != "no-store" {
			t.Errorf("Cache-Control %q; want no-store", cc)
		}
		// RFC 9126 §2.2: a URN with at least 128 bits of randomness
		// (22 base64url characters), valid for the configured 60 s.
		if rnd, ok := strings.CutPrefix(p.RequestURI, requestURIPf); !ok || len(rnd) < 22 || p.ExpiresIn != 60 {
			t.Fatalf("request_uri %q expires_in %d", p.RequestURI, p.ExpiresIn)
		}

		// RFC 9126 §4: besides client_id, front-channel parameters are
		// ignored — a tampered state, scope or redirect_uri changes nothing.
		tampered := url.Values{"client_id": {c.ClientID}, "request_uri": {p.RequestURI}, "state": {"attacker"},
			"scope": {"openid offline_access"}, "redirect_uri": {"http://127.0.0.1:9999/elsewhere"}}
		b := browser(t)
		page := wantLoginPage(t, b, in.Public.URL+"/oauth2/authorize?"+tampered.Encode())
		action := in.Public.URL + "/oauth2/authorize/login"
		// The login form shown again after a wrong password carries the
		// request on (sealed): the request_uri is not needed again.
		resp, again := post(t, b, action, url.Values{"request": {formField(t, page)}, "username": {"petra"}, "password": {"wrong"}})
		if resp.StatusCode != http.StatusUnauthorized {
			t.Fatalf("wrong password: %d", resp.StatusCode)
		}
		resp, consentPage := post(t, b, action, url.Values{"request": {formField(t, again)}, "username": {"petra"}, "password": {"password-of-petra"}})
		if resp.StatusCode != 200 || !strings.Contains(consentPage, `value="allow"`) {
			t.Fatalf("consent page: %d\n%s", resp.StatusCode, consentPage)
		}
		resp, _ = consent(t, in, b, consentPage, "allow")
		code := codeOf(t, resp, parRedirect)
		loc, _ := url.Parse(resp.Header.Get("Location"))
		if loc.Path != "/callback" || loc.Query().Get("state") != "state-par" {
			t.Fatalf("redirect %s; want the pushed redirect_uri and state", loc)
		}

		tok, err := conf.Exchange(ctx, code, oauth2.VerifierOption(verifier))
		if err != nil {
			t.Fatalf("code exchange: %v", err)
		}
		if sc, _ := tok.Extra("scope").(string); sc != "openid profile" {
			t.Errorf("scope %q; want the pushed openid profile", sc)
		}
		idt, _ := tok.Extra("id_token").(string)
		if claims := decodeClaims(t, idt); claims["nonce"] != "nonce-par" || claims["sub"] != u.ID {
			t.Errorf("ID token nonce %v sub %v", claims["nonce"], claims["sub"])
		}

		// RFC 9126 §4: one-time use, even in a fresh browser.
		wantErrorPage(t, browser(t), in.authorizeURL(c.ClientID, p.RequestURI), "invalid_request_uri")
	})
}

// TestPARExpiryAndBinding: an expired request_uri, one of another client
// and an unknown one are refused with an error page; one used in time
// works.
func TestPARExpiryAndBinding(t *testing.T) {
	forEachStore(t, func(t *testing.T, storeArgs []string) {
		clk := newFakeClock(time.Now())
		in := startWith(t, clk.Now, "", storeArgs...)
		a, other := codeClient(in, nil), codeClient(in, nil)

		uri := in.pushed(a, simpleRequest())
		clk.Add(61 * time.Second)
		wantErrorPage(t, browser(t), in.authorizeURL(a.ClientID, uri), "invalid_request_uri")

		uri = in.pushed(a, simpleRequest())
		clk.Add(59 * time.Second)
		wantLoginPage(t, browser(t), in.authorizeURL(a.ClientID, uri))

		// Bound to the client that pushed it (RFC 9126 §2.2); presented by
		// another it is refused, and spent.
		uri = in.pushed(a, simpleRequest())
		wantErrorPage(t, browser(t), in.authorizeURL(other.ClientID, uri), "invalid_request_uri")
		wantErrorPage(t, browser(t), in.authorizeURL(a.ClientID, uri), "invalid_request_uri")

		wantErrorPage(t, browser(t), in.authorizeURL(a.ClientID, requestURIPf+"never-issued"), "invalid_request_uri")
	})
}

// TestPARErrors: the endpoint validates as the authorization endpoint
// does and answers every error as JSON (RFC 9126 §2.3), never a redirect;
// client authentication is the token endpoint's.
func TestPARErrors(t *testing.T) {
	in := start(t, "")
	c := codeClient(in, nil)
	pub := in.createClient(map[string]any{"grant_types": []string{"authorization_code"}, "redirect_uris": []string{parRedirect},
		"scope": "openid", "token_endpoint_auth_method": "none"})
	with := func(k, v string) url.Values {
		q := simpleRequest()
		q.Set(k, v)
		return q
	}
	challenge := strings.Repeat("a", 43)
	for _, tc := range []struct {
		name   string
		client registeredClient
		form   url.Values
		status int
		code   string
	}{
		{"unregistered redirect_uri", c, with("redirect_uri", "https://evil.example/cb"), 400, "invalid_request"},
		{"scope not allowed", c, with("scope", "openid admin"), 400, "invalid_scope"},
		{"wrong response_type", c, with("response_type", "token"), 400, "unsupported_response_type"},
		{"request_uri pushed", c, with("request_uri", requestURIPf+"x"), 400, "invalid_request"},
		{"request object", c, with("request", "eyJ.e30."), 400, "request_not_supported"},
		{"bad prompt", c, with("prompt", "none login"), 400, "invalid_request"},
		{"bad max_age", c, with("max_age", "-1"), 400, "invalid_request"},
		{"client_id of another client", c, with("client_id", pub.ClientID), 400, "invalid_request"},
		{"public client without PKCE", pub, simpleRequest(), 400, "invalid_request"},
		{"unauthenticated confidential client", registeredClient{ClientID: c.ClientID}, simpleRequest(), 401, "invalid_client"},
		{"wrong secret", registeredClient{ClientID: c.ClientID, ClientSecret: "wrong"}, simpleRequest(), 401, "invalid_client"},
		{"unknown client", registeredClient{ClientID: "nobody"}, simpleRequest(), 401, "invalid_client"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			p := in.par(tc.client, tc.form)
			if p.Status != tc.status || p.Error != tc.code || p.RequestURI != "" || p.Header.Get("Location") != "" {
				t.Fatalf("%d %s (%s) %q; want %d %s", p.Status, p.Error, p.Description, p.RequestURI, tc.status, tc.code)
			}
			if tc.status == 401 && !strings.HasPrefix(p.Header.Get("WWW-Authenticate"), "Basic") {
				t.Errorf("401 without a Basic challenge: %q", p.Header.Get("WWW-Authenticate"))
			}
			if p.Header.Get("Cache-Control") != "no-store" {
				t.Errorf("Cache-Control %q", p.Header.Get("Cache-Control"))
			}
		})
	}
	t.Run("public client with PKCE by client_id alone", func(t *testing.T) {
		q := simpleRequest()
		q.Set("code_challenge", challenge)
		q.Set("code_challenge_method", "S256")
		wantLoginPage(t, browser(t), in.authorizeURL(pub.ClientID, in.pushed(pub, q)))
	})
	t.Run("GET", func(t *testing.T) {
		if resp, _ := get(t, http.DefaultClient, in.Public.URL+"/oauth2/par"); resp.StatusCode != http.StatusMethodNotAllowed {
			t.Errorf("GET: %d; want 405", resp.StatusCode)
		}
	})
	t.Run("OIDC request_uri stays unsupported", func(t *testing.T) {
		q := simpleRequest()
		q.Set("client_id", c.ClientID)
		q.Set("request_uri", "https://app.example/request.jwt")
		resp, _ := get(t, browser(t), in.Public.URL+"/oauth2/authorize?"+q.Encode())
		loc, _ := url.Parse(resp.Header.Get("Location"))
		if resp.StatusCode != http.StatusSeeOther || loc.Query().Get("error") != "request_uri_not_supported" {
			t.Errorf("%d %s; want a redirect with request_uri_not_supported", resp.StatusCode, loc)
		}
	})
}

// TestPARRequired: require_pushed_authorization_requests per client (RFC
// 9126 §6) and server-wide (§5): a front-channel request is refused with
// invalid_request, shown (its parameters are what the policy refuses to
// take), a pushed one works.
func TestPARRequired(t *testing.T) {
	t.Run("per client", func(t *testing.T) {
		in := start(t, "")
		strict := codeClient(in, map[string]any{"require_pushed_authorization_requests": true})
		loose := codeClient(in, nil)
		var meta map[string]any
		if st := in.admin(http.MethodGet, "/admin/clients/"+strict.ClientID, nil, &meta); st != 200 || meta["require_pushed_authorization_requests"] != true {
			t.Fatalf("admin view: %d %v", st, meta["require_pushed_authorization_requests"])
		}
		front := func(c registeredClient) string {
			q := simpleRequest()
			q.Set("client_id", c.ClientID)
			return in.Public.URL + "/oauth2/authorize?" + q.Encode()
		}
		wantErrorPage(t, browser(t), front(strict), "invalid_request")
		wantLoginPage(t, browser(t), in.authorizeURL(strict.ClientID, in.pushed(strict, simpleRequest())))
		wantLoginPage(t, browser(t), front(loose))
		if doc := discoveryDoc(t, in); doc["require_pushed_authorization_requests"] != false {
			t.Errorf("discovery require_pushed_authorization_requests %v; want false", doc["require_pushed_authorization_requests"])
		}
	})
	t.Run("server-wide", func(t *testing.T) {
		in := start(t, "", "--require-pushed-authorization-requests")
		c := codeClient(in, nil)
		q := simpleRequest()
		q.Set("client_id", c.ClientID)
		wantErrorPage(t, browser(t), in.Public.URL+"/oauth2/authorize?"+q.Encode(), "invalid_request")
		q.Set("request_uri", "https://app.example/request.jwt")
		wantErrorPage(t, browser(t), in.Public.URL+"/oauth2/authorize?"+q.Encode(), "invalid_request")
		wantLoginPage(t, browser(t), in.authorizeURL(c.ClientID, in.pushed(c, simpleRequest())))
		if doc := discoveryDoc(t, in); doc["require_pushed_authorization_requests"] != true {
			t.Errorf("discovery require_pushed_authorization_requests %v; want true", doc["require_pushed_authorization_requests"])
		}
	})
}

// TestPARAcrossReplicas: a request pushed to one replica is used on the
// other (shared Redis), and only once across both.
func TestPARAcrossReplicas(t *testing.T) {
	args := sharedRedisArgs(t)
	a, b := start(t, "", args...), start(t, "", args...)
	c := codeClient(a, nil)
	a.createUser("rhea", "password-of-rhea")
	uri := a.pushed(c, simpleRequest())
	br := browser(t)
	resp, consentPage := signIn(t, b, br, b.authorizeURL(c.ClientID, uri), "rhea", "password-of-rhea")
	if resp.StatusCode != 200 {
		t.Fatalf("sign-in on B: %d", resp.StatusCode)
	}
	resp, _ = consent(t, b, br, consentPage, "allow")
	codeOf(t, resp, parRedirect)
	wantErrorPage(t, browser(t), a.authorizeURL(c.ClientID, uri), "invalid_request_uri")
}
