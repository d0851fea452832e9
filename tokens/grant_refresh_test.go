package tokens

import (
	"errors"
	"net/url"
	"slices"
	"testing"
	"time"

	"github.com/authd-dev/authd/oauth"
	"github.com/authd-dev/authd/store"
)

// login starts a password login of u1 for c and returns the response.
func (f *fixture) login(c store.Client) *Response {
	f.t.Helper()
	resp, err := f.token(c, url.Values{"grant_type": {GrantPassword}, "username": {"u1"}, "password": {"pw-u1"}})
	if err != nil {
		f.t.Fatalf("password login: %v", err)
	}
	if resp.RefreshToken == "" {
		f.t.Fatal("no refresh token")
	}
	return resp
}

func refreshForm(rt string, extra ...string) url.Values {
	v := url.Values{"grant_type": {GrantRefreshToken}, "refresh_token": {rt}}
	for i := 0; i+1 < len(extra); i += 2 {
		v.Add(extra[i], extra[i+1])
	}
	return v
}

// TestRefreshGrant covers RFC 6749 §6 with rotation and reuse detection
// (RFC 9700 §4.14.2), table-driven: each case logs in, may rotate, then
// presents a token.
func TestRefreshGrant(t *testing.T) {
	type tc struct {
		name  string
		mod   func(*Config)
		steps func(t *testing.T, f *fixture, c store.Client, first *Response) (*Response, error)
		want  string // error code of the last step; "" = success
		after func(t *testing.T, f *fixture, c store.Client, first, last *Response)
	}
	rotate := func(t *testing.T, f *fixture, c store.Client, rt string) *Response {
		t.Helper()
		r, err := f.token(c, refreshForm(rt))
		if err != nil {
			t.Fatalf("rotate: %v", err)
		}
		return r
	}
	leeway := func(d time.Duration, retries int) func(*Config) {
		return func(cfg *Config) { cfg.RefreshReuseLeeway, cfg.RefreshReuseMaxRetries = d, retries }
	}
	for _, c := range []tc{
		{name: "rotate", steps: func(t *testing.T, f *fixture, c store.Client, first *Response) (*Response, error) {
			return f.token(c, refreshForm(first.RefreshToken))
		}, after: func(t *testing.T, f *fixture, c store.Client, first, last *Response) {
			if last.RefreshToken == first.RefreshToken {
				t.Error("the refresh token did not rotate")
			}
			if f.active(c, first.RefreshToken) || !f.active(c, last.RefreshToken) {
				t.Error("after a rotation only the successor may be active")
			}
			if cl := f.claims(last.AccessToken); cl.SID != f.claims(first.AccessToken).SID || !slices.Equal(cl.Roles, []string{"member"}) {
				t.Errorf("claims %+v", cl)
			}
		}},
		{name: "reuse revokes the login", steps: func(t *testing.T, f *fixture, c store.Client, first *Response) (*Response, error) {
			rotate(t, f, c, first.RefreshToken)
			f.clock.Add(time.Second)
			return f.token(c, refreshForm(first.RefreshToken))
		}, want: oauth.InvalidGrant, after: func(t *testing.T, f *fixture, c store.Client, first, _ *Response) {
			if f.active(c, first.AccessToken) {
				t.Error("the login's access token is still active after reuse")
			}
			if f.reuseEvents() != 1 {
				t.Errorf("%d reuse events; want 1", f.reuseEvents())
			}
		}},
		{name: "retry inside the leeway gets the same successor", mod: leeway(30*time.Second, 3),
			steps: func(t *testing.T, f *fixture, c store.Client, first *Response) (*Response, error) {
				next := rotate(t, f, c, first.RefreshToken)
				f.clock.Add(5 * time.Second)
				again, err := f.token(c, refreshForm(first.RefreshToken))
				if err == nil && again.RefreshToken != next.RefreshToken {
					t.Errorf("retry got %q; want the successor %q", again.RefreshToken, next.RefreshToken)
				}
				return again, err
			}},
		{name: "retry after the leeway is reuse", mod: leeway(30*time.Second, 3),
			steps: func(t *testing.T, f *fixture, c store.Client, first *Response) (*Response, error) {
				rotate(t, f, c, first.RefreshToken)
				f.clock.Add(31 * time.Second)
				return f.token(c, refreshForm(first.RefreshToken))
			}, want: oauth.InvalidGrant},
		{name: "retries are bounded", mod: leeway(30*time.Second, 1),
			steps: func(t *testing.T, f *fixture, c store.Client, first *Response) (*Response, error) {
				rotate(t, f, c, first.RefreshToken)
				rotate(t, f, c, first.RefreshToken) // the one retry
				return f.token(c, refreshForm(first.RefreshToken))
			}, want: oauth.InvalidGrant},
		// Issue 8 item 13: 0 retries means none, not the default 3.
		{name: "zero retries: no retry is honoured", mod: leeway(30*time.Second, 0),
			steps: func(t *testing.T, f *fixture, c store.Client, first *Response) (*Response, error) {
				rotate(t, f, c, first.RefreshToken)
				return f.token(c, refreshForm(first.RefreshToken))
			}, want: oauth.InvalidGrant},
		{name: "scope narrows", steps: func(t *testing.T, f *fixture, c store.Client, first *Response) (*Response, error) {
			return f.token(c, refreshForm(first.RefreshToken, "scope", "read"))
		}, after: func(t *testing.T, f *fixture, _ store.Client, _, last *Response) {
			if last.Scope != "read" || f.claims(last.AccessToken).Scope != "read" {
				t.Errorf("scope %q", last.Scope)
			}
		}},
		{name: "scope never widens", steps: func(t *testing.T, f *fixture, c store.Client, first *Response) (*Response, error) {
			narrow, err := f.token(c, url.Values{"grant_type": {GrantPassword}, "username": {"u1"}, "password": {"pw-u1"}, "scope": {"read"}})
			if err != nil {
				t.Fatal(err)
			}
			return f.token(c, refreshForm(narrow.RefreshToken, "scope", "read write"))
		}, want: oauth.InvalidScope},
		{name: "audience narrows", steps: func(t *testing.T, f *fixture, c store.Client, first *Response) (*Response, error) {
			return f.token(c, refreshForm(first.RefreshToken, "audience", "https://api.example"))
		}, after: func(t *testing.T, f *fixture, _ store.Client, _, last *Response) {
			if got := f.claims(last.AccessToken).Audience; !slices.Equal(got, []string{"https://api.example"}) {
				t.Errorf("aud %v", got)
			}
		}},
		{name: "a failed narrowing does not spend the token", steps: func(t *testing.T, f *fixture, c store.Client, first *Response) (*Response, error) {
			if _, err := f.token(c, refreshForm(first.RefreshToken, "audience", "https://elsewhere.example")); oauthCode(err) != oauth.InvalidTarget {
				t.Fatalf("foreign audience: %v; want invalid_target", err)
			}
			return f.token(c, refreshForm(first.RefreshToken))
		}},
		{name: "idle refresh token expired", steps: func(t *testing.T, f *fixture, c store.Client, first *Response) (*Response, error) {
			f.clock.Add(73 * time.Hour)
			return f.token(c, refreshForm(first.RefreshToken))
		}, want: oauth.InvalidGrant},
		{name: "another client's token", steps: func(t *testing.T, f *fixture, c store.Client, first *Response) (*Response, error) {
			c.ID = "web2"
			return f.token(c, refreshForm(first.RefreshToken))
		}, want: oauth.InvalidGrant},
		// Issue 8 item 6: the same login checks as everywhere else.
		{name: "user revoked", steps: func(t *testing.T, f *fixture, c store.Client, first *Response) (*Response, error) {
			f.clock.Add(time.Second)
			f.users.update("u1", func(u *store.User) { u.NotBefore = f.clock.Now() })
			return f.token(c, refreshForm(first.RefreshToken))
		}, want: oauth.InvalidGrant},
		{name: "user deleted", steps: func(t *testing.T, f *fixture, c store.Client, first *Response) (*Response, error) {
			f.users.remove("u1")
			return f.token(c, refreshForm(first.RefreshToken))
		}, want: oauth.InvalidGrant},
		{name: "client re-created", steps: func(t *testing.T, f *fixture, c store.Client, first *Response) (*Response, error) {
			f.clock.Add(time.Second)
			c.IssuedAt = f.clock.Now()
			return f.token(c, refreshForm(first.RefreshToken))
		}, want: oauth.InvalidGrant},
	} {
		t.Run(c.name, func(t *testing.T) {
			clk := &testClock{now: time.Date(2026, 3, 4, 5, 6, 7, 0, time.UTC)}
			f := newFixture(t, openBolt(t, clk), clk, c.mod)
			f.addUser("u1")
			client := f.webClient()
			first := f.login(client)
			last, err := c.steps(t, f, client, first)
			if got := oauthCode(err); got != c.want {
				t.Fatalf("error %q (%v); want %q", got, err, c.want)
			}
			if c.after != nil {
				c.after(t, f, client, first, last)
			}
		})
	}
}

