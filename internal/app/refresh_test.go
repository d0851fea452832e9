package app_test

import (
	"context"
	"encoding/json"
	"io"
	"net/http"
	"net/url"
	"strings"
	"sync"
	"testing"
	"time"

	"golang.org/x/oauth2"
)

// loginClient registers a first-party client that may log users in with a
// password and refresh.
func loginClient(in *instance) registeredClient {
	return in.createClient(map[string]any{
		"client_name": "web app",
		"grant_types": []string{"password", "refresh_token"},
		"scope":       "read write",
	})
}

type userView struct {
	ID       string   `json:"id"`
	Username string   `json:"username"`
	Roles    []string `json:"roles"`
}

func (in *instance) createUser(username, password string, roles ...string) userView {
	in.t.Helper()
	var u userView
	if st := in.admin("POST", "/admin/users", map[string]any{"username": username, "password": password, "email": username + "@example.com", "roles": roles}, &u); st != 201 {
		in.t.Fatalf("create user: %d", st)
	}
	return u
}

func password(in *instance, c registeredClient, username, pw string) tokenResponse {
	return in.token(c.ClientID, c.ClientSecret, url.Values{"grant_type": {"password"}, "username": {username}, "password": {pw}})
}

func refresh(in *instance, c registeredClient, rt string) tokenResponse {
	return in.token(c.ClientID, c.ClientSecret, url.Values{"grant_type": {"refresh_token"}, "refresh_token": {rt}})
}

func TestPasswordLoginAndRotation(t *testing.T) {
	forEachStore(t, func(t *testing.T, storeArgs []string) {
		in := start(t, "", storeArgs...)
		c := loginClient(in)
		u := in.createUser("alice", "correct horse battery", "admin", "billing")

		login := password(in, c, "alice", "correct horse battery")
		if login.Status != 200 || login.RefreshToken == "" {
			t.Fatalf("login: %d %s; refresh token %q", login.Status, login.Error, login.RefreshToken)
		}
		claims := decodeClaims(t, login.AccessToken)
		if claims["sub"] != u.ID || claims["sid"] == nil || claims["auth_time"] == nil {
			t.Errorf("user token claims: %v", claims)
		}
		if roles, _ := claims["roles"].([]any); len(roles) != 2 {
			t.Errorf("roles = %v", claims["roles"])
		}
		verifyWithJWX(t, in, login.AccessToken, in.Issuer)

		// Every use rotates: a new refresh token, same login.
		r1 := refresh(in, c, login.RefreshToken)
		if r1.Status != 200 || r1.RefreshToken == "" || r1.RefreshToken == login.RefreshToken {
			t.Fatalf("refresh: %d %s", r1.Status, r1.Error)
		}
		if decodeClaims(t, r1.AccessToken)["sid"] != claims["sid"] {
			t.Error("sid changed on refresh")
		}
		// Replaying the first token is theft: the whole login is revoked,
		// including the newest refresh token.
		if r := refresh(in, c, login.RefreshToken); r.Status != 400 || r.Error != "invalid_grant" {
			t.Fatalf("replay: %d %s; want invalid_grant", r.Status, r.Error)
		}
		if r := refresh(in, c, r1.RefreshToken); r.Status != 400 || r.Error != "invalid_grant" {
			t.Fatalf("newest token after reuse: %d %s; want invalid_grant", r.Status, r.Error)
		}
		// The user logs in again and gets a new, working login.
		again := password(in, c, "alice", "correct horse battery")
		if r := refresh(in, c, again.RefreshToken); r.Status != 200 {
			t.Fatalf("new login: %d %s", r.Status, r.Error)
		}
	})
}

