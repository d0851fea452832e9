package app_test

import (
	"context"
	"log/slog"
	"maps"
	"net/url"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/authd-dev/authd/internal/app"
	"github.com/authd-dev/authd/store"
)

// countingStore counts the calls that reach the store, by method. Every
// method of the Redis backend on the token path is one round trip (one
// command, script or pipeline), so these counts are the round trips of a
// request (issue 13).
type countingStore struct {
	store.Store
	mu    sync.Mutex
	calls map[string]int
}

func (c *countingStore) hit(name string) {
	c.mu.Lock()
	if c.calls == nil {
		c.calls = map[string]int{}
	}
	c.calls[name]++
	c.mu.Unlock()
}

// background are the methods the app's own loops call on their schedule
// (notifications, the revocation feed, key reloads), not requests.
var background = []string{"Subscribe", "Denials", "DenialsAfter", "GetKeySet", "Ping"}

// during returns the calls f made, background loops left out.
func (c *countingStore) during(f func()) map[string]int {
	c.mu.Lock()
	before := maps.Clone(c.calls)
	c.mu.Unlock()
	f()
	c.mu.Lock()
	defer c.mu.Unlock()
	out := map[string]int{}
	for name, n := range c.calls {
		if d := n - before[name]; d > 0 && !slices.Contains(background, name) {
			out[name] = d
		}
	}
	return out
}

func (c *countingStore) CreateClient(ctx context.Context, a1 store.Client) error {
	c.hit("CreateClient")
	return c.Store.CreateClient(ctx, a1)
}

func (c *countingStore) CreateFamily(ctx context.Context, a1 store.Family) error {
	c.hit("CreateFamily")
	return c.Store.CreateFamily(ctx, a1)
}

func (c *countingStore) CreateSession(ctx context.Context, a1 store.Session) error {
	c.hit("CreateSession")
	return c.Store.CreateSession(ctx, a1)
}

func (c *countingStore) CreateUser(ctx context.Context, a1 store.User) error {
	c.hit("CreateUser")
	return c.Store.CreateUser(ctx, a1)
}

func (c *countingStore) DeleteClient(ctx context.Context, a1 string) error {
	c.hit("DeleteClient")
	return c.Store.DeleteClient(ctx, a1)
}

func (c *countingStore) DeleteConsent(ctx context.Context, a1 string, a2 string) ([]string, error) {
	c.hit("DeleteConsent")
	return c.Store.DeleteConsent(ctx, a1, a2)
}

func (c *countingStore) DeleteSession(ctx context.Context, a1 string) (store.Session, error) {
	c.hit("DeleteSession")
	return c.Store.DeleteSession(ctx, a1)
}

func (c *countingStore) DeleteUser(ctx context.Context, a1 string) error {
	c.hit("DeleteUser")
	return c.Store.DeleteUser(ctx, a1)
}

func (c *countingStore) Denials(ctx context.Context) ([]store.Denial, string, error) {
	c.hit("Denials")
	return c.Store.Denials(ctx)
}

func (c *countingStore) DenialsAfter(ctx context.Context, a1 string, a2 time.Duration) ([]store.FeedEntry, error) {
	c.hit("DenialsAfter")
	return c.Store.DenialsAfter(ctx, a1, a2)
}

func (c *countingStore) Deny(ctx context.Context, a1 store.Denial) error {
	c.hit("Deny")
	return c.Store.Deny(ctx, a1)
}

func (c *countingStore) DenyState(ctx context.Context, a1 store.DenyQuery) (store.DenyState, error) {
	c.hit("DenyState")
	return c.Store.DenyState(ctx, a1)
}

func (c *countingStore) GetClient(ctx context.Context, a1 string) (store.Client, error) {
	c.hit("GetClient")
	return c.Store.GetClient(ctx, a1)
}

func (c *countingStore) GetConsent(ctx context.Context, a1 string, a2 string) (store.Consent, error) {
	c.hit("GetConsent")
	return c.Store.GetConsent(ctx, a1, a2)
}

func (c *countingStore) GetFamily(ctx context.Context, a1 string) (store.Family, error) {
	c.hit("GetFamily")
	return c.Store.GetFamily(ctx, a1)
}

func (c *countingStore) GetKeySet(ctx context.Context) (store.KeySet, error) {
	c.hit("GetKeySet")
	return c.Store.GetKeySet(ctx)
}

func (c *countingStore) GetSession(ctx context.Context, a1 string) (store.Session, error) {
	c.hit("GetSession")
	return c.Store.GetSession(ctx, a1)
}

