package main

import (
	"context"
	"encoding/base64"
	"fmt"
	"math"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/go-jose/go-jose/v4"
)

const jws = "eyJhbGciOiJFUzI1NiJ9.eyJzdWIiOiJ4In0.c2ln"

// TestChecks: each scenario's check accepts the answer a working authd
// gives and refuses the 200s that are not successes.
func TestChecks(t *testing.T) {
	jwks := `{"keys":[{"kty":"EC","kid":"k1","use":"sig","alg":"ES256","crv":"P-256","x":"x","y":"y"}]}`
	var pushed []string
	seen := map[string]struct{}{"rt-0": {}}
	rotate := rotationCheck(seen, func(rt string) { pushed = append(pushed, rt) })
	polls := map[string]int{}
	actJWS := func(claims string) string {
		return "eyJhbGciOiJFUzI1NiJ9." + base64.RawURLEncoding.EncodeToString([]byte(claims)) + ".c2ln"
	}
	exchanged := func(claims string) string {
		return `{"access_token":"` + actJWS(claims) + `","token_type":"Bearer","expires_in":900,"issued_token_type":"` + tokenTypeAccess + `"}`
	}
	for _, tc := range []struct {
		name    string
		check   check
		body    string
		wantErr string // "" for a success
	}{
		{"token", tokenCheck, `{"access_token":"` + jws + `","token_type":"Bearer","expires_in":900}`, ""},
		{"token type is case-insensitive", tokenCheck, `{"access_token":"` + jws + `","token_type":"bearer","expires_in":900}`, ""},
		{"token: an error object", tokenCheck, `{"error":"invalid_client"}`, "no access_token"},
		{"token: not a JWS", tokenCheck, `{"access_token":"opaque","token_type":"Bearer","expires_in":900}`, "no access_token"},
		{"token: wrong type", tokenCheck, `{"access_token":"` + jws + `","token_type":"DPoP","expires_in":900}`, "token_type"},
		{"token: no lifetime", tokenCheck, `{"access_token":"` + jws + `","token_type":"Bearer"}`, "expires_in"},
		{"token: not JSON", tokenCheck, `<html>`, "not JSON"},
		{"rotation", rotate, `{"access_token":"` + jws + `","token_type":"Bearer","expires_in":900,"refresh_token":"rt-1"}`, ""},
		{"rotation: the same successor again", rotate, `{"access_token":"` + jws + `","token_type":"Bearer","expires_in":900,"refresh_token":"rt-1"}`, "already issued"},
		{"rotation: the presented token back", rotate, `{"access_token":"` + jws + `","token_type":"Bearer","expires_in":900,"refresh_token":"rt-0"}`, "already issued"},
		{"rotation: no refresh token", rotate, `{"access_token":"` + jws + `","token_type":"Bearer","expires_in":900}`, "no refresh_token"},
		{"rotation: no access token", rotate, `{"refresh_token":"rt-2"}`, "no access_token"},
		{"introspection", introspectionCheck("svc"), `{"active":true,"client_id":"svc","sub":"u"}`, ""},
		{"introspection: inactive", introspectionCheck("svc"), `{"active":false}`, "not active"},
		{"introspection: someone else's token", introspectionCheck("svc"), `{"active":true,"client_id":"other"}`, `client_id "other"`},
		{"introspection: not JSON", introspectionCheck("svc"), ``, "not JSON"},
		{"JWKS body as validated", sameBodyCheck([]byte(jwks)), jwks, ""},
		{"JWKS body changed", sameBodyCheck([]byte(jwks)), `{"keys":[]}`, "differs"},
		{"304 empty", emptyBodyCheck, ``, ""},
		{"304 with a body", emptyBodyCheck, `{}`, "body"},
		{"JWKS", jwksCheck, jwks, ""},
		{"DPoP token", dpopTokenCheck, `{"access_token":"` + jws + `","token_type":"DPoP","expires_in":900}`, ""},
		{"DPoP token: a bearer one", dpopTokenCheck, `{"access_token":"` + jws + `","token_type":"Bearer","expires_in":900}`, "want DPoP"},
		{"device poll pending", devicePendingCheck(polls), `{"error":"authorization_pending"}`, ""},
		{"device poll slow_down", devicePendingCheck(polls), `{"error":"slow_down"}`, ""},
		{"device poll: an invalid code", devicePendingCheck(polls), `{"error":"invalid_grant"}`, `"invalid_grant"`},
		{"device poll: not JSON", devicePendingCheck(polls), `<html>`, "not JSON"},
		{"token exchange", exchangeCheck("worker"), exchanged(`{"sub":"u","act":{"sub":"worker","client_id":"worker"}}`), ""},
		{"token exchange: no act", exchangeCheck("worker"), exchanged(`{"sub":"u"}`), "act names client"},
		{"token exchange: another actor", exchangeCheck("worker"), exchanged(`{"sub":"u","act":{"client_id":"x"}}`), `"x"`},
		{"token exchange: no issued_token_type", exchangeCheck("worker"), `{"access_token":"` + jws + `","token_type":"Bearer","expires_in":900}`, "issued_token_type"},
		{"JWKS: empty", jwksCheck, `{"keys":[]}`, "no keys"},
		{"JWKS: no kid", jwksCheck, `{"keys":[{"kty":"EC","alg":"ES256"}]}`, "no kid"},
		{"JWKS: an encryption key", jwksCheck, `{"keys":[{"kty":"EC","kid":"k","alg":"ES256","use":"enc"}]}`, "use"},
		{"JWKS: a private key", jwksCheck, `{"keys":[{"kty":"EC","kid":"k","alg":"ES256","d":"secret"}]}`, `private member "d"`},
	} {
		err := tc.check([]byte(tc.body))
		switch {
		case tc.wantErr == "" && err != nil:
			t.Errorf("%s: %v; want a success", tc.name, err)
		case tc.wantErr != "" && (err == nil || !strings.Contains(err.Error(), tc.wantErr)):
			t.Errorf("%s: %v; want an error about %q", tc.name, err, tc.wantErr)
		}
	}
	if polls["authorization_pending"] != 1 || polls["slow_down"] != 1 {
		t.Errorf("device polls counted %v; want one of each", polls)
	}
	if len(pushed) != 1 || pushed[0] != "rt-1" {
		t.Errorf("rotation pushed %q; want only the one new successor [rt-1]", pushed)
	}
}

