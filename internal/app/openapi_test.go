package app_test

import (
	"bufio"
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"path/filepath"
	"regexp"
	"runtime"
	"slices"
	"strings"
	"testing"

	"github.com/getkin/kin-openapi/openapi3"
	"github.com/getkin/kin-openapi/openapi3filter"
	"github.com/getkin/kin-openapi/routers"
	"github.com/getkin/kin-openapi/routers/gorillamux"
	"github.com/gorilla/mux"

	"github.com/authd-dev/authd/oauth"
)

// The servers named in api/openapi.yaml: the default listeners. The test
// points them at its own httptest servers.
const (
	specPublicURL = "http://127.0.0.1:8080"
	specAdminURL  = "http://127.0.0.1:8081"
)

// specPath is api/openapi.yaml, found from this file so that the test runs
// from any working directory.
func specPath(t *testing.T) string {
	t.Helper()
	_, file, _, ok := runtime.Caller(0)
	if !ok {
		t.Fatal("cannot locate the test file")
	}
	return filepath.Join(filepath.Dir(file), "..", "..", "api", "openapi.yaml")
}

// loadSpec loads and validates the OpenAPI document.
func loadSpec(t *testing.T) *openapi3.T {
	t.Helper()
	loader := openapi3.NewLoader()
	doc, err := loader.LoadFromFile(specPath(t))
	if err != nil {
		t.Fatalf("load api/openapi.yaml: %v", err)
	}
	if err := doc.Validate(loader.Context); err != nil {
		t.Fatalf("api/openapi.yaml is not a valid OpenAPI document: %v", err)
	}
	if !doc.IsOpenAPI31OrLater() {
		t.Fatalf("api/openapi.yaml declares openapi %q; want 3.1", doc.OpenAPI)
	}
	return doc
}

// TestOpenAPIDocumentIsValid checks the document on its own, so that a
// broken spec is reported even when the server cannot start.
func TestOpenAPIDocumentIsValid(t *testing.T) {
	doc := loadSpec(t)
	for path, item := range doc.Paths.Map() {
		for method, op := range item.Operations() {
			if op.OperationID == "" {
				t.Errorf("%s %s has no operationId", method, path)
			}
		}
	}
}

// opKey names one documented operation.
type opKey struct{ method, path string }

func (k opKey) String() string { return k.method + " " + k.path }

// specChecker sends real requests to a running authd and validates each
// request/response pair against the OpenAPI document.
type specChecker struct {
	t      *testing.T
	in     *instance
	doc    *openapi3.T
	router routers.Router
	// seen records the statuses observed per documented operation.
	seen map[opKey][]int
}

func newSpecChecker(t *testing.T, in *instance) *specChecker {
	doc := loadSpec(t)
	// Point the documented servers at this test's listeners.
	rewrite := func(servers openapi3.Servers) {
		for _, s := range servers {
			s.URL = strings.NewReplacer(specPublicURL, in.Public.URL, specAdminURL, in.Admin.URL).Replace(s.URL)
		}
	}
	rewrite(doc.Servers)
	for _, item := range doc.Paths.Map() {
		rewrite(item.Servers)
	}
	// The revocation feed is text; kin-openapi knows no decoder for it.
	openapi3filter.RegisterBodyDecoder("text/event-stream", openapi3filter.PlainBodyDecoder)
	openapi3filter.RegisterBodyDecoder("text/html", openapi3filter.PlainBodyDecoder)
	openapi3filter.RegisterBodyDecoder("text/css", openapi3filter.PlainBodyDecoder)
	router, err := gorillamux.NewRouter(doc)
	if err != nil {
		t.Fatalf("router from api/openapi.yaml: %v", err)
	}
	return &specChecker{t: t, in: in, doc: doc, router: router, seen: map[opKey][]int{}}
}

// options of the validation: every status must be documented, and a
// security requirement holds when its credentials are present (whether
// they are right is the server's business; the wrong-token cases check it).
func (c *specChecker) options() *openapi3filter.Options {
	return &openapi3filter.Options{
		IncludeResponseStatus: true,
		MultiError:            true,
		AuthenticationFunc: func(_ context.Context, in *openapi3filter.AuthenticationInput) error {
			want := map[string]string{"bearer": "Bearer ", "basic": "Basic "}[strings.ToLower(in.SecurityScheme.Scheme)]
			if want == "" || !strings.HasPrefix(in.RequestValidationInput.Request.Header.Get("Authorization"), want) {
				return fmt.Errorf("no %s credentials", in.SecurityScheme.Scheme)
			}
			return nil
		},
	}
}

// call is one request to send.
type call struct {
	listener string // "public" or "admin"
	method   string
	path     string
	header   http.Header
	body     []byte
	// invalid marks a request that breaks the spec on purpose (a
	// representative error); only its response is validated.
	invalid bool
	// firstEvent reads a text/event-stream answer only up to the end of
	// its first event, then hangs up (the stream itself never ends).
	firstEvent bool
}