func TestPasswordGrantErrors(t *testing.T) {
	in := start(t, "")
	c := loginClient(in)
	in.createUser("bob", "password-of-bob")
	cc := in.createClient(map[string]any{"client_name": "machine"}) // client_credentials only
	for _, tc := range []struct {
		name, user, pw string
		client         registeredClient
		status         int
		code           string
	}{
		{"wrong password", "bob", "nope-nope", c, 400, "invalid_grant"},
		{"unknown user", "nobody", "whatever1", c, 400, "invalid_grant"},
		{"missing password", "bob", "", c, 400, "invalid_request"},
		{"client without password grant", "bob", "password-of-bob", cc, 400, "unauthorized_client"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			r := password(in, tc.client, tc.user, tc.pw)
			if r.Status != tc.status || r.Error != tc.code {
				t.Errorf("%d %s; want %d %s", r.Status, r.Error, tc.status, tc.code)
			}
		})
	}
	t.Run("garbage refresh token", func(t *testing.T) {
		for _, rt := range []string{"x", "a.b.c", "....", string(make([]byte, 300))} {
			if r := refresh(in, c, rt); r.Status != 400 || r.Error != "invalid_grant" {
				t.Errorf("%q: %d %s", rt, r.Status, r.Error)
			}
		}
	})
	t.Run("refresh token of another client", func(t *testing.T) {
		other := loginClient(in)
		login := password(in, c, "bob", "password-of-bob")
		if r := refresh(in, other, login.RefreshToken); r.Status != 400 || r.Error != "invalid_grant" {
			t.Errorf("%d %s", r.Status, r.Error)
		}
		// ...and that attempt did not revoke the rightful owner's login.
		if r := refresh(in, c, login.RefreshToken); r.Status != 200 {
			t.Errorf("owner's refresh after a foreign attempt: %d %s", r.Status, r.Error)
		}
	})
	t.Run("throttled after repeated failures", func(t *testing.T) {
		in.createUser("carol", "password-of-carol")
		var last tokenResponse
		for i := 0; i < 30; i++ {
			last = password(in, c, "carol", "wrong-password")
			if last.Status == http.StatusTooManyRequests {
				break
			}
		}
		if last.Status != http.StatusTooManyRequests || last.Header.Get("Retry-After") == "" {
			t.Fatalf("after 30 failures: %d %s; want 429 with Retry-After", last.Status, last.Error)
		}
	})
}

func TestRefreshScopeNarrowing(t *testing.T) {
	in := start(t, "")
	c := loginClient(in)
	in.createUser("dave", "password-of-dave")
	login := in.token(c.ClientID, c.ClientSecret, url.Values{"grant_type": {"password"}, "username": {"dave"}, "password": {"password-of-dave"}, "scope": {"read"}})
	if login.Status != 200 {
		t.Fatal(login.Error)
	}
	wide := in.token(c.ClientID, c.ClientSecret, url.Values{"grant_type": {"refresh_token"}, "refresh_token": {login.RefreshToken}, "scope": {"read write"}})
	if wide.Status != 400 || wide.Error != "invalid_scope" {
		t.Fatalf("widening: %d %s; want invalid_scope", wide.Status, wide.Error)
	}
}

func TestRefreshReuseLeeway(t *testing.T) {
	forEachStore(t, func(t *testing.T, storeArgs []string) {
		in := start(t, "", append(storeArgs, "--refresh-reuse-leeway", "30s", "--refresh-reuse-max-retries", "2")...)
		c := loginClient(in)
		in.createUser("erin", "password-of-erin")
		login := password(in, c, "erin", "password-of-erin")
		first := refresh(in, c, login.RefreshToken)
		if first.Status != 200 {
			t.Fatal(first.Error)
		}
		// A client that lost the answer retries with the previous token and
		// gets the same successor (no fork), with a fresh access token.
		for i := 0; i < 2; i++ {
			retry := refresh(in, c, login.RefreshToken)
			if retry.Status != 200 || retry.RefreshToken != first.RefreshToken {
				t.Fatalf("retry %d: %d %s, same successor: %v", i, retry.Status, retry.Error, retry.RefreshToken == first.RefreshToken)
			}
		}
		// Past the bound, the replay is theft.
		if r := refresh(in, c, login.RefreshToken); r.Error != "invalid_grant" {
			t.Fatalf("third retry: %d %s; want invalid_grant", r.Status, r.Error)
		}
		if r := refresh(in, c, first.RefreshToken); r.Error != "invalid_grant" {
			t.Fatalf("successor after reuse: %d %s; want invalid_grant", r.Status, r.Error)
		}
	})
}