// TestAttackCountsOnlyCheckedAnswers runs attack against a server whose
// every answer is a 200 but only every other one reports the token
// active: exactly the active ones count, and the first error says why.
// A scenario without a check counts nothing.
func TestAttackCountsOnlyCheckedAnswers(t *testing.T) {
	var served, active atomic.Int64
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		if served.Add(1)%2 == 0 {
			active.Add(1)
			fmt.Fprint(w, `{"active":true,"client_id":"svc"}`)
			return
		}
		fmt.Fprint(w, `{"active":false}`)
	}))
	defer srv.Close()
	ctx := context.Background()
	atk := attackOptions{Workers: 2, Duration: 200 * time.Millisecond}

	in := &instance{introspectURL: srv.URL}
	out := attack(ctx, introspection("half inactive", in, client{ID: "rs", Secret: "s"}, "tok", "svc"), atk)
	if out.Requests == 0 || int64(out.Requests) != served.Load() {
		t.Fatalf("requests %d, served %d", out.Requests, served.Load())
	}
	if ok := int64(math.Round(out.Success * float64(out.Requests))); ok != active.Load() {
		t.Errorf("%d successes counted; the server answered active %d times of %d", ok, active.Load(), out.Requests)
	}
	if !strings.Contains(out.FirstError, "HTTP 200 but introspection answer says the token is not active") {
		t.Errorf("first error %q; want the inactive 200 named", out.FirstError)
	}

	unchecked := attack(ctx, scenario{Name: "no check", Targeter: staticTarget(http.MethodGet, srv.URL, nil, nil)}, atk)
	if unchecked.Requests == 0 || unchecked.Success != 0 || !strings.Contains(unchecked.FirstError, "no body check") {
		t.Errorf("a scenario without a check: %+v; want no success and the missing check named", unchecked)
	}
}