// send performs the call, validates request and response against the
// document, records the status and returns the response and body.
func (c *specChecker) send(cl call) (*http.Response, []byte) {
	c.t.Helper()
	base := c.in.Public.URL
	if cl.listener == "admin" {
		base = c.in.Admin.URL
	}
	newReq := func() *http.Request {
		req, err := http.NewRequest(cl.method, base+cl.path, bytes.NewReader(cl.body))
		if err != nil {
			c.t.Fatal(err)
		}
		for k, v := range cl.header {
			req.Header[k] = v
		}
		return req
	}
	ctx := context.Background()
	vreq := newReq()
	route, params, err := c.router.FindRoute(vreq)
	if err != nil {
		c.t.Errorf("%s %s on the %s listener: not in api/openapi.yaml: %v", cl.method, cl.path, cl.listener, err)
		return c.do(newReq(), cl.firstEvent)
	}
	input := &openapi3filter.RequestValidationInput{Request: vreq, PathParams: params, Route: route, Options: c.options()}
	if !cl.invalid {
		if err := openapi3filter.ValidateRequest(ctx, input); err != nil {
			c.t.Errorf("%s %s: the request does not match api/openapi.yaml:\n%v", cl.method, cl.path, err)
		}
	}
	resp, body := c.do(newReq(), cl.firstEvent)
	out := &openapi3filter.ResponseValidationInput{
		RequestValidationInput: input,
		Status:                 resp.StatusCode,
		Header:                 resp.Header,
		Options:                c.options(),
	}
	out.SetBodyBytes(body)
	if err := openapi3filter.ValidateResponse(ctx, out); err != nil {
		c.t.Errorf("%s %s → %d: the response does not match api/openapi.yaml:\n%v\nbody: %s", cl.method, cl.path, resp.StatusCode, err, body)
	}
	k := opKey{route.Method, route.Path}
	c.seen[k] = append(c.seen[k], resp.StatusCode)
	return resp, body
}

// noRedirects shows the test each redirect instead of following it (the
// authorization endpoint sends browsers back to the client).
var noRedirects = &http.Client{CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}

func (c *specChecker) do(req *http.Request, firstEvent bool) (*http.Response, []byte) {
	c.t.Helper()
	ctx, cancel := context.WithCancel(req.Context())
	defer cancel()
	resp, err := noRedirects.Do(req.WithContext(ctx))
	if err != nil {
		c.t.Fatalf("%s %s: %v", req.Method, req.URL, err)
	}
	defer resp.Body.Close()
	if firstEvent && resp.StatusCode == http.StatusOK {
		var body []byte
		r := bufio.NewReader(resp.Body)
		for {
			line, err := r.ReadBytes('\n')
			body = append(body, line...)
			if err != nil {
				c.t.Fatalf("%s %s: stream ended before its first event: %v: %q", req.Method, req.URL, err, body)
			}
			if len(line) == 1 { // the blank line that ends an event
				return resp, body
			}
		}
	}
	body, err := io.ReadAll(resp.Body)
	if err != nil {
		c.t.Fatal(err)
	}
	return resp, body
}

// adminJSON calls the admin API with the admin token and a JSON body.
func (c *specChecker) adminJSON(method, path string, body any) (*http.Response, []byte) {
	c.t.Helper()
	return c.send(c.adminCall(method, path, body, false))
}

func (c *specChecker) adminCall(method, path string, body any, invalid bool) call {
	c.t.Helper()
	h := http.Header{"Authorization": {"Bearer " + c.in.App.Config.AdminToken}}
	var raw []byte
	switch b := body.(type) {
	case nil:
	case string:
		raw = []byte(b)
	default:
		var err error
		if raw, err = json.Marshal(b); err != nil {
			c.t.Fatal(err)
		}
	}
	if raw != nil {
		h.Set("Content-Type", "application/json")
	}
	return call{listener: "admin", method: method, path: path, header: h, body: raw, invalid: invalid}
}

// form calls a client-authenticated public endpoint with Basic credentials.
func (c *specChecker) form(path, id, secret string, form url.Values, invalid bool) (*http.Response, []byte) {
	c.t.Helper()
	h := http.Header{"Content-Type": {"application/x-www-form-urlencoded"}}
	if id != "" {
		r, _ := http.NewRequest(http.MethodPost, "http://x", nil)
		r.SetBasicAuth(url.QueryEscape(id), url.QueryEscape(secret))
		h.Set("Authorization", r.Header.Get("Authorization"))
	}
	return c.send(call{listener: "public", method: http.MethodPost, path: path, header: h, body: []byte(form.Encode()), invalid: invalid})
}

// want fails the test unless resp has status.
func (c *specChecker) want(resp *http.Response, body []byte, status int) {
	c.t.Helper()
	if resp.StatusCode != status {
		c.t.Fatalf("%s %s → %d; want %d: %s", resp.Request.Method, resp.Request.URL.Path, resp.StatusCode, status, body)
	}
}

func decodeJSON[T any](t *testing.T, body []byte) T {
	t.Helper()
	var v T
	if err := json.Unmarshal(body, &v); err != nil {
		t.Fatalf("decode %s: %v", body, err)
	}
	return v
}

// templateShape reduces a path template to its shape: parameter names do
// not matter ("/admin/clients/{id}" ≡ "/admin/clients/{client_id}").
var templateParam = regexp.MustCompile(`\{[^}]*\}`)

func templateShape(p string) string { return templateParam.ReplaceAllString(p, "{}") }

// servedRoutes lists (method, path shape) of every route of a handler.
// The server's handlers are gorilla/mux routers; HEAD is left out where
// GET is served too (RFC 9110 §9.3.2: the same answer without a body).
func servedRoutes(t *testing.T, h http.Handler) map[opKey]bool {
	t.Helper()
	r, ok := h.(*mux.Router)
	if !ok {
		t.Fatalf("the server's handler is a %T, not a *mux.Router: teach servedRoutes to list its routes", h)
	}
	out := map[opKey]bool{}
	err := r.Walk(func(route *mux.Route, _ *mux.Router, _ []*mux.Route) error {
		tpl, err := route.GetPathTemplate()
		if err != nil {
			return err
		}
		methods, err := route.GetMethods()
		if err != nil {
			return fmt.Errorf("%s: %w", tpl, err)
		}
		for _, m := range methods {
			if m == http.MethodHead && slices.Contains(methods, http.MethodGet) {
				continue
			}
			out[opKey{m, templateShape(tpl)}] = true
		}
		return nil
	})
	if err != nil {
		t.Fatalf("walk routes: %v", err)
	}
	return out
}