// TestRefreshIntrospectionAppliesLoginChecks (issue 8 item 6): a refresh
// token the grant would refuse is not active.
func TestRefreshIntrospectionAppliesLoginChecks(t *testing.T) {
	for _, tc := range []struct {
		name   string
		change func(f *fixture, c *store.Client)
	}{
		{"user revoked", func(f *fixture, _ *store.Client) {
			f.clock.Add(time.Second)
			f.users.update("u1", func(u *store.User) { u.NotBefore = f.clock.Now() })
		}},
		{"user deleted", func(f *fixture, _ *store.Client) { f.users.remove("u1") }},
		{"client re-created", func(f *fixture, c *store.Client) { f.clock.Add(time.Second); c.IssuedAt = f.clock.Now() }},
		{"client lost the refresh grant", func(_ *fixture, c *store.Client) { c.GrantTypes = []string{GrantPassword} }},
	} {
		t.Run(tc.name, func(t *testing.T) {
			clk := &testClock{now: time.Now()}
			f := newFixture(t, openBolt(t, clk), clk, nil)
			f.addUser("u1")
			c := f.webClient()
			first := f.login(c)
			if !f.active(c, first.RefreshToken) {
				t.Fatal("a fresh refresh token is inactive")
			}
			tc.change(f, &c)
			if f.active(c, first.RefreshToken) {
				t.Error("still active")
			}
		})
	}
}