// TestRotationRecyclesOnlyNewSuccessors: a token endpoint that hands the
// presented refresh token back instead of a new one (no rotation) fails
// the rotation scenario, and its chains are not recycled.
func TestRotationRecyclesOnlyNewSuccessors(t *testing.T) {
	var n atomic.Int64
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		rt := r.PostFormValue("refresh_token")
		if i := n.Add(1); i%3 != 0 { // two of three rotate
			rt = fmt.Sprintf("rt-%d", i)
		}
		fmt.Fprintf(w, `{"access_token":%q,"token_type":"Bearer","expires_in":60,"refresh_token":%q}`, jws, rt)
	}))
	defer srv.Close()
	in := &instance{tokenURL: srv.URL}
	out := attack(context.Background(), rotation("rotation", in, client{ID: "c", Secret: "s"}, []string{"first-a", "first-b"}),
		attackOptions{Workers: 2, Duration: 100 * time.Millisecond})
	if out.Success >= 1 || out.Success == 0 {
		t.Errorf("success %.2f; want some answers refused (the ones without a new refresh token)", out.Success)
	}
	if !strings.Contains(out.FirstError, "repeats a refresh token") {
		t.Errorf("first error %q; want the repeated refresh token named", out.FirstError)
	}
}

// BenchmarkCheckCost: what checking one answer's body adds to the load
// generator's CPU, beside the bare ES256 signature of the same run (the
// baseline the report divides by). A real ES256 token response is the body.
func BenchmarkCheckCost(b *testing.B) {
	signer, err := newBareSigner(jose.ES256)
	if err != nil {
		b.Fatal(err)
	}
	jwsObj, err := signer.Sign(benchClaims)
	if err != nil {
		b.Fatal(err)
	}
	at, err := jwsObj.CompactSerialize()
	if err != nil {
		b.Fatal(err)
	}
	token := []byte(`{"access_token":"` + at + `","token_type":"Bearer","expires_in":900,"scope":"read"}`)
	intro := []byte(`{"active":true,"client_id":"loadtest-client-es256","sub":"loadtest-client-es256","scope":"read","exp":1767225600,"iat":1767224700,"iss":"http://127.0.0.1:8080","jti":"3q2-7wAAAAAAAAAAAAAAAA","token_type":"Bearer","aud":"http://127.0.0.1:8080"}`)
	b.Run("baseline: bare ES256 sign", func(b *testing.B) {
		for range b.N {
			if _, err := signer.Sign(benchClaims); err != nil {
				b.Fatal(err)
			}
		}
	})
	b.Run("token check", func(b *testing.B) {
		for range b.N {
			if err := tokenCheck(token); err != nil {
				b.Fatal(err)
			}
		}
	})
	b.Run("introspection check", func(b *testing.B) {
		c := introspectionCheck("loadtest-client-es256")
		for range b.N {
			if err := c(intro); err != nil {
				b.Fatal(err)
			}
		}
	})
}

// TestCodeRedirect: a silent authorization succeeds only as a 303 to the
// client's redirect_uri with a code, the state and the issuer.
func TestCodeRedirect(t *testing.T) {
	const cb, iss = "http://127.0.0.1:9/cb", "http://127.0.0.1:8080"
	for _, tc := range []struct {
		name, loc string
		status    int
		wantErr   string
	}{
		{"code", cb + "?code=c&state=loadtest&iss=" + iss, 303, ""},
		{"not a redirect", "", 200, "status 200"},
		{"login_required", cb + "?error=login_required&state=loadtest&iss=" + iss, 303, "login_required"},
		{"elsewhere", "http://evil.example/cb?code=c&state=loadtest&iss=" + iss, 303, "redirect_uri"},
		{"no code", cb + "?state=loadtest&iss=" + iss, 303, "no code"},
		{"wrong iss", cb + "?code=c&state=loadtest&iss=http://other", 303, "iss"},
	} {
		err := codeRedirect(tc.status, tc.loc, cb, iss)
		if (tc.wantErr == "") != (err == nil) || (err != nil && !strings.Contains(err.Error(), tc.wantErr)) {
			t.Errorf("%s: %v; want %q", tc.name, err, tc.wantErr)
		}
	}
}