// documentedRoutes lists the operations the document puts on a listener.
func (c *specChecker) documentedRoutes(listenerURL string) map[opKey]string {
	out := map[opKey]string{}
	for path, item := range c.doc.Paths.Map() {
		servers := item.Servers
		if len(servers) == 0 {
			servers = c.doc.Servers
		}
		if !slices.ContainsFunc(servers, func(s *openapi3.Server) bool { return s.URL == listenerURL }) {
			continue
		}
		for method := range item.Operations() {
			out[opKey{method, templateShape(path)}] = path
		}
	}
	return out
}

// TestOpenAPIRoutesMatchServer fails when the server serves a route the
// document lacks, or the document promises one the server does not serve.
func TestOpenAPIRoutesMatchServer(t *testing.T) {
	const metricsToken = "metrics-scraper-token-0123456789"
	in := start(t, "", "--metrics-token", metricsToken, "--dynamic-registration", "token")
	c := newSpecChecker(t, in)
	for _, l := range []struct {
		name    string
		url     string
		handler http.Handler
	}{
		{"public", in.Public.URL, in.App.Server.Public()},
		{"admin", in.Admin.URL, in.App.Server.Admin()},
	} {
		served := servedRoutes(t, l.handler)
		documented := c.documentedRoutes(l.url)
		for k := range served {
			if _, ok := documented[k]; !ok {
				t.Errorf("%s listener serves %s, which api/openapi.yaml does not document there", l.name, k)
			}
		}
		for k, path := range documented {
			if !served[k] {
				t.Errorf("api/openapi.yaml documents %s %s on the %s listener, which the server does not serve", k.method, path, l.name)
			}
		}
	}
}

