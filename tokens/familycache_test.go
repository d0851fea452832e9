package tokens

import (
	"context"
	"net/url"
	"testing"
	"time"

	"github.com/authd-dev/authd/oauth"
	"github.com/authd-dev/authd/store"
)

// replicas are two Services over one store, as two authd replicas behind
// a load balancer: same keys, same users, one clock.
func replicas(t *testing.T, open func(*testing.T, *testClock) backingStore) (a, b *fixture) {
	t.Helper()
	clk := &testClock{now: time.Now()}
	backing := open(t, clk)
	a = newFixture(t, backing, clk, nil)
	b = newFixture(t, backing, clk, func(cfg *Config) { cfg.Users = a.users })
	a.addUser("u1")
	return a, b
}

func mustRefresh(t *testing.T, f *fixture, c store.Client, rt string) *Response {
	t.Helper()
	r, err := f.token(c, refreshForm(rt))
	if err != nil {
		t.Fatalf("refresh: %v", err)
	}
	return r
}

// TestFamilyCache (issue 13): a replica refreshes a login it rotated last
// without reading the family, and the answers stay those of a fresh read
// whatever another replica did in between: the rotation judges the token
// against the family as stored, and a refusal is decided on a fresh read.
func TestFamilyCache(t *testing.T) {
	forEachBackend(t, func(t *testing.T, open func(*testing.T, *testClock) backingStore) {
		t.Run("a rotated login is refreshed without a read", func(t *testing.T) {
			a, _ := replicas(t, open)
			c := a.webClient()
			rt := a.login(c).RefreshToken
			rt = mustRefresh(t, a, c, rt).RefreshToken // reads the family, fills the cache
			for range 3 {
				reads := a.st.count("GetFamily")
				next := mustRefresh(t, a, c, rt)
				if got := a.st.count("GetFamily") - reads; got != 0 {
					t.Errorf("a refresh of a cached login read the family %d times; want 0", got)
				}
				if !a.active(c, next.RefreshToken) || a.active(c, rt) {
					t.Fatal("after a rotation only the successor may be active")
				}
				rt = next.RefreshToken
			}
		})
		t.Run("rotated on another replica", func(t *testing.T) {
			a, b := replicas(t, open)
			c := a.webClient()
			rt1 := mustRefresh(t, a, c, a.login(c).RefreshToken).RefreshToken
			rt2 := mustRefresh(t, b, c, rt1).RefreshToken
			if _, err := a.token(c, refreshForm(rt2)); err != nil {
				t.Fatalf("the successor issued by the other replica: %v", err)
			}
			a.clock.Add(time.Second)
			if _, err := a.token(c, refreshForm(rt1)); oauthCode(err) != oauth.InvalidGrant {
				t.Fatalf("replay of the token the other replica rotated: %v; want invalid_grant", err)
			}
			if a.reuseEvents() != 1 {
				t.Errorf("%d reuse events; want 1", a.reuseEvents())
			}
		})
		t.Run("leeway retry on another replica's rotation", func(t *testing.T) {
			clk := &testClock{now: time.Now()}
			backing := open(t, clk)
			leeway := func(cfg *Config) { cfg.RefreshReuseLeeway, cfg.RefreshReuseMaxRetries = 30*time.Second, 3 }
			a := newFixture(t, backing, clk, leeway)
			b := newFixture(t, backing, clk, func(cfg *Config) { leeway(cfg); cfg.Users = a.users })
			a.addUser("u1")
			c := a.webClient()
			rt1 := mustRefresh(t, a, c, a.login(c).RefreshToken).RefreshToken
			rt2 := mustRefresh(t, b, c, rt1).RefreshToken
			clk.Add(5 * time.Second)
			if again := mustRefresh(t, a, c, rt1); again.RefreshToken != rt2 {
				t.Errorf("retry got %q; want the successor %q", again.RefreshToken, rt2)
			}
		})
		t.Run("revoked on another replica", func(t *testing.T) {
			a, b := replicas(t, open)
			c := a.webClient()
			first := a.login(c)
			r := mustRefresh(t, a, c, first.RefreshToken)
			if err := b.svc.EndFamilies(context.Background(), []string{a.claims(r.AccessToken).SID}); err != nil {
				t.Fatal(err)
			}
			if _, err := a.token(c, refreshForm(r.RefreshToken)); oauthCode(err) != oauth.InvalidGrant {
				t.Fatalf("refresh of a login ended elsewhere: %v; want invalid_grant", err)
			}
			if a.reuseEvents() != 0 || a.active(c, r.AccessToken) {
				t.Errorf("%d reuse events, access token active %v; want none, inactive", a.reuseEvents(), a.active(c, r.AccessToken))
			}
		})
		t.Run("login ended while cached", func(t *testing.T) {
			a, b := replicas(t, open)
			c := a.webClient()
			rt := mustRefresh(t, a, c, a.login(c).RefreshToken).RefreshToken
			a.clock.Add(time.Second)
			a.users.update("u1", func(u *store.User) { u.NotBefore = a.clock.Now() })
			reads := a.st.count("GetFamily")
			if _, err := a.token(c, refreshForm(rt)); oauthCode(err) != oauth.InvalidGrant {
				t.Fatalf("refresh after the user's revocation: %v; want invalid_grant", err)
			}
			if a.st.count("GetFamily") != reads+1 {
				t.Error("the refusal was not decided on a fresh read")
			}
			// As without the cache, the login is ended in the store.
			a.users.update("u1", func(u *store.User) { u.NotBefore = time.Time{} })
			if _, err := b.token(c, refreshForm(rt)); oauthCode(err) != oauth.InvalidGrant {
				t.Fatalf("the ended login on the other replica: %v; want invalid_grant", err)
			}
		})
		t.Run("a refused widening spends nothing", func(t *testing.T) {
			a, _ := replicas(t, open)
			c := a.webClient()
			rt := mustRefresh(t, a, c, a.login(c).RefreshToken).RefreshToken
			if _, err := a.token(c, refreshForm(rt, "audience", "https://elsewhere.example")); oauthCode(err) != oauth.InvalidTarget {
				t.Fatalf("foreign audience: %v; want invalid_target", err)
			}
			if _, err := a.token(c, refreshForm(rt)); err != nil || a.reuseEvents() != 0 {
				t.Fatalf("honest retry: %v, %d reuse events", err, a.reuseEvents())
			}
		})
		t.Run("a public login bound on another replica", func(t *testing.T) {
			a, b := replicas(t, open)
			c := a.publicClient()
			auth := url.Values{"redirect_uri": {c.RedirectURIs[0]}}
			verifier, challenge := verifierFor("v-")
			auth.Set("code_challenge", challenge)
			auth.Set("code_challenge_method", "S256")
			code := a.code(c, auth, "u1")
			first, err := a.token(c, url.Values{"grant_type": {GrantAuthorizationCode}, "code": {code},
				"redirect_uri": {c.RedirectURIs[0]}, "code_verifier": {verifier}})
			if err != nil {
				t.Fatal(err)
			}
			rt1 := mustRefresh(t, a, c, first.RefreshToken).RefreshToken // unbound
			// RFC 9449 §5: a refresh with a proof binds the login.
			bound, err := b.svc.Token(withJKT(context.Background(), "key-thumbprint"), &Request{Client: c, Form: refreshForm(rt1)})
			if err != nil {
				t.Fatalf("refresh with a proof: %v", err)
			}
			if _, err := a.token(c, refreshForm(bound.RefreshToken)); oauthCode(err) != "invalid_dpop_proof" {
				t.Fatalf("bound login refreshed without a proof on the first replica: %v; want invalid_dpop_proof", err)
			}
			next, err := a.svc.Token(withJKT(context.Background(), "key-thumbprint"), &Request{Client: c, Form: refreshForm(bound.RefreshToken)})
			if err != nil {
				t.Fatalf("with the proof: %v", err)
			}
			// Bound now, the login is served from the cache, and still
			// refused without the proof.
			if _, err := a.token(c, refreshForm(next.RefreshToken)); oauthCode(err) != "invalid_dpop_proof" {
				t.Fatalf("cached bound login without a proof: %v; want invalid_dpop_proof", err)
			}
		})
	})
}