func TestConcurrentRefreshExactlyOneWins(t *testing.T) {
	forEachStore(t, func(t *testing.T, storeArgs []string) {
		in := start(t, "", storeArgs...)
		c := loginClient(in)
		in.createUser("frank", "password-of-frank")
		login := password(in, c, "frank", "password-of-frank")
		const n = 12
		// One connection per request, dialled before the start, so that the
		// release sends all n requests at once rather than one per dial.
		client := &http.Client{Transport: &http.Transport{MaxIdleConnsPerHost: n, MaxConnsPerHost: n}}
		defer client.CloseIdleConnections()
		warm := make([]error, n)
		var warmWG sync.WaitGroup
		for i := range n {
			warmWG.Add(1)
			go func() {
				defer warmWG.Done()
				resp, err := client.Get(in.Public.URL + "/healthz")
				if err == nil {
					io.Copy(io.Discard, resp.Body)
					resp.Body.Close()
				}
				warm[i] = err
			}()
		}
		warmWG.Wait()
		for _, err := range warm {
			if err != nil {
				t.Fatalf("warm a connection: %v", err)
			}
		}
		// Start barrier: every request is built and its goroutine waiting
		// (ready) before one close(release) lets them all go together.
		form := url.Values{"grant_type": {"refresh_token"}, "refresh_token": {login.RefreshToken}}.Encode()
		var ready, done sync.WaitGroup
		release := make(chan struct{})
		type answer struct {
			status int
			body   []byte
			err    error
		}
		answers := make([]answer, n)
		for i := range n {
			req, err := http.NewRequest(http.MethodPost, in.Public.URL+"/oauth2/token", strings.NewReader(form))
			if err != nil {
				t.Fatal(err)
			}
			req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
			req.SetBasicAuth(url.QueryEscape(c.ClientID), url.QueryEscape(c.ClientSecret))
			ready.Add(1)
			done.Add(1)
			go func() {
				defer done.Done()
				ready.Done()
				<-release // closed below, after every goroutine is waiting
				resp, err := client.Do(req)
				if err != nil {
					answers[i].err = err
					return
				}
				defer resp.Body.Close()
				answers[i].status = resp.StatusCode
				answers[i].body, answers[i].err = io.ReadAll(resp.Body)
			}()
		}
		ready.Wait()
		close(release)
		done.Wait()
		ok := 0
		for i, a := range answers {
			if a.err != nil {
				t.Fatalf("request %d: %v", i, a.err)
			}
			var r tokenResponse
			if err := json.Unmarshal(a.body, &r); err != nil {
				t.Fatalf("request %d: %d %q: %v", i, a.status, a.body, err)
			}
			switch {
			case a.status == 200 && r.AccessToken != "" && r.RefreshToken != "" && r.RefreshToken != login.RefreshToken:
				ok++
			case a.status == 400 && r.Error == "invalid_grant":
			default:
				t.Errorf("request %d: %d %s; want 200 with a new refresh token, or 400 invalid_grant", i, a.status, a.body)
			}
		}
		if ok != 1 {
			t.Fatalf("%d of %d concurrent refreshes succeeded; want exactly 1", ok, n)
		}
	})
}

func TestUserRevokeEndsRefresh(t *testing.T) {
	in := start(t, "")
	c := loginClient(in)
	u := in.createUser("gina", "password-of-gina")
	login := password(in, c, "gina", "password-of-gina")
	if st := in.admin("POST", "/admin/users/"+u.ID+"/revoke", nil, nil); st != 204 {
		t.Fatalf("revoke: %d", st)
	}
	if r := refresh(in, c, login.RefreshToken); r.Error != "invalid_grant" {
		t.Fatalf("refresh after user revoke: %d %s", r.Status, r.Error)
	}
	// Deleting the user ends logins too.
	h := in.createUser("hank", "password-of-hank")
	l2 := password(in, c, "hank", "password-of-hank")
	in.admin("DELETE", "/admin/users/"+h.ID, nil, nil)
	if r := refresh(in, c, l2.RefreshToken); r.Error != "invalid_grant" {
		t.Fatalf("refresh after user delete: %d %s", r.Status, r.Error)
	}
}

func TestRolesComeFromTheUserRecordOnRefresh(t *testing.T) {
	in := start(t, "")
	c := loginClient(in)
	u := in.createUser("ivy", "password-of-ivy", "reader")
	login := password(in, c, "ivy", "password-of-ivy")
	in.admin("PATCH", "/admin/users/"+u.ID, map[string]any{"roles": []string{"editor"}}, nil)
	r := refresh(in, c, login.RefreshToken)
	roles, _ := decodeClaims(t, r.AccessToken)["roles"].([]any)
	if len(roles) != 1 || roles[0] != "editor" {
		t.Errorf("roles after change = %v; want [editor]", roles)
	}
}