func (c *countingStore) GetUser(ctx context.Context, a1 string) (store.User, error) {
	c.hit("GetUser")
	return c.Store.GetUser(ctx, a1)
}

func (c *countingStore) GetUserByUsername(ctx context.Context, a1 string) (store.User, error) {
	c.hit("GetUserByUsername")
	return c.Store.GetUserByUsername(ctx, a1)
}

func (c *countingStore) GrantConsent(ctx context.Context, a1 string, a2 string, a3 string, a4 time.Time, a5 time.Time) (store.Consent, error) {
	c.hit("GrantConsent")
	return c.Store.GrantConsent(ctx, a1, a2, a3, a4, a5)
}

func (c *countingStore) ListClients(ctx context.Context) ([]store.Client, error) {
	c.hit("ListClients")
	return c.Store.ListClients(ctx)
}

func (c *countingStore) ListConsents(ctx context.Context, a1 string) ([]store.Consent, error) {
	c.hit("ListConsents")
	return c.Store.ListConsents(ctx, a1)
}

func (c *countingStore) ListSessions(ctx context.Context, a1 string) ([]store.Session, error) {
	c.hit("ListSessions")
	return c.Store.ListSessions(ctx, a1)
}

func (c *countingStore) ListUsers(ctx context.Context) ([]store.User, error) {
	c.hit("ListUsers")
	return c.Store.ListUsers(ctx)
}

func (c *countingStore) MarkUsed(ctx context.Context, a1 string, a2 time.Time) error {
	c.hit("MarkUsed")
	return c.Store.MarkUsed(ctx, a1, a2)
}

func (c *countingStore) Ping(ctx context.Context) error {
	c.hit("Ping")
	return c.Store.Ping(ctx)
}

func (c *countingStore) Publish(ctx context.Context, a1 string, a2 string) error {
	c.hit("Publish")
	return c.Store.Publish(ctx, a1, a2)
}

func (c *countingStore) PutPushedRequest(ctx context.Context, a1 string, a2 []byte, a3 time.Time) error {
	c.hit("PutPushedRequest")
	return c.Store.PutPushedRequest(ctx, a1, a2, a3)
}

func (c *countingStore) ReturnAttempt(ctx context.Context, a1 time.Time, a2 []store.Bucket) error {
	c.hit("ReturnAttempt")
	return c.Store.ReturnAttempt(ctx, a1, a2)
}

func (c *countingStore) RevokeFamily(ctx context.Context, a1 string) error {
	c.hit("RevokeFamily")
	return c.Store.RevokeFamily(ctx, a1)
}

func (c *countingStore) RotateRefresh(ctx context.Context, a1 store.Rotation) (store.RotateResult, error) {
	c.hit("RotateRefresh")
	return c.Store.RotateRefresh(ctx, a1)
}

func (c *countingStore) SessionFamilies(ctx context.Context, a1 string) ([]string, error) {
	c.hit("SessionFamilies")
	return c.Store.SessionFamilies(ctx, a1)
}

func (c *countingStore) Subscribe(ctx context.Context, a1 string, a2 func(store.Notice)) error {
	c.hit("Subscribe")
	return c.Store.Subscribe(ctx, a1, a2)
}

func (c *countingStore) SwapKeySet(ctx context.Context, a1 uint64, a2 []store.Key) (store.KeySet, error) {
	c.hit("SwapKeySet")
	return c.Store.SwapKeySet(ctx, a1, a2)
}

func (c *countingStore) TakeAttempt(ctx context.Context, a1 time.Time, a2 []store.Bucket) (time.Duration, error) {
	c.hit("TakeAttempt")
	return c.Store.TakeAttempt(ctx, a1, a2)
}

func (c *countingStore) TakePushedRequest(ctx context.Context, a1 string) ([]byte, error) {
	c.hit("TakePushedRequest")
	return c.Store.TakePushedRequest(ctx, a1)
}

func (c *countingStore) TouchSession(ctx context.Context, a1 string, a2 store.SessionTouch) (store.Session, error) {
	c.hit("TouchSession")
	return c.Store.TouchSession(ctx, a1, a2)
}

func (c *countingStore) UpdateClient(ctx context.Context, a1 string, a2 func(*store.Client) error) (store.Client, error) {
	c.hit("UpdateClient")
	return c.Store.UpdateClient(ctx, a1, a2)
}

