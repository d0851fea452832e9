package tokens

import (
	"context"
	"errors"
	"net/url"
	"slices"
	"testing"
	"time"

	"github.com/authd-dev/authd/oauth"
	"github.com/authd-dev/authd/store"
)

// TestAuthorizationCodeGrant covers the token request of RFC 6749 §4.1.3
// with PKCE (RFC 7636): each case authorizes, then exchanges the code.
func TestAuthorizationCodeGrant(t *testing.T) {
	goodVerifier, challenge := verifierFor("good-verifier-")
	otherVerifier, _ := verifierFor("other-verifier-")
	type tc struct {
		name   string
		client func(f *fixture) store.Client
		auth   url.Values                                    // authorization request (client_id, response_type added)
		token  func(code string) url.Values                  // token request
		before func(f *fixture, c store.Client) store.Client // between code and exchange
		want   string                                        // OAuth error code; "" = success
	}
	web := func(f *fixture) store.Client { return f.webClient() }
	spa := func(f *fixture) store.Client { return f.publicClient() }
	single := func(f *fixture) store.Client {
		c := f.webClient()
		c.RedirectURIs = c.RedirectURIs[:1]
		return c
	}
	exchange := func(extra url.Values) func(string) url.Values {
		return func(code string) url.Values {
			v := url.Values{"grant_type": {GrantAuthorizationCode}, "code": {code}}
			for k, vs := range extra {
				v[k] = vs
			}
			return v
		}
	}
	withRedirect := url.Values{"redirect_uri": {"https://app.example/cb"}}
	for _, c := range []tc{
		{name: "confidential client, redirect_uri repeated", client: web, auth: url.Values{"redirect_uri": {"https://app.example/cb"}, "scope": {"openid read"}},
			token: exchange(withRedirect)},
		{name: "redirect_uri differs", client: web, auth: url.Values{"redirect_uri": {"https://app.example/cb"}},
			token: exchange(url.Values{"redirect_uri": {"https://app.example/other"}}), want: oauth.InvalidGrant},
		{name: "redirect_uri was sent, token request omits it", client: web, auth: url.Values{"redirect_uri": {"https://app.example/cb"}},
			token: exchange(nil), want: oauth.InvalidGrant},
		// RFC 6749 §4.1.3: required only if it was in the authorization request.
		{name: "redirect_uri omitted in both", client: single, auth: url.Values{}, token: exchange(nil)},
		{name: "redirect_uri omitted, then sent identical", client: single, auth: url.Values{}, token: exchange(withRedirect)},
		{name: "redirect_uri omitted, then sent different", client: single, auth: url.Values{},
			token: exchange(url.Values{"redirect_uri": {"https://evil.example/cb"}}), want: oauth.InvalidGrant},
		{name: "PKCE S256, right verifier", client: spa,
			auth:  url.Values{"redirect_uri": {"https://spa.example/cb"}, "code_challenge": {challenge}, "code_challenge_method": {"S256"}},
			token: exchange(url.Values{"redirect_uri": {"https://spa.example/cb"}, "code_verifier": {goodVerifier}})},
		{name: "PKCE S256, wrong verifier", client: spa,
			auth:  url.Values{"redirect_uri": {"https://spa.example/cb"}, "code_challenge": {challenge}, "code_challenge_method": {"S256"}},
			token: exchange(url.Values{"redirect_uri": {"https://spa.example/cb"}, "code_verifier": {otherVerifier}}), want: oauth.InvalidGrant},
		{name: "PKCE S256, verifier missing", client: spa,
			auth:  url.Values{"redirect_uri": {"https://spa.example/cb"}, "code_challenge": {challenge}, "code_challenge_method": {"S256"}},
			token: exchange(url.Values{"redirect_uri": {"https://spa.example/cb"}}), want: oauth.InvalidGrant},
		{name: "PKCE S256, verifier too short", client: spa,
			auth:  url.Values{"redirect_uri": {"https://spa.example/cb"}, "code_challenge": {challenge}, "code_challenge_method": {"S256"}},
			token: exchange(url.Values{"redirect_uri": {"https://spa.example/cb"}, "code_verifier": {goodVerifier[:42]}}), want: oauth.InvalidGrant},
		{name: "verifier without a challenge", client: web, auth: withRedirect,
			token: exchange(url.Values{"redirect_uri": {"https://app.example/cb"}, "code_verifier": {goodVerifier}}), want: oauth.InvalidGrant},
		{name: "expired code", client: web, auth: withRedirect, token: exchange(withRedirect),
			before: func(f *fixture, c store.Client) store.Client { f.clock.Add(CodeTTL + time.Second); return c }, want: oauth.InvalidGrant},
		{name: "another client's code", client: web, auth: withRedirect, token: exchange(withRedirect),
			before: func(f *fixture, c store.Client) store.Client { c.ID = "web2"; return c }, want: oauth.InvalidGrant},
		// Issue 8 item 6: the exchange applies the login checks.
		{name: "user revoked after sign-in", client: web, auth: withRedirect, token: exchange(withRedirect),
			before: func(f *fixture, c store.Client) store.Client {
				f.clock.Add(time.Second)
				f.users.update("u1", func(u *store.User) { u.NotBefore = f.clock.Now() })
				f.clock.Add(time.Second)
				return c
			}, want: oauth.InvalidGrant},
		{name: "user deleted", client: web, auth: withRedirect, token: exchange(withRedirect),
			before: func(f *fixture, c store.Client) store.Client { f.users.remove("u1"); return c }, want: oauth.InvalidGrant},
		{name: "client re-created", client: web, auth: withRedirect, token: exchange(withRedirect),
			before: func(f *fixture, c store.Client) store.Client {
				f.clock.Add(time.Second)
				c.IssuedAt = f.clock.Now()
				return c
			}, want: oauth.InvalidGrant},
		{name: "client lost the grant", client: web, auth: withRedirect, token: exchange(withRedirect),
			before: func(f *fixture, c store.Client) store.Client { c.GrantTypes = []string{GrantPassword}; return c }, want: oauth.UnauthorizedClient},
	} {
		t.Run(c.name, func(t *testing.T) {
			clk := &testClock{now: time.Date(2026, 3, 4, 5, 6, 7, 0, time.UTC)}
			backing := openBolt(t, clk)
			f := newFixture(t, backing, clk, nil)
			f.addUser("u1")
			client := c.client(f)
			code := f.code(client, c.auth, "u1")
			if c.before != nil {
				client = c.before(f, client)
			}
			resp, err := f.token(client, c.token(code))
			if got := oauthCode(err); got != c.want {
				t.Fatalf("error %q (%v); want %q", got, err, c.want)
			}
			if c.want != "" {
				return
			}
			if resp.AccessToken == "" || resp.RefreshToken == "" {
				t.Fatalf("response %+v: want access and refresh token", resp)
			}
			if cl := f.claims(resp.AccessToken); cl.Subject != "u1" || cl.ClientID != client.ID || cl.SID == "" {
				t.Errorf("claims %+v", cl)
			}
		})
	}
}