// TestOpenAPIConformance calls every documented operation for real, with
// a success and a representative error, and validates each request and
// response against api/openapi.yaml.
func TestOpenAPIConformance(t *testing.T) {
	const metricsToken = "metrics-scraper-token-0123456789"
	in := start(t, "", "--metrics-token", metricsToken, "--dynamic-registration", "token")
	c := newSpecChecker(t, in)
	public := func(method, path string, h http.Header) (*http.Response, []byte) {
		return c.send(call{listener: "public", method: method, path: path, header: h})
	}

	// Operations.
	for _, l := range []string{"public", "admin"} {
		for _, p := range []string{"/healthz", "/readyz"} {
			resp, body := c.send(call{listener: l, method: http.MethodGet, path: p})
			c.want(resp, body, http.StatusOK)
		}
	}
	resp, body := c.send(call{listener: "admin", method: http.MethodGet, path: "/metrics",
		header: http.Header{"Authorization": {"Bearer " + metricsToken}}})
	c.want(resp, body, http.StatusOK)
	resp, body = c.send(call{listener: "admin", method: http.MethodGet, path: "/metrics", invalid: true})
	c.want(resp, body, http.StatusUnauthorized)

	// Discovery and JWKS.
	for _, p := range []string{"/.well-known/openid-configuration", "/.well-known/oauth-authorization-server"} {
		resp, body := public(http.MethodGet, p, nil)
		c.want(resp, body, http.StatusOK)
	}
	resp, body = public(http.MethodGet, "/oauth2/jwks", nil)
	c.want(resp, body, http.StatusOK)
	resp, body = public(http.MethodGet, "/oauth2/jwks", http.Header{"If-None-Match": {resp.Header.Get("ETag")}})
	c.want(resp, body, http.StatusNotModified)

	// Admin: clients.
	resp, body = c.adminJSON(http.MethodPost, "/admin/clients", map[string]any{
		"client_name": "conformance", "grant_types": []string{"client_credentials", "password", "refresh_token"},
		"scope": "read write", "audience": []string{"https://api.example.com"},
	})
	c.want(resp, body, http.StatusCreated)
	client := decodeJSON[registeredClient](t, body)
	resp, body = c.send(c.adminCall(http.MethodPost, "/admin/clients", map[string]any{"grant_types": []string{"urn:example:magic"}}, true))
	c.want(resp, body, http.StatusBadRequest)
	resp, body = c.send(call{listener: "admin", method: http.MethodPost, path: "/admin/clients", invalid: true,
		header: http.Header{"Content-Type": {"application/json"}}, body: []byte(`{"client_name":"x"}`)})
	c.want(resp, body, http.StatusUnauthorized)
	resp, body = c.adminJSON(http.MethodPost, "/admin/clients", map[string]any{"client_id": client.ClientID, "client_name": "dup"})
	c.want(resp, body, http.StatusConflict)

	resp, body = c.adminJSON(http.MethodGet, "/admin/clients", nil)
	c.want(resp, body, http.StatusOK)
	resp, body = c.send(call{listener: "admin", method: http.MethodGet, path: "/admin/clients", invalid: true,
		header: http.Header{"Authorization": {"Bearer not-the-admin-token"}}})
	c.want(resp, body, http.StatusUnauthorized)

	resp, body = c.adminJSON(http.MethodGet, "/admin/clients/"+client.ClientID, nil)
	c.want(resp, body, http.StatusOK)
	resp, body = c.adminJSON(http.MethodGet, "/admin/clients/no-such-client", nil)
	c.want(resp, body, http.StatusNotFound)

	resp, body = c.adminJSON(http.MethodPut, "/admin/clients/"+client.ClientID, map[string]any{
		"client_name": "conformance v2", "grant_types": []string{"client_credentials", "password", "refresh_token"},
		"scope": "read write", "audience": []string{"https://api.example.com"},
	})
	c.want(resp, body, http.StatusOK)
	resp, body = c.adminJSON(http.MethodPut, "/admin/clients/no-such-client", map[string]any{"client_name": "x"})
	c.want(resp, body, http.StatusNotFound)

	resp, body = c.adminJSON(http.MethodPost, "/admin/clients/"+client.ClientID+"/secret", nil)
	c.want(resp, body, http.StatusOK)
	client.ClientSecret = decodeJSON[registeredClient](t, body).ClientSecret
	resp, body = c.adminJSON(http.MethodPost, "/admin/clients/no-such-client/secret", nil)
	c.want(resp, body, http.StatusNotFound)

	// Admin: users.
	resp, body = c.adminJSON(http.MethodPost, "/admin/users", map[string]any{
		"username": "alice", "password": "correct horse battery", "email": "alice@example.com", "roles": []string{"admin"},
	})
	c.want(resp, body, http.StatusCreated)
	user := decodeJSON[userView](t, body)
	resp, body = c.adminJSON(http.MethodPost, "/admin/users", map[string]any{"username": "alice", "password": "another password"})
	c.want(resp, body, http.StatusConflict)
	resp, body = c.send(c.adminCall(http.MethodPost, "/admin/users", `{"username": "bob", "password": "pw-of-bob", "shoe_size": 44}`, true))
	c.want(resp, body, http.StatusBadRequest)

	resp, body = c.adminJSON(http.MethodGet, "/admin/users", nil)
	c.want(resp, body, http.StatusOK)
	resp, body = c.send(call{listener: "admin", method: http.MethodGet, path: "/admin/users", invalid: true})
	c.want(resp, body, http.StatusUnauthorized)

	resp, body = c.adminJSON(http.MethodGet, "/admin/users/"+user.ID, nil)
	c.want(resp, body, http.StatusOK)
	resp, body = c.adminJSON(http.MethodGet, "/admin/users/no-such-user", nil)
	c.want(resp, body, http.StatusNotFound)

	resp, body = c.adminJSON(http.MethodPatch, "/admin/users/"+user.ID, map[string]any{"roles": []string{"admin", "billing"}})
	c.want(resp, body, http.StatusOK)
	resp, body = c.adminJSON(http.MethodPatch, "/admin/users/no-such-user", map[string]any{"email": "x@example.com"})
	c.want(resp, body, http.StatusNotFound)

	// Tokens: each grant, then the representative errors.
	resp, body = c.form("/oauth2/token", client.ClientID, client.ClientSecret, url.Values{"grant_type": {"client_credentials"}, "scope": {"read"}}, false)
	c.want(resp, body, http.StatusOK)
	machine := decodeJSON[tokenResponse](t, body)
	resp, body = c.form("/oauth2/token", client.ClientID, client.ClientSecret, url.Values{
		"grant_type": {"password"}, "username": {"alice"}, "password": {"correct horse battery"}}, false)
	c.want(resp, body, http.StatusOK)
	login := decodeJSON[tokenResponse](t, body)
	resp, body = c.form("/oauth2/token", client.ClientID, client.ClientSecret, url.Values{
		"grant_type": {"refresh_token"}, "refresh_token": {login.RefreshToken}}, false)
	c.want(resp, body, http.StatusOK)
	refreshed := decodeJSON[tokenResponse](t, body)
	// Token exchange (RFC 8693): a service exchanges its own token, by
	// delegation, for one addressed to the API.
	resp, body = c.adminJSON(http.MethodPost, "/admin/clients", map[string]any{
		"client_id": "exchanger", "grant_types": []string{"client_credentials", "urn:ietf:params:oauth:grant-type:token-exchange"},
		"scope": "read", "audience": []string{"exchanger", "https://api.example.com"}, "token_exchange_impersonation": true,
	})
	c.want(resp, body, http.StatusCreated)
	exchanger := decodeJSON[registeredClient](t, body)
	resp, body = c.form("/oauth2/token", exchanger.ClientID, exchanger.ClientSecret, url.Values{
		"grant_type": {"client_credentials"}, "audience": {"exchanger"}}, false)
	c.want(resp, body, http.StatusOK)
	own := decodeJSON[tokenResponse](t, body)
	resp, body = c.form("/oauth2/token", exchanger.ClientID, exchanger.ClientSecret, url.Values{
		"grant_type":    {"urn:ietf:params:oauth:grant-type:token-exchange"},
		"subject_token": {own.AccessToken}, "subject_token_type": {"urn:ietf:params:oauth:token-type:access_token"},
		"actor_token": {own.AccessToken}, "actor_token_type": {"urn:ietf:params:oauth:token-type:access_token"},
		"audience": {"https://api.example.com"}}, false)
	c.want(resp, body, http.StatusOK)
	exchanged := decodeJSON[tokenResponse](t, body)
	resp, body = c.form("/oauth2/introspect", exchanger.ClientID, exchanger.ClientSecret, url.Values{"token": {exchanged.AccessToken}}, false)
	c.want(resp, body, http.StatusOK)
	if got := decodeJSON[map[string]any](t, body); got["active"] != true || got["act"] == nil {
		t.Errorf("introspection of an exchanged token: %s", body)
	}
	resp, body = c.form("/oauth2/token", exchanger.ClientID, exchanger.ClientSecret, url.Values{
		"grant_type":    {"urn:ietf:params:oauth:grant-type:token-exchange"},
		"subject_token": {own.AccessToken}, "subject_token_type": {"urn:ietf:params:oauth:token-type:access_token"},
		"audience": {"https://elsewhere.example"}}, false)
	c.want(resp, body, http.StatusBadRequest)
	resp, body = c.form("/oauth2/token", client.ClientID, client.ClientSecret, url.Values{
		"grant_type": {"password"}, "username": {"alice"}, "password": {"wrong password"}}, false)
	c.want(resp, body, http.StatusBadRequest)
	resp, body = c.form("/oauth2/token", client.ClientID, "wrong secret", url.Values{"grant_type": {"client_credentials"}}, false)
	c.want(resp, body, http.StatusUnauthorized)
	resp, body = c.form("/oauth2/token", client.ClientID, client.ClientSecret, url.Values{"grant_type": {"urn:example:magic"}}, true)
	c.want(resp, body, http.StatusBadRequest)

	// Introspection and revocation.
	resp, body = c.form("/oauth2/introspect", client.ClientID, client.ClientSecret, url.Values{"token": {refreshed.AccessToken}}, false)
	c.want(resp, body, http.StatusOK)
	if got := decodeJSON[map[string]any](t, body); got["active"] != true || got["sid"] == nil {
		t.Errorf("introspection of a live user token: %s", body)
	}
	resp, body = c.form("/oauth2/introspect", client.ClientID, client.ClientSecret, url.Values{
		"token": {refreshed.RefreshToken}, "token_type_hint": {"refresh_token"}}, false)
	c.want(resp, body, http.StatusOK)
	resp, body = c.form("/oauth2/introspect", client.ClientID, client.ClientSecret, url.Values{"token": {"garbage"}}, false)
	c.want(resp, body, http.StatusOK)
	if string(bytes.TrimSpace(body)) != `{"active":false}` {
		t.Errorf("introspection of garbage: %s; want {\"active\":false}", body)
	}
	resp, body = c.form("/oauth2/introspect", client.ClientID, "wrong secret", url.Values{"token": {machine.AccessToken}}, false)
	c.want(resp, body, http.StatusUnauthorized)
	resp, body = c.form("/oauth2/introspect", client.ClientID, client.ClientSecret, url.Values{}, true)
	c.want(resp, body, http.StatusBadRequest)

	resp, body = c.form("/oauth2/revoke", client.ClientID, client.ClientSecret, url.Values{"token": {machine.AccessToken}, "token_type_hint": {"access_token"}}, false)
	c.want(resp, body, http.StatusOK)
	resp, body = c.form("/oauth2/revoke", client.ClientID, client.ClientSecret, url.Values{}, true)
	c.want(resp, body, http.StatusBadRequest)
	resp, body = c.form("/oauth2/revoke", "", "", url.Values{"token": {machine.AccessToken}}, false)
	c.want(resp, body, http.StatusUnauthorized)

	// The revocation feed: its first event is the snapshot, which holds
	// the access token just revoked.
	basic := func(id, secret string) http.Header {
		r, _ := http.NewRequest(http.MethodGet, "http://x", nil)
		r.SetBasicAuth(url.QueryEscape(id), url.QueryEscape(secret))
		return http.Header{"Authorization": {r.Header.Get("Authorization")}}
	}
	resp, body = c.send(call{listener: "public", method: http.MethodGet, path: "/oauth2/revocations",
		header: basic(client.ClientID, client.ClientSecret), firstEvent: true})
	c.want(resp, body, http.StatusOK)
	event, data, _ := strings.Cut(string(body), "data: ")
	if !strings.HasPrefix(event, "event: snapshot\n") {
		t.Errorf("first feed event: %q; want a snapshot", body)
	}
	snap := decodeJSON[map[string]any](t, []byte(data))
	if err := c.doc.Components.Schemas["FeedSnapshot"].Value.VisitJSON(snap, openapi3.EnableJSONSchema2020()); err != nil {
		t.Errorf("feed snapshot does not match FeedSnapshot: %v\n%s", err, data)
	}
	if entries, _ := snap["entries"].([]any); len(entries) == 0 {
		t.Errorf("feed snapshot has no entries after a revocation: %q", body)
	}
	resp, body = c.send(call{listener: "public", method: http.MethodGet, path: "/oauth2/revocations",
		header: basic(client.ClientID, "wrong secret"), firstEvent: true})
	c.want(resp, body, http.StatusUnauthorized)

	// OpenID Connect: authorization code flow through the HTML pages.
	resp, body = c.adminJSON(http.MethodPost, "/admin/clients", map[string]any{
		"client_name": "web", "grant_types": []string{"authorization_code", "refresh_token"},
		"redirect_uris": []string{"https://app.example/cb"}, "scope": "openid profile email",
	})
	c.want(resp, body, http.StatusCreated)
	web := decodeJSON[registeredClient](t, body)
	verifier := strings.Repeat("v", 43)
	sum := sha256.Sum256([]byte(verifier))
	authQuery := url.Values{"response_type": {"code"}, "client_id": {web.ClientID}, "redirect_uri": {"https://app.example/cb"},
		"scope": {"openid profile email"}, "state": {"s1"}, "nonce": {"n1"},
		"code_challenge": {base64.RawURLEncoding.EncodeToString(sum[:])}, "code_challenge_method": {"S256"}}
	resp, body = public(http.MethodGet, "/oauth2/authorize?"+authQuery.Encode(), nil)
	c.want(resp, body, http.StatusOK)
	cookie := http.Header{"Cookie": {resp.Header.Get("Set-Cookie")}, "Content-Type": {"application/x-www-form-urlencoded"}}
	sealed := formField(t, string(body))
	resp, body = public(http.MethodGet, "/oauth2/authorize?client_id=no-such-client", nil)
	c.want(resp, body, http.StatusBadRequest)
	resp, body = public(http.MethodGet, "/oauth2/authorize?"+url.Values{"client_id": {web.ClientID}, "redirect_uri": {"https://app.example/cb"}, "response_type": {"token"}}.Encode(), nil)
	c.want(resp, body, http.StatusSeeOther)
	resp, body = c.send(call{listener: "public", method: http.MethodPost, path: "/oauth2/authorize", header: cookie, body: []byte(authQuery.Encode())})
	c.want(resp, body, http.StatusOK)
	resp, body = c.send(call{listener: "public", method: http.MethodPost, path: "/oauth2/authorize", header: cookie, body: []byte("client_id=no-such-client")})
	c.want(resp, body, http.StatusBadRequest)
	loginPost := func(form url.Values) (*http.Response, []byte) {
		return c.send(call{listener: "public", method: http.MethodPost, path: "/oauth2/authorize/login", header: cookie, body: []byte(form.Encode())})
	}
	resp, body = c.adminJSON(http.MethodPost, "/admin/users", map[string]any{"username": "olive", "password": "password-of-olive", "email": "olive@example.com"})
	c.want(resp, body, http.StatusCreated)
	olive := decodeJSON[userView](t, body)
	resp, body = loginPost(url.Values{"request": {sealed}, "username": {"olive"}, "password": {"wrong-password"}})
	c.want(resp, body, http.StatusUnauthorized)
	resp, body = loginPost(url.Values{"request": {"tampered"}, "username": {"olive"}, "password": {"password-of-olive"}})
	c.want(resp, body, http.StatusBadRequest)
	resp, body = loginPost(url.Values{"request": {sealed}, "username": {"olive"}, "password": {"password-of-olive"}})
	c.want(resp, body, http.StatusOK) // the consent page
	resp, body = loginPost(url.Values{"request": {formField(t, string(body))}, "decision": {"allow"}})
	c.want(resp, body, http.StatusSeeOther)
	loc, _ := url.Parse(resp.Header.Get("Location"))
	resp, body = c.form("/oauth2/token", web.ClientID, web.ClientSecret, url.Values{"grant_type": {"authorization_code"},
		"code": {loc.Query().Get("code")}, "redirect_uri": {"https://app.example/cb"}, "code_verifier": {verifier}}, false)
	c.want(resp, body, http.StatusOK)
	oidcTokens := decodeJSON[tokenResponse](t, body)
	if oidcTokens.IDToken == "" {
		t.Error("the authorization_code grant with openid returned no id_token")
	}
	bearer := http.Header{"Authorization": {"Bearer " + oidcTokens.AccessToken}}
	resp, body = public(http.MethodGet, "/oauth2/userinfo", bearer)
	c.want(resp, body, http.StatusOK)
	resp, body = c.send(call{listener: "public", method: http.MethodGet, path: "/oauth2/userinfo", invalid: true, header: http.Header{"Authorization": {"Bearer garbage"}}})
	c.want(resp, body, http.StatusUnauthorized)
	resp, body = c.send(call{listener: "public", method: http.MethodPost, path: "/oauth2/userinfo",
		header: http.Header{"Content-Type": {"application/x-www-form-urlencoded"}}, body: []byte("access_token=" + oidcTokens.AccessToken)})
	c.want(resp, body, http.StatusOK)
	resp, body = c.send(call{listener: "public", method: http.MethodPost, path: "/oauth2/userinfo", invalid: true,
		header: http.Header{"Authorization": {"Bearer " + machine.AccessToken}}}) // no openid scope, no user
	c.want(resp, body, http.StatusUnauthorized)

	// Pushed authorization requests (RFC 9126): pushed, then used at the
	// authorization endpoint; a bad request and a bad secret are JSON errors.
	pushForm := url.Values{"response_type": {"code"}, "redirect_uri": {"https://app.example/cb"}, "scope": {"openid"}, "state": {"s2"}}
	resp, body = c.form("/oauth2/par", web.ClientID, web.ClientSecret, pushForm, false)
	c.want(resp, body, http.StatusCreated)
	pushed := decodeJSON[parResponse](t, body)
	resp, body = public(http.MethodGet, "/oauth2/authorize?"+url.Values{"client_id": {web.ClientID}, "request_uri": {pushed.RequestURI}}.Encode(), nil)
	c.want(resp, body, http.StatusOK)
	resp, body = c.form("/oauth2/par", web.ClientID, web.ClientSecret, url.Values{"response_type": {"code"}, "redirect_uri": {"https://evil.example/cb"}}, false)
	c.want(resp, body, http.StatusBadRequest)
	resp, body = c.form("/oauth2/par", web.ClientID, "wrong secret", pushForm, false)
	c.want(resp, body, http.StatusUnauthorized)

	// RP-initiated logout: no session in this client, so a valid hint
	// logs out at once (the signed-out page); an unknown client is refused.
	resp, body = public(http.MethodGet, "/oauth2/logout?"+url.Values{"id_token_hint": {oidcTokens.IDToken}}.Encode(), nil)
	c.want(resp, body, http.StatusOK)
	resp, body = public(http.MethodGet, "/oauth2/logout?client_id=no-such-client&post_logout_redirect_uri=https://app.example/bye", nil)
	c.want(resp, body, http.StatusBadRequest)
	formHeader := http.Header{"Content-Type": {"application/x-www-form-urlencoded"}}
	resp, body = c.send(call{listener: "public", method: http.MethodPost, path: "/oauth2/logout", header: formHeader,
		body: []byte(url.Values{"id_token_hint": {oidcTokens.IDToken}}.Encode())})
	c.want(resp, body, http.StatusOK)
	resp, body = c.send(call{listener: "public", method: http.MethodPost, path: "/oauth2/logout", header: formHeader,
		body: []byte("client_id=no-such-client")})
	c.want(resp, body, http.StatusBadRequest)

	// The device grant (RFC 8628): the device authorization endpoint, the
	// verification page and its form (a right code shows the login page,
	// a wrong one the form again), and a pending poll.
	resp, body = c.adminJSON(http.MethodPost, "/admin/clients", map[string]any{"client_name": "tv",
		"grant_types": []string{oauth.GrantDeviceCode}, "scope": "openid"})
	c.want(resp, body, http.StatusCreated)
	tv := decodeJSON[registeredClient](t, body)
	resp, body = c.form("/oauth2/device_authorization", tv.ClientID, tv.ClientSecret, url.Values{"scope": {"openid"}}, false)
	c.want(resp, body, http.StatusOK)
	device := decodeJSON[struct {
		DeviceCode string `json:"device_code"`
		UserCode   string `json:"user_code"`
	}](t, body)
	resp, body = c.form("/oauth2/device_authorization", web.ClientID, web.ClientSecret, url.Values{"scope": {"openid"}}, false)
	c.want(resp, body, http.StatusBadRequest) // no device grant: unauthorized_client
	resp, body = c.form("/oauth2/token", tv.ClientID, tv.ClientSecret, url.Values{"grant_type": {oauth.GrantDeviceCode}, "device_code": {device.DeviceCode}}, false)
	c.want(resp, body, http.StatusBadRequest) // authorization_pending
	resp, body = public(http.MethodGet, "/device?user_code="+device.UserCode, nil)
	c.want(resp, body, http.StatusOK)
	deviceCookie := http.Header{"Cookie": {resp.Header.Get("Set-Cookie")}, "Content-Type": {"application/x-www-form-urlencoded"}}
	deviceForm := formField(t, string(body))
	resp, body = c.send(call{listener: "public", method: http.MethodPost, path: "/device", header: deviceCookie,
		body: []byte(url.Values{"request": {deviceForm}, "user_code": {device.UserCode}}.Encode())})
	c.want(resp, body, http.StatusOK)
	resp, body = c.send(call{listener: "public", method: http.MethodPost, path: "/device", header: deviceCookie,
		body: []byte(url.Values{"request": {deviceForm}, "user_code": {"BBBB-BBBB"}}.Encode())})
	c.want(resp, body, http.StatusBadRequest)

	// The pages' static files.
	resp, body = public(http.MethodGet, "/ui/authd.css", nil)
	c.want(resp, body, http.StatusOK)
	resp, body = public(http.MethodGet, "/ui/no-such-file.css", nil)
	c.want(resp, body, http.StatusNotFound)

	// Admin: olive's SSO session, begun by the sign-in above.
	resp, body = c.adminJSON(http.MethodGet, "/admin/users/"+olive.ID+"/sessions", nil)
	c.want(resp, body, http.StatusOK)
	sessions := decodeJSON[struct {
		Sessions []struct{ ID string } `json:"sessions"`
	}](t, body)
	if len(sessions.Sessions) != 1 {
		t.Fatalf("olive's sessions: %s", body)
	}
	resp, body = c.adminJSON(http.MethodGet, "/admin/users/no-such-user/sessions", nil)
	c.want(resp, body, http.StatusNotFound)
	resp, body = c.adminJSON(http.MethodDelete, "/admin/users/"+olive.ID+"/sessions/"+sessions.Sessions[0].ID, nil)
	c.want(resp, body, http.StatusNoContent)
	resp, body = c.adminJSON(http.MethodDelete, "/admin/users/"+olive.ID+"/sessions/"+sessions.Sessions[0].ID, nil)
	c.want(resp, body, http.StatusNotFound)

	// Admin: keys.
	resp, body = c.adminJSON(http.MethodGet, "/admin/keys", nil)
	c.want(resp, body, http.StatusOK)
	resp, body = c.send(call{listener: "admin", method: http.MethodGet, path: "/admin/keys", invalid: true})
	c.want(resp, body, http.StatusUnauthorized)
	resp, body = c.adminJSON(http.MethodPost, "/admin/keys/rotate", map[string]any{"alg": "ES256"})
	c.want(resp, body, http.StatusOK)
	rotated := decodeJSON[map[string]any](t, body)
	resp, body = c.send(c.adminCall(http.MethodPost, "/admin/keys/rotate", map[string]any{"alg": "HS256"}, true))
	c.want(resp, body, http.StatusBadRequest)
	kid, _ := rotated["kid"].(string)
	resp, body = c.adminJSON(http.MethodDelete, "/admin/keys/"+url.PathEscape(kid), nil)
	c.want(resp, body, http.StatusNoContent)
	resp, body = c.adminJSON(http.MethodDelete, "/admin/keys/no-such-key", nil)
	c.want(resp, body, http.StatusNotFound)

	// Dynamic registration (RFC 7591, RFC 7592) with an initial access
	// token.
	resp, body = c.adminJSON(http.MethodPost, "/admin/registration-tokens", map[string]any{"expires_in": 600, "uses": 2})
	c.want(resp, body, http.StatusCreated)
	initial := decodeJSON[struct{ Token string }](t, body).Token
	resp, body = c.send(c.adminCall(http.MethodPost, "/admin/registration-tokens", map[string]any{"uses": -1}, true))
	c.want(resp, body, http.StatusBadRequest)
	resp, body = c.adminJSON(http.MethodPost, "/admin/registration-tokens", nil)
	c.want(resp, body, http.StatusCreated)
	spare := decodeJSON[struct{ ID string }](t, body).ID
	resp, body = c.adminJSON(http.MethodGet, "/admin/registration-tokens", nil)
	c.want(resp, body, http.StatusOK)
	resp, body = c.send(call{listener: "admin", method: http.MethodGet, path: "/admin/registration-tokens", invalid: true})
	c.want(resp, body, http.StatusUnauthorized)
	resp, body = c.adminJSON(http.MethodDelete, "/admin/registration-tokens/"+url.PathEscape(spare), nil)
	c.want(resp, body, http.StatusNoContent)
	resp, body = c.send(c.adminCall(http.MethodDelete, "/admin/registration-tokens/"+url.PathEscape(spare), nil, true))
	c.want(resp, body, http.StatusNotFound)
	regCall := func(method, path, bearer string, body any, invalid bool) (*http.Response, []byte) {
		raw, _ := json.Marshal(body)
		h := http.Header{"Content-Type": {"application/json"}}
		if bearer != "" {
			h.Set("Authorization", "Bearer "+bearer)
		}
		if body == nil {
			raw, h = nil, http.Header{"Authorization": h["Authorization"]}
		}
		return c.send(call{listener: "public", method: method, path: path, header: h, body: raw, invalid: invalid})
	}
	app := map[string]any{"client_name": "registered", "redirect_uris": []string{"https://app.example/cb"}, "scope": "openid"}
	resp, body = regCall(http.MethodPost, "/oauth2/register", initial, app, false)
	c.want(resp, body, http.StatusCreated)
	info := decodeJSON[map[string]any](t, body)
	resp, body = regCall(http.MethodPost, "/oauth2/register", initial, map[string]any{"redirect_uris": []string{"http://app.example/cb"}}, false)
	c.want(resp, body, http.StatusBadRequest)
	resp, body = regCall(http.MethodPost, "/oauth2/register", "", app, true)
	c.want(resp, body, http.StatusUnauthorized)
	clientPath := "/oauth2/register/" + info["client_id"].(string)
	access1 := info["registration_access_token"].(string)
	resp, body = regCall(http.MethodGet, clientPath, access1, nil, false)
	c.want(resp, body, http.StatusOK)
	resp, body = regCall(http.MethodGet, clientPath, "wrong", nil, true)
	c.want(resp, body, http.StatusUnauthorized)
	app["client_name"] = "registered v2"
	resp, body = regCall(http.MethodPut, clientPath, access1, app, false)
	c.want(resp, body, http.StatusOK)
	access2 := decodeJSON[map[string]any](t, body)["registration_access_token"].(string)
	resp, body = regCall(http.MethodPut, clientPath, access2, map[string]any{"grant_types": []string{"password"}}, false)
	c.want(resp, body, http.StatusBadRequest)
	resp, body = regCall(http.MethodPut, clientPath, access1, app, true)
	c.want(resp, body, http.StatusUnauthorized)
	resp, body = regCall(http.MethodDelete, clientPath, access1, nil, true)
	c.want(resp, body, http.StatusUnauthorized)
	resp, body = regCall(http.MethodDelete, clientPath, access2, nil, false)
	c.want(resp, body, http.StatusNoContent)

	// Admin: consents (alice's password login with the client is indexed,
	// so withdrawing ends it: 204, then 404).
	resp, body = c.adminJSON(http.MethodGet, "/admin/users/"+user.ID+"/consents", nil)
	c.want(resp, body, http.StatusOK)
	resp, body = c.adminJSON(http.MethodGet, "/admin/users/no-such-user/consents", nil)
	c.want(resp, body, http.StatusNotFound)
	resp, body = c.adminJSON(http.MethodDelete, "/admin/users/"+user.ID+"/consents/"+client.ClientID, nil)
	c.want(resp, body, http.StatusNoContent)
	resp, body = c.adminJSON(http.MethodDelete, "/admin/users/"+user.ID+"/consents/"+client.ClientID, nil)
	c.want(resp, body, http.StatusNotFound)

	// Admin: ending users and clients.
	resp, body = c.adminJSON(http.MethodPost, "/admin/users/"+user.ID+"/revoke", nil)
	c.want(resp, body, http.StatusNoContent)
	resp, body = c.adminJSON(http.MethodPost, "/admin/users/no-such-user/revoke", nil)
	c.want(resp, body, http.StatusNotFound)
	resp, body = c.adminJSON(http.MethodDelete, "/admin/users/"+user.ID, nil)
	c.want(resp, body, http.StatusNoContent)
	resp, body = c.adminJSON(http.MethodDelete, "/admin/users/"+user.ID, nil)
	c.want(resp, body, http.StatusNotFound)
	resp, body = c.adminJSON(http.MethodDelete, "/admin/clients/"+client.ClientID, nil)
	c.want(resp, body, http.StatusNoContent)
	resp, body = c.adminJSON(http.MethodDelete, "/admin/clients/"+client.ClientID, nil)
	c.want(resp, body, http.StatusNotFound)

	// Readiness fails once the store is gone.
	if err := in.App.Store.Close(); err != nil {
		t.Fatalf("close store: %v", err)
	}
	for _, l := range []string{"public", "admin"} {
		resp, body := c.send(call{listener: l, method: http.MethodGet, path: "/readyz"})
		c.want(resp, body, http.StatusServiceUnavailable)
	}

	c.checkCoverage()
}

