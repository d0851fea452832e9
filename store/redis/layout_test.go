package redis

import (
	"context"
	"slices"
	"testing"
	"time"

	"github.com/authd-dev/authd/store"
	"github.com/authd-dev/authd/store/storetest"
)

// TestKeyLayout: every key carries the prefix, and the keys are exactly
// the documented ones (hash tags included, which Cluster relies on).
func TestKeyLayout(t *testing.T) {
	ctx := context.Background()
	s := openTest(t, Options{})
	now := storetest.Now()
	must := func(err error) {
		t.Helper()
		if err != nil {
			t.Fatal(err)
		}
	}
	must(s.CreateClient(ctx, storetest.NewClient("c1", now)))
	must(s.CreateUser(ctx, storetest.NewUser("u1", "alice", now)))
	_, err := s.SwapKeySet(ctx, 0, []store.Key{storetest.NewKey("k1", "RS256", store.KeyActive, now)})
	must(err)
	must(s.CreateFamily(ctx, storetest.NewFamily("f1", now, "t0")))
	must(s.Deny(ctx, store.Denial{Kind: store.DenyJTI, Value: "j1", At: now, ExpiresAt: now.Add(time.Hour)}))

	got, err := s.rdb.Keys(ctx, s.prefix+"*").Result() // a test on its own prefix
	must(err)
	p := s.prefix
	want := []string{
		p + "{clients}:c:c1", p + "{clients}:idx",
		p + "{users}:u:u1", p + "{users}:n:alice", p + "{users}:idx",
		p + "{keys}:set",
		p + "fam:{f1}",
		p + "deny:jti:j1",
		p + "revocations", // the revocation feed stream
	}
	slices.Sort(got)
	slices.Sort(want)
	if !slices.Equal(got, want) {
		t.Fatalf("keys:\n got  %q\n want %q", got, want)
	}
}