// TestFailuresBeforeCommitLeaveTheFamily (issue 8 item 16): a failure in
// any step of a refresh or a code exchange leaves the family as it was, so
// the client's honest retry with the same token succeeds (no leeway
// needed) and is never taken for reuse.
func TestFailuresBeforeCommitLeaveTheFamily(t *testing.T) {
	forEachBackend(t, func(t *testing.T, open func(*testing.T, *testClock) backingStore) {
		for _, tc := range []struct {
			name   string
			inject func(f *fixture)
			want   string
		}{
			{"user lookup unavailable", func(f *fixture) { f.users.mu.Lock(); f.users.lookupFail = 1; f.users.mu.Unlock() }, oauth.TemporarilyUnavailable},
			{"signing fails", func(f *fixture) { f.signer.failNext(1) }, "non-oauth"},
			// The login's family is in this Service's family cache: forget it,
			// as a replica that did not begin the login would not have it.
			{"family read unavailable", func(f *fixture) {
				f.svc.families = newFamilyCache(familyCacheSize)
				f.st.fail("GetFamily", 1)
			}, oauth.TemporarilyUnavailable},
			{"rotation unavailable", func(f *fixture) { f.st.fail("RotateRefresh", 1) }, oauth.TemporarilyUnavailable},
		} {
			t.Run("refresh/"+tc.name, func(t *testing.T) {
				clk := &testClock{now: time.Now()}
				f := newFixture(t, open(t, clk), clk, nil) // leeway 0: any replay would be reuse
				f.addUser("u1")
				c := f.webClient()
				first := f.login(c)
				tc.inject(f)
				if _, err := f.token(c, refreshForm(first.RefreshToken)); !hasPrefix(oauthCode(err), tc.want) {
					t.Fatalf("with the failure: %v; want %s", err, tc.want)
				}
				next, err := f.token(c, refreshForm(first.RefreshToken))
				if err != nil {
					t.Fatalf("honest retry: %v", err)
				}
				if f.reuseEvents() != 0 || !f.active(c, next.AccessToken) || !f.active(c, first.AccessToken) {
					t.Error("the retry was taken for reuse")
				}
			})
			t.Run("code/"+tc.name, func(t *testing.T) {
				clk := &testClock{now: time.Now()}
				f := newFixture(t, open(t, clk), clk, nil)
				f.addUser("u1")
				c := f.webClient()
				code := f.code(c, url.Values{"redirect_uri": {"https://app.example/cb"}, "scope": {"openid"}}, "u1")
				form := url.Values{"grant_type": {GrantAuthorizationCode}, "code": {code}, "redirect_uri": {"https://app.example/cb"}}
				tc.inject(f)
				if _, err := f.token(c, form); !hasPrefix(oauthCode(err), tc.want) {
					t.Fatalf("with the failure: %v; want %s", err, tc.want)
				}
				resp, err := f.token(c, form)
				if err != nil {
					t.Fatalf("honest retry: %v", err)
				}
				if resp.IDToken == "" || f.reuseEvents() != 0 {
					t.Errorf("retry: ID token %q, %d reuse events", resp.IDToken, f.reuseEvents())
				}
			})
		}
	})
}

