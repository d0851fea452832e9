package app_test

import (
	"context"
	"encoding/json"
	"net/http"
	"net/url"
	"strings"
	"testing"

	"github.com/coreos/go-oidc/v3/oidc"
	"golang.org/x/oauth2"
)

// profileUser is the admin API's user view with the profile fields.
type profileUser struct {
	ID            string            `json:"id"`
	Email         string            `json:"email"`
	Name          string            `json:"name"`
	GivenName     string            `json:"given_name"`
	FamilyName    string            `json:"family_name"`
	EmailVerified bool              `json:"email_verified"`
	PhoneNumber   string            `json:"phone_number"`
	Locale        string            `json:"locale"`
	Picture       string            `json:"picture"`
	MFARequired   bool              `json:"mfa_required"`
	Attributes    map[string]string `json:"attributes"`
}

// TestUserProfileFields: the admin API takes, validates and shows the
// OIDC profile fields (OIDC Core §5.1), mfa_required and attributes.
func TestUserProfileFields(t *testing.T) {
	in := start(t, "")
	body := map[string]any{"username": "gina", "password": "password-of-gina", "email": "gina@example.com", "roles": []string{"editor"},
		"name": "Gina Gómez", "given_name": "Gina", "family_name": "Gómez", "email_verified": true,
		"phone_number": "+1 (425) 555-1212", "locale": "es-MX", "picture": "https://img.example/gina.png",
		"mfa_required": true, "attributes": map[string]string{"department": "news"}}
	var u profileUser
	if st := in.admin(http.MethodPost, "/admin/users", body, &u); st != http.StatusCreated {
		t.Fatalf("create: %d", st)
	}
	want := profileUser{ID: u.ID, Email: "gina@example.com", Name: "Gina Gómez", GivenName: "Gina", FamilyName: "Gómez", EmailVerified: true,
		PhoneNumber: "+1 (425) 555-1212", Locale: "es-MX", Picture: "https://img.example/gina.png", MFARequired: true,
		Attributes: map[string]string{"department": "news"}}
	var got profileUser
	in.admin(http.MethodGet, "/admin/users/"+u.ID, nil, &got)
	if !equalJSON(t, got, want) {
		t.Fatalf("GET user = %+v; want %+v", got, want)
	}
	// PATCH: changed fields change, others stay; a new email is unverified.
	var p profileUser
	if st := in.admin(http.MethodPatch, "/admin/users/"+u.ID, map[string]any{"email": "g@example.org", "locale": "", "mfa_required": false}, &p); st != http.StatusOK {
		t.Fatalf("patch: %d", st)
	}
	if p.Email != "g@example.org" || p.EmailVerified || p.Locale != "" || p.MFARequired || p.Name != "Gina Gómez" || p.PhoneNumber != want.PhoneNumber {
		t.Errorf("after patch %+v", p)
	}
	for name, bad := range map[string]map[string]any{
		"email":          {"email": "not-an-address"},
		"picture http":   {"picture": "http://img.example/a.png"},
		"picture junk":   {"picture": "javascript:alert(1)"},
		"locale":         {"locale": "english please"},
		"phone":          {"phone_number": "call me"},
		"long name":      {"name": strings.Repeat("n", 257)},
		"control char":   {"given_name": "a\x00b"},
		"attribute name": {"attributes": map[string]string{"a b": "x"}},
		"attribute size": {"attributes": map[string]string{"k": strings.Repeat("v", 1025)}},
		"too many attrs": {"attributes": manyAttributes(33)},
	} {
		if st := in.admin(http.MethodPatch, "/admin/users/"+u.ID, bad, nil); st != http.StatusBadRequest {
			t.Errorf("PATCH %s: %d; want 400", name, st)
		}
		create := map[string]any{"username": "x-" + strings.ReplaceAll(name, " ", "-"), "password": "password-long-enough"}
		for k, v := range bad {
			create[k] = v
		}
		if st := in.admin(http.MethodPost, "/admin/users", create, nil); st != http.StatusBadRequest {
			t.Errorf("POST %s: %d; want 400", name, st)
		}
	}
}

func manyAttributes(n int) map[string]string {
	m := map[string]string{}
	for i := range n {
		m["k"+strings.Repeat("x", i)] = "v"
	}
	return m
}

func equalJSON(t *testing.T, a, b any) bool {
	t.Helper()
	x, _ := json.Marshal(a)
	y, _ := json.Marshal(b)
	return string(x) == string(y)
}

// codeLogin runs a code flow for scope (and extra authorization
// parameters) with consent allowed, and returns the token.
func codeLogin(t *testing.T, in *instance, r rp, username, pw, scope string, extra ...string) *oauth2.Token {
	t.Helper()
	b := browser(t)
	resp, page := signIn(t, in, b, r.authURL(scope, extra...), username, pw)
	if isConsentPage(resp, page) {
		resp, _ = consent(t, in, b, page, "allow")
	}
	tok, err := r.conf.Exchange(context.Background(), codeOf(t, resp, r.conf.RedirectURL))
	if err != nil {
		t.Fatalf("exchange: %v", err)
	}
	return tok
}

