package storetest

import (
	"context"
	"errors"
	"fmt"
	"testing"
	"time"

	"github.com/authd-dev/authd/store"
)

func testReplay(t *testing.T, newStore func(t *testing.T) store.Store) {
	ctx := context.Background()

	t.Run("FirstUseWinsLaterUsesRefused", func(t *testing.T) {
		s := newStore(t)
		exp := time.Now().Add(time.Minute)
		if err := s.MarkUsed(ctx, "test\x00c1\x00jti-1", exp); err != nil {
			t.Fatalf("first MarkUsed: %v", err)
		}
		for range 3 {
			if err := s.MarkUsed(ctx, "test\x00c1\x00jti-1", exp); !errors.Is(err, store.ErrExists) {
				t.Fatalf("second MarkUsed: %v, want ErrExists", err)
			}
		}
		// Another key (same jti, another client) is independent.
		if err := s.MarkUsed(ctx, "test\x00c2\x00jti-1", exp); err != nil {
			t.Fatalf("MarkUsed of another key: %v", err)
		}
	})

	t.Run("ExpiryInThePastRefused", func(t *testing.T) {
		s := newStore(t)
		if err := s.MarkUsed(ctx, "k", time.Now().Add(-time.Second)); err == nil || errors.Is(err, store.ErrExists) {
			t.Fatalf("MarkUsed with a past expiry: %v, want a plain error", err)
		}
		// Nothing was recorded.
		if err := s.MarkUsed(ctx, "k", time.Now().Add(time.Minute)); err != nil {
			t.Fatalf("MarkUsed after the refused one: %v", err)
		}
	})

	t.Run("EntriesExpireByThemselves", func(t *testing.T) {
		s := newStore(t)
		exp := time.Now().Add(300 * time.Millisecond)
		if err := s.MarkUsed(ctx, "short", exp); err != nil {
			t.Fatal(err)
		}
		time.Sleep(time.Until(exp) + 150*time.Millisecond)
		if err := s.MarkUsed(ctx, "short", time.Now().Add(time.Minute)); err != nil {
			t.Fatalf("MarkUsed after the entry expired: %v, want nil", err)
		}
		if err := s.MarkUsed(ctx, "short", time.Now().Add(time.Minute)); !errors.Is(err, store.ErrExists) {
			t.Fatalf("MarkUsed again: %v, want ErrExists", err)
		}
	})

	t.Run("ParallelCallersOneWinner", func(t *testing.T) {
		s := newStore(t)
		exp := time.Now().Add(time.Minute)
		for round := range 5 {
			key := fmt.Sprint("race-", round)
			errs := Parallel(16, func(int) error { return s.MarkUsed(ctx, key, exp) })
			wins := 0
			for i, err := range errs {
				switch {
				case err == nil:
					wins++
				case !errors.Is(err, store.ErrExists):
					t.Fatalf("round %d caller %d: %v", round, i, err)
				}
			}
			if wins != 1 {
				t.Fatalf("round %d: %d of 16 parallel callers won; want exactly 1", round, wins)
			}
		}
	})

	t.Run("ManyEntriesNeverLockOut", func(t *testing.T) {
		// The record has no capacity to fill: fresh keys keep working
		// however many live ones there are.
		s := newStore(t)
		exp := time.Now().Add(time.Minute)
		errs := Parallel(8, func(i int) error {
			for j := range 250 {
				if err := s.MarkUsed(ctx, fmt.Sprint("bulk-", i, "-", j), exp); err != nil {
					return err
				}
			}
			return nil
		})
		for i, err := range errs {
			if err != nil {
				t.Fatalf("writer %d: %v", i, err)
			}
		}
		if err := s.MarkUsed(ctx, "one-more", exp); err != nil {
			t.Fatalf("MarkUsed after 2000 live entries: %v", err)
		}
	})
}
