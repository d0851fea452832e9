package app_test

import (
	"encoding/json"
	"net/http"
	"net/url"
	"slices"
	"testing"
	"time"
)

// Token exchange (RFC 8693) over HTTP on both stores. Services "svc" and
// "backend" exchange by delegation, "imp" may impersonate and ask for
// refresh tokens; "front" logs users in with tokens addressed to them; the
// act claim is checked with a second JOSE library (lestrrat-go/jwx).

const (
	grantTokenExchange = "urn:ietf:params:oauth:grant-type:token-exchange"
	tokenTypeAccess    = "urn:ietf:params:oauth:token-type:access_token"
	tokenTypeRefresh   = "urn:ietf:params:oauth:token-type:refresh_token"
	tokenTypeID        = "urn:ietf:params:oauth:token-type:id_token"
	tokenTypeJWT       = "urn:ietf:params:oauth:token-type:jwt"
)

// exchangeAnswer is a token-exchange response (RFC 8693 §2.2), success or
// error, with its raw members.
type exchangeAnswer struct {
	Status int
	Header http.Header
	Raw    map[string]any
}

func (a exchangeAnswer) str(k string) string { s, _ := a.Raw[k].(string); return s }

// exchange posts a token-exchange request for c with Basic credentials.
func (in *instance) exchange(c registeredClient, form url.Values) exchangeAnswer {
	in.t.Helper()
	form.Set("grant_type", grantTokenExchange)
	var a exchangeAnswer
	a.Status, a.Header = doJSON(in.t, in.formPost("/oauth2/token", form, c.ClientID, c.ClientSecret), "token endpoint", &a.Raw)
	return a
}