// checkCoverage fails for every documented operation that was not seen
// succeeding, or not seen failing although it documents caller errors.
func (c *specChecker) checkCoverage() {
	c.t.Helper()
	var missing []string
	for path, item := range c.doc.Paths.Map() {
		for method, op := range item.Operations() {
			k := opKey{method, path}
			seen := c.seen[k]
			if !slices.ContainsFunc(seen, func(s int) bool { return s < 400 }) {
				missing = append(missing, fmt.Sprintf("%s (%s): no successful call", k, op.OperationID))
			}
			if documentsError(op) && !slices.ContainsFunc(seen, func(s int) bool { return s >= 400 }) {
				missing = append(missing, fmt.Sprintf("%s (%s): no error call", k, op.OperationID))
			}
		}
	}
	slices.Sort(missing)
	if len(missing) > 0 {
		c.t.Errorf("documented operations not exercised:\n  %s", strings.Join(missing, "\n  "))
	}
}

// documentsError reports whether op documents an error other than the
// generic 500/503 (which need a broken server or store to provoke).
func documentsError(op *openapi3.Operation) bool {
	for code := range op.Responses.Map() {
		var n int
		if _, err := fmt.Sscanf(code, "%d", &n); err == nil && n >= 400 && n != 500 && n != 503 {
			return true
		}
	}
	return false
}