// TestCodeReplayRevokesTheLogin: a second exchange of a code revokes what
// the first issued (RFC 6749 §4.1.2, RFC 9700 §4.14.2), on every backend.
func TestCodeReplayRevokesTheLogin(t *testing.T) {
	forEachBackend(t, func(t *testing.T, open func(*testing.T, *testClock) backingStore) {
		clk := &testClock{now: time.Now()}
		f := newFixture(t, open(t, clk), clk, nil)
		f.addUser("u1")
		c := f.webClient()
		code := f.code(c, url.Values{"redirect_uri": {"https://app.example/cb"}}, "u1")
		form := url.Values{"grant_type": {GrantAuthorizationCode}, "code": {code}, "redirect_uri": {"https://app.example/cb"}}
		first, err := f.token(c, form)
		if err != nil {
			t.Fatal(err)
		}
		clk.Add(time.Second)
		if _, err := f.token(c, form); oauthCode(err) != oauth.InvalidGrant {
			t.Fatalf("replay: %v; want invalid_grant", err)
		}
		if f.active(c, first.AccessToken) || f.active(c, first.RefreshToken) {
			t.Error("tokens of a replayed code are still active")
		}
		if f.reuseEvents() != 1 {
			t.Errorf("%d security events; want 1", f.reuseEvents())
		}
	})
}