func TestTokenExchange(t *testing.T) {
	forEachStore(t, func(t *testing.T, storeArgs []string) {
		clk := newFakeClock(time.Now())
		in := startWith(t, clk.Now, "", storeArgs...)
		var alice struct{ ID string }
		if st := in.admin(http.MethodPost, "/admin/users", map[string]any{"username": "alice", "password": "password-of-alice",
			"roles": []string{"reader"}}, &alice); st != http.StatusCreated {
			t.Fatalf("create user: %d", st)
		}
		tx := grantTokenExchange
		front := in.createClient(map[string]any{"client_id": "front", "grant_types": []string{"password", "refresh_token"},
			"scope": "openid read write", "audience": []string{"svc", "imp", "stranger-api"}})
		svc := in.createClient(map[string]any{"client_id": "svc", "grant_types": []string{"client_credentials", tx},
			"scope": "read write", "audience": []string{"backend", "https://other.example"}})
		imp := in.createClient(map[string]any{"client_id": "imp", "grant_types": []string{tx, "refresh_token"},
			"scope": "read", "audience": []string{"https://backend.example"},
			"token_exchange_impersonation": true, "token_exchange_refresh": true})
		backend := in.createClient(map[string]any{"client_id": "backend", "grant_types": []string{"client_credentials", tx},
			"scope": "read", "audience": []string{"https://db.example"}})
		stranger := in.createClient(map[string]any{"client_id": "stranger", "grant_types": []string{tx},
			"scope": "read", "audience": []string{"https://x.example"}, "token_exchange_impersonation": true})
		worker := in.createClient(map[string]any{"client_id": "worker", "scope": "jobs"})
		plain := in.createClient(map[string]any{"client_id": "plain", "scope": "read", "audience": []string{"https://x.example"}})

		login := func(scope string) tokenResponse {
			t.Helper()
			form := url.Values{"grant_type": {"password"}, "username": {"alice"}, "password": {"password-of-alice"}}
			if scope != "" {
				form.Set("scope", scope)
			}
			tr := in.token(front.ClientID, front.ClientSecret, form)
			if tr.Status != http.StatusOK {
				t.Fatalf("password login: %d %s", tr.Status, tr.Error)
			}
			return tr
		}
		clientToken := func(c registeredClient) string {
			t.Helper()
			tr := in.token(c.ClientID, c.ClientSecret, url.Values{"grant_type": {"client_credentials"}})
			if tr.Status != http.StatusOK {
				t.Fatalf("client_credentials %s: %d %s", c.ClientID, tr.Status, tr.Error)
			}
			return tr.AccessToken
		}
		delegation := func(subject string, pairs ...string) url.Values {
			v := url.Values{"subject_token": {subject}, "subject_token_type": {tokenTypeAccess},
				"actor_token": {clientToken(worker)}, "actor_token_type": {tokenTypeAccess}}
			for i := 0; i+1 < len(pairs); i += 2 {
				v.Set(pairs[i], pairs[i+1])
			}
			return v
		}
		wantError := func(t *testing.T, a exchangeAnswer, code string) {
			t.Helper()
			if a.Status != http.StatusBadRequest || a.str("error") != code {
				t.Errorf("answer %d %v; want 400 %s", a.Status, a.Raw, code)
			}
			if cc := a.Header.Get("Cache-Control"); cc != "no-store" {
				t.Errorf("Cache-Control %q; want no-store", cc)
			}
		}
		ok := func(t *testing.T, a exchangeAnswer) {
			t.Helper()
			if a.Status != http.StatusOK {
				t.Fatalf("exchange: %d %v", a.Status, a.Raw)
			}
		}

		t.Run("discovery lists the grant", func(t *testing.T) {
			var doc struct {
				Grants []string `json:"grant_types_supported"`
			}
			resp, err := http.Get(in.Public.URL + "/.well-known/oauth-authorization-server")
			if err != nil {
				t.Fatal(err)
			}
			defer resp.Body.Close()
			json.NewDecoder(resp.Body).Decode(&doc)
			if !slices.Contains(doc.Grants, grantTokenExchange) {
				t.Errorf("grant_types_supported %v lacks token exchange", doc.Grants)
			}
		})

		t.Run("delegation carries act, verified by jwx", func(t *testing.T) {
			subject := login("")
			a := in.exchange(svc, delegation(subject.AccessToken))
			ok(t, a)
			if a.str("issued_token_type") != tokenTypeAccess || a.str("token_type") != "Bearer" || a.Raw["expires_in"] != float64(900) ||
				a.str("scope") != "read write" || a.Header.Get("Cache-Control") != "no-store" {
				t.Errorf("response %v (Cache-Control %q)", a.Raw, a.Header.Get("Cache-Control"))
			}
			tok := verifyWithJWX(t, in, a.str("access_token"), "backend")
			var act map[string]any
			if err := tok.Get("act", &act); err != nil {
				t.Fatalf("act: %v", err)
			}
			if act["sub"] != "worker" || act["client_id"] != "worker" || act["act"] != nil {
				t.Errorf("act %v; want the worker client", act)
			}
			cl, sub := decodeClaims(t, a.str("access_token")), decodeClaims(t, subject.AccessToken)
			if cl["sub"] != alice.ID || cl["client_id"] != "svc" || cl["sid"] != sub["sid"] || cl["sid"] == nil ||
				!equalJSON(t, cl["roles"], []string{"reader"}) {
				t.Errorf("claims %v; want alice's sub, sid and roles, client_id svc", cl)
			}
			if in := introspectRaw(t, in, svc, a.str("access_token")); in["active"] != true || !equalJSON(t, in["act"], act) {
				t.Errorf("introspection %v; want active with act", in)
			}
		})

		t.Run("nested act chain", func(t *testing.T) {
			first := in.exchange(svc, delegation(login("").AccessToken))
			ok(t, first)
			a := in.exchange(backend, url.Values{"subject_token": {first.str("access_token")}, "subject_token_type": {tokenTypeAccess},
				"actor_token": {clientToken(backend)}, "actor_token_type": {tokenTypeJWT}})
			ok(t, a)
			tok := verifyWithJWX(t, in, a.str("access_token"), "https://db.example")
			var act map[string]any
			if err := tok.Get("act", &act); err != nil {
				t.Fatalf("act: %v", err)
			}
			want := map[string]any{"sub": "backend", "client_id": "backend", "act": map[string]any{"sub": "worker", "client_id": "worker"}}
			if !equalJSON(t, act, want) {
				t.Errorf("act %v; want %v (RFC 8693 §4.1: the current actor outermost)", act, want)
			}
			if sub, _ := tok.Subject(); sub != alice.ID {
				t.Error("the chain lost the subject")
			}
		})

		t.Run("impersonation refused without metadata", func(t *testing.T) {
			wantError(t, in.exchange(svc, url.Values{"subject_token": {login("").AccessToken}, "subject_token_type": {tokenTypeAccess}}), "invalid_request")
		})

		t.Run("impersonation allowed by metadata", func(t *testing.T) {
			a := in.exchange(imp, url.Values{"subject_token": {login("").AccessToken}, "subject_token_type": {tokenTypeAccess}})
			ok(t, a)
			verifyWithJWX(t, in, a.str("access_token"), "https://backend.example")
			claims := decodeClaims(t, a.str("access_token"))
			if claims["act"] != nil || claims["sub"] != alice.ID || claims["client_id"] != "imp" || claims["scope"] != "read" {
				t.Errorf("claims %v; want alice's without act, scope read", claims)
			}
		})

		t.Run("subject not addressed to the client", func(t *testing.T) {
			wantError(t, in.exchange(stranger, delegation(login("").AccessToken)), "invalid_grant")
		})

		t.Run("revoked subject token", func(t *testing.T) {
			subject := login("")
			if st := in.revoke(front, subject.AccessToken, "access_token"); st != http.StatusOK {
				t.Fatalf("revoke: %d", st)
			}
			wantError(t, in.exchange(svc, delegation(subject.AccessToken)), "invalid_grant")
		})

		t.Run("derived token ends with the login", func(t *testing.T) {
			subject := login("")
			a := in.exchange(svc, delegation(subject.AccessToken))
			ok(t, a)
			if st := in.revoke(front, subject.RefreshToken, "refresh_token"); st != http.StatusOK {
				t.Fatalf("revoke: %d", st)
			}
			if in := introspectRaw(t, in, svc, a.str("access_token")); in["active"] != false {
				t.Errorf("derived token %v after its login was revoked; want inactive", in)
			}
		})

		t.Run("audience outside the client's", func(t *testing.T) {
			wantError(t, in.exchange(svc, delegation(login("").AccessToken, "audience", "https://evil.example")), "invalid_target")
			wantError(t, in.exchange(svc, delegation(login("").AccessToken, "resource", "https://evil.example/api")), "invalid_target")
			a := in.exchange(svc, delegation(login("").AccessToken, "resource", "https://other.example"))
			ok(t, a)
			verifyWithJWX(t, in, a.str("access_token"), "https://other.example")
		})

		t.Run("scope", func(t *testing.T) {
			// Wider than the subject token's (read), within the client's.
			wantError(t, in.exchange(svc, delegation(login("read").AccessToken, "scope", "read write")), "invalid_scope")
			// Outside the client's.
			wantError(t, in.exchange(svc, delegation(login("").AccessToken, "scope", "openid")), "invalid_scope")
			// Narrowed: asked read of a read-write subject.
			a := in.exchange(svc, delegation(login("").AccessToken, "scope", "read"))
			ok(t, a)
			if decodeClaims(t, a.str("access_token"))["scope"] != "read" {
				t.Errorf("scope %v; want read", a.Raw["scope"])
			}
		})

		t.Run("ID token as subject", func(t *testing.T) {
			r := newRP(t, in, "id-svc", "http://127.0.0.1:9/cb", "openid", map[string]any{"client_id": "id-svc",
				"grant_types": []string{"authorization_code", tx}, "audience": []string{"https://backend.example"}, "skip_consent": true})
			idToken, _ := codeLogin(t, in, r, "alice", "password-of-alice", "openid").Extra("id_token").(string)
			if idToken == "" {
				t.Fatal("no ID token")
			}
			form := url.Values{"subject_token": {idToken}, "subject_token_type": {tokenTypeID},
				"actor_token": {clientToken(worker)}, "actor_token_type": {tokenTypeAccess}}
			a := in.exchange(r.c, form)
			ok(t, a)
			verifyWithJWX(t, in, a.str("access_token"), "https://backend.example")
			if c := decodeClaims(t, a.str("access_token")); c["sub"] != alice.ID || c["client_id"] != "id-svc" {
				t.Errorf("claims %v", c)
			}
			// The same ID token is not addressed to svc.
			form.Set("actor_token", clientToken(worker))
			wantError(t, in.exchange(svc, form), "invalid_grant")
		})

		t.Run("refresh token requested", func(t *testing.T) {
			wantError(t, in.exchange(svc, delegation(login("").AccessToken, "requested_token_type", tokenTypeRefresh)), "invalid_request")
			a := in.exchange(imp, url.Values{"subject_token": {login("").AccessToken}, "subject_token_type": {tokenTypeAccess},
				"requested_token_type": {tokenTypeRefresh}})
			ok(t, a)
			if a.str("issued_token_type") != tokenTypeRefresh || a.str("token_type") != "N_A" {
				t.Errorf("response %v", a.Raw)
			}
			tr := in.token(imp.ClientID, imp.ClientSecret, url.Values{"grant_type": {"refresh_token"}, "refresh_token": {a.str("access_token")}})
			if tr.Status != http.StatusOK {
				t.Fatalf("refresh with the exchanged token: %d %s", tr.Status, tr.Error)
			}
			if c := decodeClaims(t, tr.AccessToken); c["sub"] != alice.ID || c["client_id"] != "imp" {
				t.Errorf("refreshed claims %v", c)
			}
			// A client subject has no user login to refresh.
			wantError(t, in.exchange(imp, url.Values{"subject_token": {clientTokenFor(t, in, plain, "imp")},
				"subject_token_type": {tokenTypeAccess}, "requested_token_type": {tokenTypeRefresh}}), "invalid_request")
		})

		t.Run("client without the grant", func(t *testing.T) {
			wantError(t, in.exchange(plain, delegation(login("").AccessToken)), "unauthorized_client")
		})

		t.Run("invalid_request", func(t *testing.T) {
			subject := login("").AccessToken
			for name, form := range map[string]url.Values{
				"no subject_token":         {"subject_token_type": {tokenTypeAccess}},
				"no subject_token_type":    {"subject_token": {subject}},
				"unsupported subject type": {"subject_token": {subject}, "subject_token_type": {"urn:example:saml"}},
				"refresh token as subject": {"subject_token": {subject}, "subject_token_type": {tokenTypeRefresh}},
				"actor without type":       {"subject_token": {subject}, "subject_token_type": {tokenTypeAccess}, "actor_token": {clientToken(worker)}},
				"actor type without token": {"subject_token": {subject}, "subject_token_type": {tokenTypeAccess}, "actor_token_type": {tokenTypeAccess}},
				"unsupported requested":    delegation(subject, "requested_token_type", tokenTypeID),
				"repeated subject_token":   {"subject_token": {subject, subject}, "subject_token_type": {tokenTypeAccess}},
			} {
				t.Run(name, func(t *testing.T) { wantError(t, in.exchange(svc, form), "invalid_request") })
			}
		})

		t.Run("invalid_grant for bad tokens", func(t *testing.T) {
			wantError(t, in.exchange(svc, delegation("a.b.c")), "invalid_grant")
			form := delegation(login("").AccessToken)
			form.Set("actor_token", foreignJWT(t))
			wantError(t, in.exchange(svc, form), "invalid_grant")
		})

		// Last: it moves the clock past every token issued so far.
		t.Run("expired subject token", func(t *testing.T) {
			subject := login("")
			actor := clientToken(worker)
			clk.Add(16 * time.Minute)
			wantError(t, in.exchange(svc, url.Values{"subject_token": {subject.AccessToken}, "subject_token_type": {tokenTypeAccess},
				"actor_token": {actor}, "actor_token_type": {tokenTypeAccess}}), "invalid_grant")
		})
	})
}

// clientTokenFor is a client_credentials token of c addressed to aud,
// which the admin API first adds to c's audience.
func clientTokenFor(t *testing.T, in *instance, c registeredClient, aud string) string {
	t.Helper()
	var meta map[string]any
	if st := in.admin(http.MethodGet, "/admin/clients/"+c.ClientID, nil, &meta); st != http.StatusOK {
		t.Fatalf("get client: %d", st)
	}
	auds, _ := meta["audience"].([]any)
	meta["audience"] = append(auds, aud)
	if st := in.admin(http.MethodPut, "/admin/clients/"+c.ClientID, meta, nil); st != http.StatusOK {
		t.Fatalf("update client: %d", st)
	}
	tr := in.token(c.ClientID, c.ClientSecret, url.Values{"grant_type": {"client_credentials"}, "audience": {aud}})
	if tr.Status != http.StatusOK {
		t.Fatalf("client_credentials: %d %s", tr.Status, tr.Error)
	}
	return tr.AccessToken
}