// TestStandardClaims: scopes release the standard claims in userinfo
// (OIDC Core §5.4) — OpenID Foundation modules oidcc-scope-profile,
// oidcc-scope-email, oidcc-scope-phone, oidcc-scope-all — and the claims
// parameter (§5.5) asks for single claims in the ID token and userinfo
// (oidcc-claims-essential); unknown claims are ignored, a malformed
// parameter is invalid_request. Checked with go-oidc on bolt and Redis.
func TestStandardClaims(t *testing.T) {
	forEachStore(t, func(t *testing.T, storeArgs []string) {
		in := start(t, "", storeArgs...)
		ctx := context.Background()
		const redirect = "http://127.0.0.1:9999/cb"
		r := newRP(t, in, "Claims", redirect, "openid profile email phone roles", map[string]any{"skip_consent": true})
		var u profileUser
		in.admin(http.MethodPost, "/admin/users", map[string]any{"username": "hana", "password": "password-of-hana",
			"email": "hana@example.com", "email_verified": true, "roles": []string{"ops"}, "name": "Hana Ito", "given_name": "Hana",
			"family_name": "Ito", "phone_number": "+81 3 1234 5678", "locale": "ja-JP", "picture": "https://img.example/hana.png"}, &u)
		provider, err := oidc.NewProvider(ctx, in.Issuer)
		if err != nil {
			t.Fatal(err)
		}
		var disco struct {
			Claims         []string `json:"claims_supported"`
			Scopes         []string `json:"scopes_supported"`
			ClaimsParam    bool     `json:"claims_parameter_supported"`
			RequestParam   *bool    `json:"request_parameter_supported"`
			RequestURIParm *bool    `json:"request_uri_parameter_supported"`
			Modes          []string `json:"response_modes_supported"`
		}
		provider.Claims(&disco)
		for _, c := range []string{"name", "given_name", "family_name", "email_verified", "phone_number", "locale", "picture"} {
			if !strings.Contains(strings.Join(disco.Claims, " "), c) {
				t.Errorf("claims_supported lacks %s: %v", c, disco.Claims)
			}
		}
		if !disco.ClaimsParam || disco.RequestParam == nil || *disco.RequestParam || disco.RequestURIParm == nil || *disco.RequestURIParm ||
			strings.Join(disco.Modes, " ") != "query form_post" || !strings.Contains(strings.Join(disco.Scopes, " "), "phone roles") {
			t.Errorf("discovery: %+v", disco)
		}
		userinfo := func(tok *oauth2.Token) map[string]any {
			t.Helper()
			info, err := provider.UserInfo(ctx, oauth2.StaticTokenSource(tok))
			if err != nil {
				t.Fatalf("userinfo: %v", err)
			}
			var m map[string]any
			if err := info.Claims(&m); err != nil {
				t.Fatal(err)
			}
			return m
		}
		idClaims := func(tok *oauth2.Token) map[string]any {
			t.Helper()
			idt, err := provider.Verifier(&oidc.Config{ClientID: r.c.ClientID}).Verify(ctx, tok.Extra("id_token").(string))
			if err != nil {
				t.Fatalf("ID token: %v", err)
			}
			var m map[string]any
			idt.Claims(&m)
			return m
		}
		keys := func(m map[string]any, names ...string) string {
			var out []string
			for _, n := range names {
				if _, ok := m[n]; ok {
					out = append(out, n)
				}
			}
			return strings.Join(out, " ")
		}
		all := []string{"name", "given_name", "family_name", "preferred_username", "picture", "locale", "updated_at", "email", "email_verified", "phone_number", "roles"}
		for _, tc := range []struct{ module, scope, want string }{
			{"oidcc-scope-profile", "openid profile", "name given_name family_name preferred_username picture locale updated_at"},
			{"oidcc-scope-email", "openid email", "email email_verified"},
			{"oidcc-scope-phone", "openid phone", "phone_number"},
			{"roles", "openid roles", "roles"},
			{"oidcc-scope-all", "openid profile email phone roles", strings.Join(all, " ")},
			{"openid only", "openid", ""},
		} {
			t.Run(tc.module, func(t *testing.T) {
				info := userinfo(codeLogin(t, in, r, "hana", "password-of-hana", tc.scope))
				if got := keys(info, all...); got != tc.want || info["sub"] != u.ID {
					t.Errorf("userinfo for %q has %q (sub %v); want %q", tc.scope, got, info["sub"], tc.want)
				}
				if tc.want != "" && strings.Contains(tc.want, "name") && (info["name"] != "Hana Ito" || info["locale"] != "ja-JP") {
					t.Errorf("values: %v", info)
				}
				if strings.Contains(tc.want, "email_verified") && info["email_verified"] != true {
					t.Errorf("email_verified %v", info["email_verified"])
				}
			})
		}
		t.Run("oidcc-claims-essential", func(t *testing.T) {
			claims := `{"id_token":{"given_name":{"essential":true},"unknown_claim":null},"userinfo":{"phone_number":{"essential":true},"locale":null},"other":{}}`
			tok := codeLogin(t, in, r, "hana", "password-of-hana", "openid", "claims", claims)
			id := idClaims(tok)
			if id["given_name"] != "Hana" || id["unknown_claim"] != nil || id["phone_number"] != nil {
				t.Errorf("ID token claims %v; want given_name only", id)
			}
			info := userinfo(tok)
			if got := keys(info, all...); got != "locale phone_number" {
				t.Errorf("userinfo has %q; want the claims parameter's locale phone_number", got)
			}
		})
		t.Run("malformed claims parameter", func(t *testing.T) {
			for _, bad := range []string{`not json`, `["given_name"]`, `{"id_token":["given_name"]}`, `{"userinfo":{"name":true}}`, strings.Repeat(" ", 4097)} {
				resp, _ := get(t, browser(t), r.authURL("openid", "claims", bad))
				loc, _ := url.Parse(resp.Header.Get("Location"))
				if resp.StatusCode != http.StatusSeeOther || loc.Query().Get("error") != "invalid_request" {
					t.Errorf("claims=%.20q: %d %s; want invalid_request back to the client", bad, resp.StatusCode, loc)
				}
			}
		})
	})
}
