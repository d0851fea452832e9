package clients

import (
	"bytes"
	"context"
	"errors"
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
	r, err := NewRegistry(Config{Store: counting, SecretKey: bytes.Repeat([]byte{1}, 32), CacheTTL: time.Second, Now: clock, Issuer: testIssuer, Replay: st})
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

// TestClientCacheReadOverlappingDelete: a read that fetched a client just
// before it was deleted (or its secret reset) must not put the old record
// back into the cache after the delete dropped it. The fake store's hook
// runs the delete between the store read and the cache's decision to keep
// what it read, deterministically.
func TestClientCacheReadOverlappingDelete(t *testing.T) {
	ctx := context.Background()
	for _, write := range []string{"delete", "reset secret"} {
		t.Run(write, func(t *testing.T) {
			st, clk := newMemStore(), &clock{now: t0}
			r, err := NewRegistry(Config{Store: st, SecretKey: testKey, Now: clk.Now, Logger: quiet, Issuer: testIssuer, Replay: newMemReplay(clk.Now), CacheTTL: time.Minute})
			if err != nil {
				t.Fatal(err)
			}
			reg, err := r.Create(ctx, Metadata{ClientID: "victim"})
			if err != nil {
				t.Fatal(err)
			}
			overlapped := false
			st.mu.Lock()
			st.afterGet = func(id string) {
				if overlapped {
					return
				}
				overlapped = true
				switch write {
				case "delete":
					err = r.Delete(ctx, id)
				default:
					_, err = r.ResetSecret(ctx, id)
				}
				if err != nil {
					t.Errorf("%s during the read: %v", write, err)
				}
			}
			st.mu.Unlock()
			// The overlapping read may serve what it read (it began before
			// the write), but it must not keep it.
			if _, err := r.Lookup(ctx, "victim"); err != nil {
				t.Fatalf("overlapping lookup: %v", err)
			}
			if !overlapped {
				t.Fatal("the hook did not run")
			}
			switch write {
			case "delete":
				if _, err := r.Lookup(ctx, "victim"); !errors.Is(err, store.ErrNotFound) {
					t.Fatalf("lookup after the delete: %v; want ErrNotFound (the stale record was cached)", err)
				}
			default:
				if _, err := r.checkSecret(ctx, "victim", reg.ClientSecret, AuthBasic); err == nil {
					t.Fatal("the old secret works after the reset: the stale record was cached")
				}
			}
		})
	}
}

// TestClientCacheNotifications: two registries on one store (two replicas
// of a bolt node, or of Redis) with a long TTL: a delete or secret reset
// on one is seen by the other at once through the store's Notifier, not
// after the TTL.
func TestClientCacheNotifications(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	st, err := bolt.Open(filepath.Join(t.TempDir(), "db"), bolt.Options{SweepInterval: -1})
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	clk := &clock{now: time.Now()} // frozen: the TTL never passes
	newReplica := func(cs ClientStore) *Registry {
		r, err := NewRegistry(Config{Store: cs, SecretKey: testKey, Now: clk.Now, Logger: quiet, Issuer: testIssuer, Replay: st, Notifier: st, CacheTTL: time.Hour})
		if err != nil {
			t.Fatal(err)
		}
		return r
	}
	counting := &countingStore{ClientStore: st} // counts b's store reads
	a, b := newReplica(st), newReplica(counting)
	done := make(chan error, 1)
	go func() { done <- b.Run(ctx) }()

	reg, err := a.Create(ctx, Metadata{ClientID: "shared"})
	if err != nil {
		t.Fatal(err)
	}
	waitFor := func(what string, ok func() bool) {
		t.Helper()
		deadline := time.Now().Add(2 * time.Second)
		for !ok() {
			if time.Now().After(deadline) {
				t.Fatalf("%s: not within 2s", what)
			}
			time.Sleep(5 * time.Millisecond)
		}
	}
	// b caches the client. Its subscription going live flushes the cache
	// once (NoticeSubscribed), so wait until a lookup is a cache hit.
	waitFor("b serves the client from its cache", func() bool {
		if _, err := b.checkSecret(ctx, "shared", reg.ClientSecret, AuthBasic); err != nil {
			t.Fatalf("b refuses the client: %v", err)
		}
		reads := counting.gets.Load()
		_, err := b.Lookup(ctx, "shared")
		return err == nil && counting.gets.Load() == reads
	})
	fresh, err := a.ResetSecret(ctx, "shared")
	if err != nil {
		t.Fatal(err)
	}
	waitFor("b refuses the old secret after a's reset", func() bool {
		_, err := b.checkSecret(ctx, "shared", reg.ClientSecret, AuthBasic)
		return err != nil
	})
	if _, err := b.checkSecret(ctx, "shared", fresh.ClientSecret, AuthBasic); err != nil {
		t.Fatalf("b refuses the new secret: %v", err)
	}
	if err := a.Delete(ctx, "shared"); err != nil {
		t.Fatal(err)
	}
	waitFor("b refuses the client a deleted", func() bool {
		_, err := b.Lookup(ctx, "shared")
		return errors.Is(err, store.ErrNotFound)
	})
	cancel()
	if err := <-done; !errors.Is(err, context.Canceled) {
		t.Fatalf("Run: %v", err)
	}
}