// TestFamilyCacheBounds: the cache forgets expired entries, keeps no
// token digests, and stays within its size.
func TestFamilyCacheBounds(t *testing.T) {
	now := time.Now()
	c := newFamilyCache(4)
	fam := func(id string, live time.Duration) store.Family {
		return store.Family{ID: id, ClientID: "web", Subject: "u1", ExpiresAt: now.Add(live), IdleExpiresAt: now.Add(live),
			Current: []byte("cur"), Previous: []byte("prev"), SealedCurrent: []byte("sealed"), Generation: 3}
	}
	c.put(fam("f0", time.Minute), now)
	got, ok := c.get("f0", now)
	if !ok || got.Subject != "u1" || got.Current != nil || got.Previous != nil || got.SealedCurrent != nil || got.Generation != 0 {
		t.Fatalf("get: %+v, %v; want the family without its tokens", got, ok)
	}
	if _, ok := c.get("f0", now.Add(time.Minute)); ok {
		t.Error("an expired family was served")
	}
	revoked := fam("f0", time.Minute)
	revoked.Revoked = true
	c.put(revoked, now)
	if _, ok := c.get("f0", now); ok {
		t.Error("a revoked family was kept")
	}
	for i := range 20 {
		c.put(fam(string(rune('a'+i)), time.Minute), now)
		if n := len(c.entries); n > 4 {
			t.Fatalf("%d entries; want at most 4", n)
		}
	}
	if _, ok := c.get(string(rune('a'+19)), now); !ok {
		t.Error("the last family put is not cached")
	}
}