func (c *countingStore) UpdateUser(ctx context.Context, a1 string, a2 func(*store.User) error) (store.User, error) {
	c.hit("UpdateUser")
	return c.Store.UpdateUser(ctx, a1, a2)
}

func (c *countingStore) UserFamilies(ctx context.Context, a1 string, a2 string) ([]string, error) {
	c.hit("UserFamilies")
	return c.Store.UserFamilies(ctx, a1, a2)
}

// TestRefreshRoundTrips (issue 13): the first refresh of a login reads
// the family and rotates it; once the client, the user and the family
// (tokens' family cache, filled by the rotation) are cached, a refresh
// costs one store call (on Redis one round trip): the rotation. Client
// credentials cost none, an
// introspection one on bolt (the denylist) and none on Redis once its
// denylist mirror is fresh.
func TestRefreshRoundTrips(t *testing.T) {
	forEachStore(t, func(t *testing.T, storeArgs []string) {
		cs := &countingStore{}
		in := startApp(t, "", slog.LevelWarn, app.Options{Argon2: testArgon2,
			WrapStore: func(s store.Store) store.Store { cs.Store = s; return cs }},
			append(storeArgs, "--client-cache-ttl", "1m", "--user-cache-ttl", "1m")...)
		c := in.createClient(map[string]any{
			"client_name": "round trips",
			"grant_types": []string{"password", "refresh_token", "client_credentials"},
			"scope":       "read write",
		})
		in.createUser("rt", "correct horse battery", "reader")
		login := password(in, c, "rt", "correct horse battery")
		if login.Status != 200 || login.RefreshToken == "" {
			t.Fatalf("login: %d %s", login.Status, login.Error)
		}
		rt := login.RefreshToken
		rotate := func() map[string]int {
			t.Helper()
			var res tokenResponse
			calls := cs.during(func() { res = refresh(in, c, rt) })
			if res.Status != 200 || res.RefreshToken == "" {
				t.Fatalf("refresh: %d %s %s", res.Status, res.Error, res.Description)
			}
			rt = res.RefreshToken
			if calls["GetFamily"] > 1 || calls["RotateRefresh"] != 1 {
				t.Fatalf("refresh made %v; want at most one GetFamily and one RotateRefresh", calls)
			}
			return calls
		}
		// The login seeded the family cache: the first refresh makes no
		// family read either.
		if calls := rotate(); calls["GetFamily"] != 0 {
			t.Fatalf("first refresh made %v; want no family read", calls)
		}
		want := map[string]int{"RotateRefresh": 1}
		// The client and user caches fill on the first refresh; a
		// subscription going live drops them once (store.NoticeSubscribed),
		// so wait for a refresh served from them, then every further one
		// must be too.
		deadline := time.Now().Add(5 * time.Second)
		for calls := rotate(); !maps.Equal(calls, want); calls = rotate() {
			for name := range calls {
				if name != "GetClient" && name != "GetUser" && name != "GetFamily" && want[name] == 0 {
					t.Fatalf("refresh called %s (%v)", name, calls)
				}
			}
			if time.Now().After(deadline) {
				t.Fatalf("refreshes still make %v after 5s; want %v", calls, want)
			}
		}
		for range 5 {
			if calls := rotate(); !maps.Equal(calls, want) {
				t.Fatalf("refresh made %v; want %v", calls, want)
			}
		}
		var cc tokenResponse
		if calls := cs.during(func() {
			cc = in.token(c.ClientID, c.ClientSecret, url.Values{"grant_type": {"client_credentials"}, "scope": {"read"}})
		}); cc.Status != 200 || len(calls) != 0 {
			t.Fatalf("client_credentials: %d, store calls %v; want 200 and none", cc.Status, calls)
		}
		// Introspection reads the denylist: on bolt from the store; on
		// Redis from the local mirror (no round trip) once it is fresh,
		// from Redis until then.
		wantIntro := map[string]int{"DenyState": 1}
		if slices.Contains(storeArgs, "redis") {
			wantIntro = map[string]int{}
		}
		deadline = time.Now().Add(5 * time.Second)
		for {
			var intro introspection
			calls := cs.during(func() { intro = in.introspect(c, cc.AccessToken) })
			if !intro.Active {
				t.Fatal("introspection: inactive")
			}
			if maps.Equal(calls, wantIntro) {
				break
			}
			if !maps.Equal(calls, map[string]int{"DenyState": 1}) || time.Now().After(deadline) {
				t.Fatalf("introspection made %v; want %v", calls, wantIntro)
			}
		}
	})
}
