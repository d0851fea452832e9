package users

import (
	"context"
	"errors"
	"path/filepath"
	"sync/atomic"
	"testing"
	"time"

	"github.com/authd-dev/authd/store"
	"github.com/authd-dev/authd/store/bolt"
)

// countingUsers counts GetUser calls that reach the store.
type countingUsers struct {
	UserStore
	gets atomic.Int64
}

func (s *countingUsers) GetUser(ctx context.Context, id string) (store.User, error) {
	s.gets.Add(1)
	return s.UserStore.GetUser(ctx, id)
}

// TestUserCache: lookups within the TTL cost one store read; every write
// through the Service (revoke, patch, delete) takes effect at once; a
// write that bypasses the Service is seen after the TTL; unknown ids are
// not cached.
func TestUserCache(t *testing.T) {
	ctx := context.Background()
	mem := newMemStore()
	counting := &countingUsers{UserStore: mem}
	clk := &clock{now: t0}
	cfg := testConfig(mem, &fast, clk.Now)
	cfg.Store, cfg.CacheTTL = counting, time.Second
	s, err := New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	v, err := s.Create(ctx, CreateRequest{Username: "alice", Password: "password1", Roles: []string{"reader"}})
	if err != nil {
		t.Fatal(err)
	}
	for range 5 {
		if _, err := s.Lookup(ctx, v.ID); err != nil {
			t.Fatal(err)
		}
	}
	if n := counting.gets.Load(); n != 1 {
		t.Fatalf("%d store reads for 5 lookups within the TTL; want 1", n)
	}
	// A revoke is seen by the next lookup, not after the TTL.
	at, err := s.Revoke(ctx, v.ID)
	if err != nil {
		t.Fatal(err)
	}
	if u, err := s.Lookup(ctx, v.ID); err != nil || !u.NotBefore.Equal(at) {
		t.Fatalf("after revoke: NotBefore %v, %v; want %v", u.NotBefore, err, at)
	}
	roles := []string{"admin"}
	if _, err := s.Patch(ctx, v.ID, PatchRequest{Roles: &roles}); err != nil {
		t.Fatal(err)
	}
	if u, _ := s.Lookup(ctx, v.ID); len(u.Roles) != 1 || u.Roles[0] != "admin" {
		t.Fatalf("after patch: roles %v; want [admin]", u.Roles)
	}
	// A write straight to the store is seen after the TTL.
	if _, err := mem.UpdateUser(ctx, v.ID, func(u *store.User) error { u.Roles = nil; return nil }); err != nil {
		t.Fatal(err)
	}
	if u, _ := s.Lookup(ctx, v.ID); len(u.Roles) != 1 {
		t.Fatal("the cached record changed before its TTL")
	}
	clk.Add(time.Second)
	if u, _ := s.Lookup(ctx, v.ID); len(u.Roles) != 0 {
		t.Fatalf("roles %v after the TTL; want the stored none", u.Roles)
	}
	if err := s.Delete(ctx, v.ID); err != nil {
		t.Fatal(err)
	}
	if _, err := s.Lookup(ctx, v.ID); !errors.Is(err, store.ErrNotFound) {
		t.Fatalf("lookup after delete: %v; want ErrNotFound", err)
	}
	before := counting.gets.Load()
	s.Lookup(ctx, "ghost")
	s.Lookup(ctx, "ghost")
	if counting.gets.Load()-before != 2 {
		t.Fatal("an unknown user id was cached")
	}
}

// TestUserCacheReadOverlappingRevoke: a read that fetched a user just
// before a revoke must not put the old record (without NotBefore) back
// into the cache after the revoke dropped it. The fake store's hook runs
// the revoke between the store read and the cache's decision to keep it.
func TestUserCacheReadOverlappingRevoke(t *testing.T) {
	ctx := context.Background()
	mem := newMemStore()
	cfg := testConfig(mem, &fast, (&clock{now: t0}).Now)
	cfg.CacheTTL = time.Minute
	s, err := New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	v, err := s.Create(ctx, CreateRequest{Username: "bob", Password: "password1"})
	if err != nil {
		t.Fatal(err)
	}
	overlapped := false
	mem.mu.Lock()
	mem.afterGet = func(id string) {
		if overlapped {
			return
		}
		overlapped = true
		if _, err := s.Revoke(ctx, id); err != nil {
			t.Errorf("revoke during the read: %v", err)
		}
	}
	mem.mu.Unlock()
	if u, err := s.Lookup(ctx, v.ID); err != nil || !u.NotBefore.IsZero() {
		t.Fatalf("overlapping lookup: %+v %v; want the record read before the revoke", u, err)
	}
	if !overlapped {
		t.Fatal("the hook did not run")
	}
	if u, err := s.Lookup(ctx, v.ID); err != nil || u.NotBefore.IsZero() {
		t.Fatalf("lookup after the revoke: NotBefore %v, %v: the stale record was cached", u.NotBefore, err)
	}
}

// TestUserCacheNotifications: two services on one store (two replicas)
// with a TTL that never passes: a revoke or delete on one is seen by the
// other at once through the store's Notifier.
func TestUserCacheNotifications(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	st, err := bolt.Open(filepath.Join(t.TempDir(), "db"), bolt.Options{SweepInterval: -1})
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	clk := &clock{now: time.Now()} // frozen: the TTL never passes
	newReplica := func(us UserStore) *Service {
		cfg := testConfig(newMemStore(), &fast, clk.Now)
		cfg.Store, cfg.Notifier, cfg.CacheTTL = us, st, time.Hour
		s, err := New(cfg)
		if err != nil {
			t.Fatal(err)
		}
		return s
	}
	counting := &countingUsers{UserStore: st}
	a, b := newReplica(st), newReplica(counting)
	done := make(chan error, 1)
	go func() { done <- b.Run(ctx) }()
	v, err := a.Create(ctx, CreateRequest{Username: "carol", Password: "password1"})
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
	// b's subscription going live flushes its cache once
	// (NoticeSubscribed): wait until a lookup is a cache hit.
	waitFor("b serves the user from its cache", func() bool {
		if _, err := b.Lookup(ctx, v.ID); err != nil {
			t.Fatalf("b: %v", err)
		}
		reads := counting.gets.Load()
		_, err := b.Lookup(ctx, v.ID)
		return err == nil && counting.gets.Load() == reads
	})
	at, err := a.Revoke(ctx, v.ID)
	if err != nil {
		t.Fatal(err)
	}
	waitFor("b sees a's revoke", func() bool {
		u, err := b.Lookup(ctx, v.ID)
		return err == nil && u.NotBefore.Equal(at)
	})
	if err := a.Delete(ctx, v.ID); err != nil {
		t.Fatal(err)
	}
	waitFor("b no longer finds the user a deleted", func() bool {
		_, err := b.Lookup(ctx, v.ID)
		return errors.Is(err, store.ErrNotFound)
	})
	cancel()
	if err := <-done; !errors.Is(err, context.Canceled) {
		t.Fatalf("Run: %v", err)
	}
}
