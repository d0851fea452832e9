package clients

import (
	"bytes"
	"context"
	"path/filepath"
	"sync/atomic"
	"testing"
	"time"

	"github.com/authd-dev/authd/store"
	"github.com/authd-dev/authd/store/bolt"
)

// countingStore counts GetClient calls that reach the store.
type countingStore struct {
	ClientStore
	gets atomic.Int64
}

func (s *countingStore) GetClient(ctx context.Context, id string) (store.Client, error) {
	s.gets.Add(1)
	return s.ClientStore.GetClient(ctx, id)
}

func TestClientCache(t *testing.T) {
	ctx := context.Background()
	st, err := bolt.Open(filepath.Join(t.TempDir(), "db"), bolt.Options{SweepInterval: -1})
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	counting := &countingStore{ClientStore: st}
	now := time.Unix(1_800_000_000, 0)
	clock := func() time.Time { return now }
	r, err := NewRegistry(Config{Store: counting, SecretKey: bytes.Repeat([]byte{1}, 32), CacheTTL: time.Second, Now: clock})
	if err != nil {
		t.Fatal(err)
	}
	reg, err := r.Create(ctx, Metadata{ClientID: "cached"})
	if err != nil {
		t.Fatal(err)
	}
	for range 5 {
		if _, err := r.Lookup(ctx, "cached"); err != nil {
			t.Fatal(err)
		}
	}
	if n := counting.gets.Load(); n != 1 {
		t.Fatalf("%d store reads for 5 lookups within the TTL; want 1", n)
	}
	// A local write takes effect at once: the old secret stops working.
	fresh, err := r.ResetSecret(ctx, "cached")
	if err != nil {
		t.Fatal(err)
	}
	if _, err := r.checkSecret(ctx, "cached", reg.ClientSecret, AuthBasic); err == nil {
		t.Fatal("the old secret works after a local reset")
	}
	if _, err := r.checkSecret(ctx, "cached", fresh.ClientSecret, AuthBasic); err != nil {
		t.Fatalf("the new secret fails: %v", err)
	}
	// A write elsewhere (straight to the store) is seen after the TTL.
	if err := st.DeleteClient(ctx, "cached"); err != nil {
		t.Fatal(err)
	}
	if _, err := r.Lookup(ctx, "cached"); err != nil {
		t.Fatal("the cached record vanished before its TTL")
	}
	now = now.Add(time.Second)
	if _, err := r.Lookup(ctx, "cached"); err == nil {
		t.Fatal("a client deleted elsewhere is still served after the TTL")
	}
	// Unknown ids are not cached.
	before := counting.gets.Load()
	r.Lookup(ctx, "ghost")
	r.Lookup(ctx, "ghost")
	if counting.gets.Load()-before != 2 {
		t.Fatal("an unknown client id was cached")
	}
}
