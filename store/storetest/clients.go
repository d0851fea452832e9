package storetest

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"testing"

	"github.com/authd-dev/authd/store"
)

// errUpdater is what the suite's update functions return to abort.
var errUpdater = errors.New("storetest: update refused")

// Parallel runs fn(0) … fn(n-1) on n goroutines released together, and
// returns their errors by index. Backends may use it in their own tests.
func Parallel(n int, fn func(i int) error) []error {
	errs := make([]error, n)
	start := make(chan struct{})
	var wg sync.WaitGroup
	for i := range n {
		wg.Go(func() {
			<-start
			errs[i] = fn(i)
		})
	}
	close(start)
	wg.Wait()
	return errs
}

func testClients(t *testing.T, newStore func(t *testing.T) store.Store) {
	ctx := context.Background()

	t.Run("CreateGet", func(t *testing.T) {
		s := newStore(t)
		want := NewClient("c1", Now())
		if err := s.CreateClient(ctx, want); err != nil {
			t.Fatalf("CreateClient: %v", err)
		}
		got, err := s.GetClient(ctx, "c1")
		if err != nil {
			t.Fatalf("GetClient: %v", err)
		}
		mustEqual(t, "GetClient", got, want)
	})

	t.Run("CreateDuplicate", func(t *testing.T) {
		s := newStore(t)
		now := Now()
		first := NewClient("c1", now)
		if err := s.CreateClient(ctx, first); err != nil {
			t.Fatalf("CreateClient: %v", err)
		}
		second := NewClient("c1", now)
		second.Name = "impostor"
		if err := s.CreateClient(ctx, second); !errors.Is(err, store.ErrExists) {
			t.Fatalf("CreateClient duplicate: got %v, want ErrExists", err)
		}
		got, err := s.GetClient(ctx, "c1")
		if err != nil {
			t.Fatalf("GetClient: %v", err)
		}
		mustEqual(t, "client after rejected duplicate", got, first)
	})

	t.Run("CreateConcurrentSameID", func(t *testing.T) {
		s := newStore(t)
		now := Now()
		errs := Parallel(8, func(i int) error {
			c := NewClient("c1", now)
			c.Name = fmt.Sprint("writer ", i)
			return s.CreateClient(ctx, c)
		})
		wins := 0
		for i, err := range errs {
			switch {
			case err == nil:
				wins++
			case !errors.Is(err, store.ErrExists):
				t.Errorf("writer %d: got %v, want nil or ErrExists", i, err)
			}
		}
		if wins != 1 {
			t.Fatalf("%d concurrent creates of one ID succeeded, want exactly 1", wins)
		}
	})

	t.Run("GetMissing", func(t *testing.T) {
		s := newStore(t)
		if _, err := s.GetClient(ctx, "nope"); !errors.Is(err, store.ErrNotFound) {
			t.Fatalf("GetClient missing: got %v, want ErrNotFound", err)
		}
	})

	t.Run("ListOrderedByID", func(t *testing.T) {
		s := newStore(t)
		got, err := s.ListClients(ctx)
		if err != nil {
			t.Fatalf("ListClients on empty store: %v", err)
		}
		if len(got) != 0 {
			t.Fatalf("ListClients on empty store: %d clients, want 0", len(got))
		}
		now := Now()
		var want []store.Client
		for _, id := range []string{"b", "a", "c", "aa"} {
			c := NewClient(id, now)
			if err := s.CreateClient(ctx, c); err != nil {
				t.Fatalf("CreateClient %s: %v", id, err)
			}
		}
		for _, id := range []string{"a", "aa", "b", "c"} {
			want = append(want, NewClient(id, now))
		}
		got, err = s.ListClients(ctx)
		if err != nil {
			t.Fatalf("ListClients: %v", err)
		}
		mustEqual(t, "ListClients", got, want)
	})

	t.Run("Update", func(t *testing.T) {
		s := newStore(t)
		now := Now()
		if err := s.CreateClient(ctx, NewClient("c1", now)); err != nil {
			t.Fatalf("CreateClient: %v", err)
		}
		want := NewClient("c1", now)
		want.Name = "renamed"
		want.RedirectURIs = []string{"https://new.example/cb"}
		want.SecretDigest = Digest("new secret")
		want.UpdatedAt = now.Add(1)
		calls := 0
		var passed store.Client
		got, err := s.UpdateClient(ctx, "c1", func(c *store.Client) error {
			calls++
			passed = *c
			c.Name = want.Name
			c.RedirectURIs = want.RedirectURIs
			c.SecretDigest = want.SecretDigest
			c.UpdatedAt = want.UpdatedAt
			return nil
		})
		if err != nil {
			t.Fatalf("UpdateClient: %v", err)
		}
		if calls == 0 {
			t.Fatal("UpdateClient did not call update")
		}
		mustEqual(t, "client passed to update", passed, NewClient("c1", now))
		mustEqual(t, "UpdateClient result", got, want)
		stored, err := s.GetClient(ctx, "c1")
		if err != nil {
			t.Fatalf("GetClient: %v", err)
		}
		mustEqual(t, "client after update", stored, want)
	})

	t.Run("UpdateErrorAborts", func(t *testing.T) {
		s := newStore(t)
		want := NewClient("c1", Now())
		if err := s.CreateClient(ctx, want); err != nil {
			t.Fatalf("CreateClient: %v", err)
		}
		_, err := s.UpdateClient(ctx, "c1", func(c *store.Client) error {
			c.Name = "must not be written"
			c.Audience = nil
			return errUpdater
		})
		if !errors.Is(err, errUpdater) {
			t.Fatalf("UpdateClient with failing update: got %v, want the update's error", err)
		}
		got, err := s.GetClient(ctx, "c1")
		if err != nil {
			t.Fatalf("GetClient: %v", err)
		}
		mustEqual(t, "client after aborted update", got, want)
	})

	t.Run("UpdateCannotChangeID", func(t *testing.T) {
		s := newStore(t)
		now := Now()
		if err := s.CreateClient(ctx, NewClient("c1", now)); err != nil {
			t.Fatalf("CreateClient: %v", err)
		}
		got, err := s.UpdateClient(ctx, "c1", func(c *store.Client) error {
			c.ID = "c2"
			c.Name = "renamed"
			return nil
		})
		// Either the change is refused or the ID is kept; never a move.
		if err == nil && got.ID != "c1" {
			t.Fatalf("UpdateClient result has ID %q, want c1", got.ID)
		}
		stored, err := s.GetClient(ctx, "c1")
		if err != nil {
			t.Fatalf("GetClient c1 after ID change attempt: %v", err)
		}
		if stored.ID != "c1" {
			t.Fatalf("stored client has ID %q, want c1", stored.ID)
		}
		if _, err := s.GetClient(ctx, "c2"); !errors.Is(err, store.ErrNotFound) {
			t.Fatalf("GetClient c2: got %v, want ErrNotFound", err)
		}
	})

	t.Run("UpdateMissing", func(t *testing.T) {
		s := newStore(t)
		_, err := s.UpdateClient(ctx, "nope", func(c *store.Client) error { return nil })
		if !errors.Is(err, store.ErrNotFound) {
			t.Fatalf("UpdateClient missing: got %v, want ErrNotFound", err)
		}
		if _, err := s.GetClient(ctx, "nope"); !errors.Is(err, store.ErrNotFound) {
			t.Fatalf("UpdateClient missing created a client: GetClient got %v", err)
		}
	})

	t.Run("UpdateConcurrentIsAtomic", func(t *testing.T) {
		s := newStore(t)
		c := NewClient("c1", Now())
		c.Audience = nil
		if err := s.CreateClient(ctx, c); err != nil {
			t.Fatalf("CreateClient: %v", err)
		}
		const n = 16
		errs := Parallel(n, func(i int) error {
			_, err := s.UpdateClient(ctx, "c1", func(c *store.Client) error {
				c.Audience = append(c.Audience, fmt.Sprint("aud-", i))
				return nil
			})
			return err
		})
		for i, err := range errs {
			if err != nil {
				t.Fatalf("UpdateClient %d: %v", i, err)
			}
		}
		got, err := s.GetClient(ctx, "c1")
		if err != nil {
			t.Fatalf("GetClient: %v", err)
		}
		seen := map[string]bool{}
		for _, a := range got.Audience {
			seen[a] = true
		}
		if len(got.Audience) != n || len(seen) != n {
			t.Fatalf("after %d concurrent appends the client has %d audiences (%d distinct): %v; an update was lost",
				n, len(got.Audience), len(seen), got.Audience)
		}
	})

	t.Run("Delete", func(t *testing.T) {
		s := newStore(t)
		now := Now()
		for _, id := range []string{"c1", "c2"} {
			if err := s.CreateClient(ctx, NewClient(id, now)); err != nil {
				t.Fatalf("CreateClient %s: %v", id, err)
			}
		}
		if err := s.DeleteClient(ctx, "c1"); err != nil {
			t.Fatalf("DeleteClient: %v", err)
		}
		if _, err := s.GetClient(ctx, "c1"); !errors.Is(err, store.ErrNotFound) {
			t.Fatalf("GetClient deleted: got %v, want ErrNotFound", err)
		}
		if err := s.DeleteClient(ctx, "c1"); !errors.Is(err, store.ErrNotFound) {
			t.Fatalf("DeleteClient twice: got %v, want ErrNotFound", err)
		}
		list, err := s.ListClients(ctx)
		if err != nil {
			t.Fatalf("ListClients: %v", err)
		}
		mustEqual(t, "ListClients after delete", list, []store.Client{NewClient("c2", now)})
		// The ID is free again.
		if err := s.CreateClient(ctx, NewClient("c1", now)); err != nil {
			t.Fatalf("CreateClient after delete: %v", err)
		}
	})
}