// TestCodeAudienceIsResolvedAndKept (issue 8 item 3): the login stores the
// audience its first token got; refreshed tokens and introspection of the
// refresh token carry the same.
func TestCodeAudienceIsResolvedAndKept(t *testing.T) {
	forEachBackend(t, func(t *testing.T, open func(*testing.T, *testClock) backingStore) {
		clk := &testClock{now: time.Now()}
		f := newFixture(t, open(t, clk), clk, nil)
		f.addUser("u1")
		for name, c := range map[string]store.Client{"client audience": f.webClient(), "default audience": f.publicClient()} {
			t.Run(name, func(t *testing.T) {
				auth := url.Values{"redirect_uri": {c.RedirectURIs[0]}}
				verifier, challenge := verifierFor("v-")
				auth.Set("code_challenge", challenge)
				auth.Set("code_challenge_method", "S256")
				code := f.code(c, auth, "u1")
				first, err := f.token(c, url.Values{"grant_type": {GrantAuthorizationCode}, "code": {code}, "redirect_uri": {c.RedirectURIs[0]}, "code_verifier": {verifier}})
				if err != nil {
					t.Fatal(err)
				}
				want := f.claims(first.AccessToken).Audience
				if len(want) == 0 {
					t.Fatal("first token has no aud")
				}
				next, err := f.token(c, url.Values{"grant_type": {GrantRefreshToken}, "refresh_token": {first.RefreshToken}})
				if err != nil {
					t.Fatal(err)
				}
				if got := f.claims(next.AccessToken).Audience; !slices.Equal(got, want) {
					t.Errorf("refreshed aud %v; want %v", got, want)
				}
				in, err := f.svc.Introspect(context.Background(), c, next.RefreshToken, "refresh_token")
				if err != nil || !in.Active || !slices.Equal(in.Audience, want) {
					t.Errorf("introspection %+v %v; want active with aud %v", in, err, want)
				}
			})
		}
	})
}

// TestIssueCodeSingleUseAndLiveClient (issue 8 item 7): a sealed consent
// request yields one code; IssueCode re-checks the client as it is now.
func TestIssueCodeSingleUseAndLiveClient(t *testing.T) {
	forEachBackend(t, func(t *testing.T, open func(*testing.T, *testClock) backingStore) {
		clk := &testClock{now: time.Now()}
		f := newFixture(t, open(t, clk), clk, nil)
		f.addUser("u1")
		ctx := context.Background()
		c := f.webClient()
		pending := func(t *testing.T) AuthRequest {
			req, err := f.svc.ValidateAuthorize(c, url.Values{"client_id": {c.ID}, "response_type": {"code"},
				"redirect_uri": {"https://app.example/other"}, "scope": {"openid read"}})
			if err != nil {
				t.Fatal(err)
			}
			req.Subject, req.AuthTime = "u1", clk.Now().Unix()
			sealed, err := f.svc.SealRequest(req) // the consent page
			if err != nil {
				t.Fatal(err)
			}
			opened, ok := f.svc.OpenRequest(sealed)
			if !ok || opened.FamilyID == "" {
				t.Fatalf("sealed consent request %+v %v: want a family id", opened, ok)
			}
			return opened
		}
		t.Run("second post", func(t *testing.T) {
			req := pending(t)
			if _, err := f.svc.IssueCode(ctx, c, req); err != nil {
				t.Fatal(err)
			}
			_, err := f.svc.IssueCode(ctx, c, req)
			var re *RedirectError
			if oauthCode(err) != oauth.InvalidRequest || errors.As(err, &re) {
				t.Fatalf("second post: %v; want invalid_request that is not redirected", err)
			}
		})
		for _, tc := range []struct {
			name     string
			change   func(*store.Client)
			code     string
			redirect bool
		}{
			{"redirect_uri removed", func(c *store.Client) { c.RedirectURIs = c.RedirectURIs[:1] }, oauth.InvalidRequest, false},
			{"grant removed", func(c *store.Client) { c.GrantTypes = []string{GrantRefreshToken} }, oauth.UnauthorizedClient, true},
			{"scope removed", func(c *store.Client) { c.Scope = "openid" }, oauth.InvalidScope, true},
			{"became public without PKCE", func(c *store.Client) { c.TokenEndpointAuthMethod = "none" }, oauth.InvalidRequest, true},
			{"user revoked since sign-in", func(*store.Client) {
				clk.Add(time.Second)
				f.users.update("u1", func(u *store.User) { u.NotBefore = clk.Now() })
			}, oauth.AccessDenied, true},
		} {
			t.Run(tc.name, func(t *testing.T) {
				req := pending(t)
				live := c
				live.RedirectURIs = slices.Clone(c.RedirectURIs)
				tc.change(&live)
				_, err := f.svc.IssueCode(ctx, live, req)
				var re *RedirectError
				if oauthCode(err) != tc.code || errors.As(err, &re) != tc.redirect {
					t.Fatalf("%v (redirect %v); want %s, redirect %v", err, errors.As(err, &re), tc.code, tc.redirect)
				}
				if n, _ := f.st.inner.GetFamily(ctx, req.FamilyID); n.ID != "" {
					t.Error("a code was issued anyway")
				}
			})
		}
		t.Run("store unavailable", func(t *testing.T) {
			f.users.update("u1", func(u *store.User) { u.NotBefore = time.Time{} })
			req := pending(t)
			f.st.fail("CreateFamily", 1)
			_, err := f.svc.IssueCode(ctx, c, req)
			var re *RedirectError
			if oauthCode(err) != oauth.TemporarilyUnavailable || !errors.As(err, &re) {
				t.Fatalf("%v; want temporarily_unavailable sent to the client", err)
			}
			if _, err := f.svc.IssueCode(ctx, c, req); err != nil {
				t.Fatalf("retry after the outage: %v", err)
			}
		})
	})
}