// TestReuseFailsClosed (issue 8 item 16): when the deny entry of a reused
// login cannot be written the request fails with 503 and Retry-After, and
// the retry still ends the login's access tokens.
func TestReuseFailsClosed(t *testing.T) {
	forEachBackend(t, func(t *testing.T, open func(*testing.T, *testClock) backingStore) {
		clk := &testClock{now: time.Now()}
		f := newFixture(t, open(t, clk), clk, nil)
		f.addUser("u1")
		c := f.webClient()
		first := f.login(c)
		if _, err := f.token(c, refreshForm(first.RefreshToken)); err != nil {
			t.Fatal(err)
		}
		clk.Add(time.Second)
		f.st.fail("Deny", 1)
		_, err := f.token(c, refreshForm(first.RefreshToken)) // the thief's replay
		var e *oauth.Error
		if !errors.As(err, &e) || e.Code != oauth.TemporarilyUnavailable || e.Status != 503 || e.RetryAfter <= 0 {
			t.Fatalf("reuse with a failing denylist: %v; want 503 temporarily_unavailable with Retry-After", err)
		}
		if _, err := f.token(c, refreshForm(first.RefreshToken)); oauthCode(err) != oauth.InvalidGrant {
			t.Fatalf("retry: %v; want invalid_grant", err)
		}
		if f.active(c, first.AccessToken) {
			t.Error("the reused login's access token is still active after the retry")
		}
		// Further replays read the entry and write nothing more.
		denies := f.st.count("Deny")
		if _, err := f.token(c, refreshForm(first.RefreshToken)); oauthCode(err) != oauth.InvalidGrant {
			t.Fatalf("third replay: %v", err)
		}
		if f.st.count("Deny") != denies {
			t.Error("a replay of a dead login wrote the denylist again")
		}
	})
}

func hasPrefix(s, p string) bool { return len(s) >= len(p) && s[:len(p)] == p }

// TestClientCredentialsGrant covers RFC 6749 §4.4.
func TestClientCredentialsGrant(t *testing.T) {
	clk := &testClock{now: time.Now()}
	f := newFixture(t, openBolt(t, clk), clk, nil)
	svc := store.Client{ID: "svc", GrantTypes: []string{GrantClientCredentials}, Scope: "read write",
		Audience: []string{"https://api.example", "https://b.example"}, IssuedAt: clk.Now()}
	bare := store.Client{ID: "bare", GrantTypes: []string{GrantClientCredentials}, Scope: "read", IssuedAt: clk.Now()}
	for _, tc := range []struct {
		name   string
		client store.Client
		form   url.Values
		want   string
		aud    []string
		scope  string
	}{
		{"client audience and scope", svc, url.Values{}, "", []string{"https://api.example", "https://b.example"}, "read write"},
		{"narrowed scope", svc, url.Values{"scope": {"read"}}, "", []string{"https://api.example", "https://b.example"}, "read"},
		{"requested audience", svc, url.Values{"resource": {"https://b.example"}}, "", []string{"https://b.example"}, "read write"},
		{"default audience", bare, url.Values{}, "", []string{testIssuer}, "read"},
		{"foreign audience", svc, url.Values{"audience": {"https://evil.example"}}, oauth.InvalidTarget, nil, ""},
		{"scope outside the client's", svc, url.Values{"scope": {"admin"}}, oauth.InvalidScope, nil, ""},
		{"grant not allowed", f.webClient(), url.Values{}, oauth.UnauthorizedClient, nil, ""},
		{"repeated parameter", svc, url.Values{"scope": {"read", "write"}}, oauth.InvalidRequest, nil, ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			tc.form.Set("grant_type", GrantClientCredentials)
			resp, err := f.token(tc.client, tc.form)
			if got := oauthCode(err); got != tc.want {
				t.Fatalf("error %q (%v); want %q", got, err, tc.want)
			}
			if tc.want != "" {
				return
			}
			cl := f.claims(resp.AccessToken)
			if cl.Subject != tc.client.ID || !slices.Equal(cl.Audience, tc.aud) || cl.Scope != tc.scope || resp.Scope != tc.scope {
				t.Errorf("claims %+v, scope %q", cl, resp.Scope)
			}
			if resp.RefreshToken != "" {
				t.Error("client_credentials issued a refresh token (RFC 6749 §4.4.3)")
			}
		})
	}
}
