package main

import (
	"context"
	"encoding/json"
	"io"
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/authd-dev/authd/internal/authdtest"
)

// TestResourceServerAgainstAuthd runs the example, as `make example` does
// (run with flags), against a real authd and checks every route's answer,
// and that a token revoked at authd is refused within one second through
// the revocation feed.
func TestResourceServerAgainstAuthd(t *testing.T) {
	a := authdtest.Start(t)
	const api = "https://api.example.com"
	feedReader := a.CreateClient(map[string]any{"client_name": "example api"})
	app := a.CreateClient(map[string]any{"client_name": "app", "grant_types": []string{"client_credentials", "password"},
		"scope": "read write", "audience": []string{api}})
	a.CreateUser("alice", "alice-password-1", "admin")
	a.CreateUser("bob", "bob-password-12", "staff")

	ctx, cancel := context.WithCancel(context.Background())
	ready := make(chan string, 1)
	done := make(chan error, 1)
	go func() {
		done <- run(ctx, []string{"--addr", "127.0.0.1:0", "--issuer", a.Issuer, "--audience", api, "--client-id", feedReader.ID},
			func(k string) string {
				if k == "RS_CLIENT_SECRET" { // the secret through the environment, as the README says
					return feedReader.Secret
				}
				return ""
			}, io.Discard, ready)
	}()
	var base string
	select {
	case addr := <-ready:
		base = "http://" + addr
	case err := <-done:
		t.Fatalf("run: %v", err)
	case <-time.After(10 * time.Second):
		t.Fatal("the example did not start")
	}
	t.Cleanup(func() {
		cancel()
		if err := <-done; err != nil {
			t.Errorf("run: %v", err)
		}
	})

	cc := func(scope string) string {
		return a.Token(app, url.Values{"grant_type": {"client_credentials"}, "scope": {scope}, "audience": {api}})
	}
	user := func(name, pw string) string {
		return a.Token(app, url.Values{"grant_type": {"password"}, "username": {name}, "password": {pw}, "scope": {"read"}, "audience": {api}})
	}
	read, write := cc("read"), cc("write")
	alice, bob := user("alice", "alice-password-1"), user("bob", "bob-password-12")
	plain := a.CreateClient(map[string]any{"client_name": "no audience", "scope": "read"})
	otherAud := a.Token(plain, url.Values{"grant_type": {"client_credentials"}, "scope": {"read"}}) // aud: the issuer
	tampered := read[:len(read)-4] + flip(read[len(read)-4:])

	for _, tc := range []struct {
		name, path, token string
		want              int
	}{
		{"public without a token", "/public", "", 200},
		{"me without a token", "/me", "", 401},
		{"me", "/me", read, 200},
		{"me, tampered token", "/me", tampered, 401},
		{"me, another audience", "/me", otherAud, 401},
		{"read with scope read", "/read", read, 200},
		{"read with scope write only", "/read", write, 403},
		{"read without a token", "/read", "", 401},
		{"admin as alice (role admin)", "/admin", alice, 200},
		{"admin as bob (role staff)", "/admin", bob, 403},
		{"admin as a client (no roles)", "/admin", read, 403},
		{"admin without a token", "/admin", "", 401},
	} {
		t.Run(tc.name, func(t *testing.T) {
			st, body, hdr := get(t, base+tc.path, tc.token)
			if st != tc.want {
				t.Fatalf("GET %s: %d %s, want %d", tc.path, st, body, tc.want)
			}
			if st == 401 && !strings.HasPrefix(hdr.Get("WWW-Authenticate"), "Bearer") {
				t.Errorf("401 without a Bearer challenge: %q", hdr.Get("WWW-Authenticate"))
			}
			if st == 403 && !strings.Contains(hdr.Get("WWW-Authenticate"), `error="insufficient_scope"`) {
				t.Errorf("403 without insufficient_scope: %q", hdr.Get("WWW-Authenticate"))
			}
		})
	}

	// /me returns the caller's claims.
	_, body, _ := get(t, base+"/me", alice)
	var me struct {
		Sub      string   `json:"sub"`
		ClientID string   `json:"client_id"`
		Scope    string   `json:"scope"`
		Roles    []string `json:"roles"`
		Aud      []string `json:"aud"`
	}
	if err := json.Unmarshal(body, &me); err != nil {
		t.Fatalf("/me: %s: %v", body, err)
	}
	if me.Sub == "" || me.ClientID != app.ID || me.Scope != "read" || len(me.Roles) != 1 || me.Roles[0] != "admin" || len(me.Aud) != 1 || me.Aud[0] != api {
		t.Errorf("/me = %s", body)
	}

	// A revoked token is refused within one second.
	a.Revoke(app, read)
	began := time.Now()
	for {
		st, _, _ := get(t, base+"/me", read)
		if st == 401 {
			t.Logf("revocation reached the example in %v", time.Since(began))
			break
		}
		if time.Since(began) > time.Second {
			t.Fatalf("a revoked token still gets %d after 1s", st)
		}
		time.Sleep(10 * time.Millisecond)
	}
	if st, body, _ := get(t, base+"/read", cc("read")); st != 200 {
		t.Errorf("a fresh token after the revocation: %d %s", st, body)
	}
}

// TestResourceServerNeedsFeedSecret: without the feed client's secret the
// example refuses to start and says where the secret is.
func TestResourceServerNeedsFeedSecret(t *testing.T) {
	err := run(context.Background(), []string{"--addr", "127.0.0.1:0"}, func(string) string { return "" }, io.Discard, nil)
	if err == nil || !strings.Contains(err.Error(), "RS_CLIENT_SECRET") {
		t.Fatalf("run without a secret: %v", err)
	}
}

// flip changes the last characters of a token's signature.
func flip(s string) string {
	if s == "AAAA" {
		return "BBBB"
	}
	return "AAAA"
}

func get(t *testing.T, u, token string) (int, []byte, http.Header) {
	t.Helper()
	req, err := http.NewRequest(http.MethodGet, u, nil)
	if err != nil {
		t.Fatal(err)
	}
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatalf("GET %s: %v", u, err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, b, resp.Header
}