// TestValidateAuthorize covers the authorization request (RFC 6749
// §4.1.1, §4.1.2.1; RFC 7636 §4.3): errors before the client and
// redirect_uri are known good are shown, later ones may be redirected.
func TestValidateAuthorize(t *testing.T) {
	clk := &testClock{now: time.Now()}
	f := newFixture(t, openBolt(t, clk), clk, nil)
	_, challenge := verifierFor("c-")
	web, spa := f.webClient(), f.publicClient()
	for _, tc := range []struct {
		name     string
		client   store.Client
		q        url.Values
		code     string
		redirect bool
		omitted  bool
	}{
		{"valid", web, url.Values{"redirect_uri": {"https://app.example/cb"}}, "", false, false},
		{"omitted redirect_uri, one registered", spa, url.Values{"code_challenge": {challenge}, "code_challenge_method": {"S256"}}, "", false, true},
		{"omitted redirect_uri, two registered", web, url.Values{}, oauth.InvalidRequest, false, false},
		{"unregistered redirect_uri", web, url.Values{"redirect_uri": {"https://evil.example/cb"}}, oauth.InvalidRequest, false, false},
		{"prefix of a registered redirect_uri", web, url.Values{"redirect_uri": {"https://app.example/c"}}, oauth.InvalidRequest, false, false},
		{"repeated parameter", web, url.Values{"redirect_uri": {"https://app.example/cb"}, "state": {"a", "b"}}, oauth.InvalidRequest, false, false},
		{"wrong response_type", web, url.Values{"redirect_uri": {"https://app.example/cb"}, "response_type": {"token"}}, oauth.UnsupportedResponseType, true, false},
		{"scope not allowed", web, url.Values{"redirect_uri": {"https://app.example/cb"}, "scope": {"admin"}}, oauth.InvalidScope, true, false},
		{"audience not allowed", web, url.Values{"redirect_uri": {"https://app.example/cb"}, "resource": {"https://evil.example"}}, oauth.InvalidTarget, true, false},
		{"public client without PKCE", spa, url.Values{}, oauth.InvalidRequest, true, true},
		{"plain PKCE", spa, url.Values{"code_challenge": {challenge}, "code_challenge_method": {"plain"}}, oauth.InvalidRequest, true, true},
		{"short challenge", spa, url.Values{"code_challenge": {challenge[:42]}, "code_challenge_method": {"S256"}}, oauth.InvalidRequest, true, true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			q := url.Values{"client_id": {tc.client.ID}, "response_type": {"code"}}
			for k, v := range tc.q {
				q[k] = v
			}
			req, err := f.svc.ValidateAuthorize(tc.client, q)
			var re *RedirectError
			if oauthCode(err) != tc.code || errors.As(err, &re) != tc.redirect {
				t.Fatalf("%v (redirect %v); want %q, redirect %v", err, errors.As(err, &re), tc.code, tc.redirect)
			}
			if (err == nil || tc.redirect) && req.RedirectURIOmitted != tc.omitted {
				t.Errorf("RedirectURIOmitted = %v; want %v", req.RedirectURIOmitted, tc.omitted)
			}
		})
	}
}