func TestOAuth2LibraryRefreshes(t *testing.T) {
	in := start(t, "")
	c := loginClient(in)
	in.createUser("jo", "password-of-jo")
	conf := &oauth2.Config{ClientID: c.ClientID, ClientSecret: c.ClientSecret,
		Endpoint: oauth2.Endpoint{TokenURL: in.Public.URL + "/oauth2/token"}}
	ctx := context.Background()
	tok, err := conf.PasswordCredentialsToken(ctx, "jo", "password-of-jo")
	if err != nil {
		t.Fatal(err)
	}
	tok.Expiry = time.Now().Add(-time.Minute) // force a refresh
	next, err := conf.TokenSource(ctx, tok).Token()
	if err != nil {
		t.Fatalf("x/oauth2 refresh: %v", err)
	}
	if next.RefreshToken == tok.RefreshToken || next.AccessToken == tok.AccessToken {
		t.Error("x/oauth2 refresh did not rotate")
	}
}

// TestRefreshReuseMaxRetriesZero (issue 8 item 13): with
// --refresh-reuse-max-retries 0 no retry is honoured, even inside the
// leeway (it used to become 3 silently).
func TestRefreshReuseMaxRetriesZero(t *testing.T) {
	for _, tc := range []struct {
		retries string
		want    string // error of the retry
	}{{"0", "invalid_grant"}, {"1", ""}} {
		t.Run("retries="+tc.retries, func(t *testing.T) {
			in := start(t, "", "--refresh-reuse-leeway", "30s", "--refresh-reuse-max-retries", tc.retries)
			c := loginClient(in)
			in.createUser("vera", "password-of-vera")
			login := password(in, c, "vera", "password-of-vera")
			if r := refresh(in, c, login.RefreshToken); r.Status != 200 {
				t.Fatalf("rotate: %d %s", r.Status, r.Error)
			}
			if r := refresh(in, c, login.RefreshToken); r.Error != tc.want {
				t.Errorf("retry inside the leeway: %d %q; want %q", r.Status, r.Error, tc.want)
			}
		})
	}
}

// TestRefreshIntrospectionAfterUserRevoke (issue 8 item 6): introspection
// of a refresh token applies the refresh grant's login checks.
func TestRefreshIntrospectionAfterUserRevoke(t *testing.T) {
	forEachStore(t, func(t *testing.T, storeArgs []string) {
		in := start(t, "", storeArgs...)
		c := loginClient(in)
		u := in.createUser("walt", "password-of-walt")
		w := in.createUser("wanda", "password-of-wanda")
		revoked, deleted := password(in, c, "walt", "password-of-walt"), password(in, c, "wanda", "password-of-wanda")
		if !in.introspect(c, revoked.RefreshToken).Active {
			t.Fatal("a fresh refresh token is inactive")
		}
		if st := in.admin(http.MethodPost, "/admin/users/"+u.ID+"/revoke", nil, nil); st != 204 {
			t.Fatalf("revoke: %d", st)
		}
		if st := in.admin(http.MethodDelete, "/admin/users/"+w.ID, nil, nil); st != 204 {
			t.Fatalf("delete: %d", st)
		}
		if in.introspect(c, revoked.RefreshToken).Active || in.introspect(c, deleted.RefreshToken).Active {
			t.Error("the refresh token of a revoked or deleted user introspects as active")
		}
	})
}

// TestDeleteUserRevokesAccessTokens (issue 8 item 15): deleting a user
// ends the user's access and refresh tokens; deleting again is a clear
// 404.
func TestDeleteUserRevokesAccessTokens(t *testing.T) {
	forEachStore(t, func(t *testing.T, storeArgs []string) {
		in := start(t, "", storeArgs...)
		c := loginClient(in)
		u := in.createUser("xena", "password-of-xena")
		login := password(in, c, "xena", "password-of-xena")
		if st := in.admin(http.MethodDelete, "/admin/users/"+u.ID, nil, nil); st != 204 {
			t.Fatalf("delete: %d", st)
		}
		if in.introspect(c, login.AccessToken).Active {
			t.Error("the deleted user's access token is active")
		}
		if r := refresh(in, c, login.RefreshToken); r.Error != "invalid_grant" {
			t.Errorf("refresh after delete: %d %s", r.Status, r.Error)
		}
		if st := in.admin(http.MethodDelete, "/admin/users/"+u.ID, nil, nil); st != 404 {
			t.Errorf("second delete: %d; want 404", st)
		}
	})
}
