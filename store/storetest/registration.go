package storetest

import (
	"context"
	"errors"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/authd-dev/authd/store"
)

func testRegistrationTokens(t *testing.T, newStore func(t *testing.T) store.Store) {
	ctx := context.Background()
	token := func(name string, uses int, ttl time.Duration) store.RegistrationToken {
		now := Now()
		return store.RegistrationToken{Digest: Digest(name), Uses: uses, CreatedAt: now, ExpiresAt: now.Add(ttl)}
	}

	t.Run("UsesCountDownThenRefused", func(t *testing.T) {
		s := newStore(t)
		if err := s.CreateRegistrationToken(ctx, token("three", 3, time.Minute)); err != nil {
			t.Fatal(err)
		}
		for i := range 3 {
			if err := s.UseRegistrationToken(ctx, Digest("three")); err != nil {
				t.Fatalf("use %d of 3: %v", i+1, err)
			}
		}
		if err := s.UseRegistrationToken(ctx, Digest("three")); !errors.Is(err, store.ErrNotFound) {
			t.Fatalf("fourth use: %v, want ErrNotFound", err)
		}
	})

	t.Run("UnknownTokenNotFound", func(t *testing.T) {
		s := newStore(t)
		if err := s.UseRegistrationToken(ctx, Digest("never issued")); !errors.Is(err, store.ErrNotFound) {
			t.Fatalf("use of an unknown token: %v, want ErrNotFound", err)
		}
	})

	t.Run("DuplicateDigestRefused", func(t *testing.T) {
		s := newStore(t)
		if err := s.CreateRegistrationToken(ctx, token("dup", 1, time.Minute)); err != nil {
			t.Fatal(err)
		}
		if err := s.CreateRegistrationToken(ctx, token("dup", 5, time.Minute)); !errors.Is(err, store.ErrExists) {
			t.Fatalf("second create: %v, want ErrExists", err)
		}
		// The first record is unchanged: one use, then none.
		if err := s.UseRegistrationToken(ctx, Digest("dup")); err != nil {
			t.Fatal(err)
		}
		if err := s.UseRegistrationToken(ctx, Digest("dup")); !errors.Is(err, store.ErrNotFound) {
			t.Fatalf("second use of a 1-use token: %v, want ErrNotFound", err)
		}
	})

	t.Run("InvalidRecordsRefused", func(t *testing.T) {
		s := newStore(t)
		for name, tok := range map[string]store.RegistrationToken{
			"zero uses":    token("z", 0, time.Minute),
			"past expiry":  token("p", 1, -time.Second),
			"empty digest": {Uses: 1, ExpiresAt: Now().Add(time.Minute)},
		} {
			if err := s.CreateRegistrationToken(ctx, tok); err == nil || errors.Is(err, store.ErrExists) {
				t.Errorf("%s: %v, want a plain error", name, err)
			}
		}
	})

	t.Run("ExpiresByItself", func(t *testing.T) {
		s := newStore(t)
		tok := token("short", 5, 300*time.Millisecond)
		if err := s.CreateRegistrationToken(ctx, tok); err != nil {
			t.Fatal(err)
		}
		if err := s.UseRegistrationToken(ctx, tok.Digest); err != nil {
			t.Fatalf("use before expiry: %v", err)
		}
		time.Sleep(time.Until(tok.ExpiresAt) + 150*time.Millisecond)
		if err := s.UseRegistrationToken(ctx, tok.Digest); !errors.Is(err, store.ErrNotFound) {
			t.Fatalf("use after expiry: %v, want ErrNotFound", err)
		}
		// The expired digest may be issued again.
		if err := s.CreateRegistrationToken(ctx, token("short", 1, time.Minute)); err != nil {
			t.Fatalf("create after expiry: %v", err)
		}
	})

	t.Run("ParallelUsesNeverExceedTheCount", func(t *testing.T) {
		for _, uses := range []int{1, 3} {
			s := newStore(t)
			if err := s.CreateRegistrationToken(ctx, token("race", uses, time.Minute)); err != nil {
				t.Fatal(err)
			}
			var won, lost atomic.Int32
			var wg sync.WaitGroup
			for range 16 {
				wg.Go(func() {
					switch err := s.UseRegistrationToken(ctx, Digest("race")); {
					case err == nil:
						won.Add(1)
					case errors.Is(err, store.ErrNotFound):
						lost.Add(1)
					default:
						t.Errorf("use: %v", err)
					}
				})
			}
			wg.Wait()
			if won.Load() != int32(uses) || lost.Load() != int32(16-uses) {
				t.Fatalf("%d-use token, 16 parallel uses: %d won, %d refused", uses, won.Load(), lost.Load())
			}
		}
	})

	t.Run("ListShowsLiveTokensOnly", func(t *testing.T) {
		s := newStore(t)
		first, second, spent := token("first", 3, time.Minute), token("second", 1, time.Hour), token("spent", 1, time.Minute)
		second.CreatedAt = first.CreatedAt.Add(time.Second)
		for _, tok := range []store.RegistrationToken{first, second, spent} {
			if err := s.CreateRegistrationToken(ctx, tok); err != nil {
				t.Fatal(err)
			}
		}
		if err := s.UseRegistrationToken(ctx, first.Digest); err != nil {
			t.Fatal(err)
		}
		if err := s.UseRegistrationToken(ctx, spent.Digest); err != nil { // its only use
			t.Fatal(err)
		}
		got, err := s.ListRegistrationTokens(ctx)
		if err != nil {
			t.Fatal(err)
		}
		if len(got) != 2 {
			t.Fatalf("listed %d tokens, want 2 (the used-up one is gone): %+v", len(got), got)
		}
		for i, want := range []struct {
			tok  store.RegistrationToken
			uses int
		}{{first, 2}, {second, 1}} {
			g := got[i]
			if g.ID != store.RegistrationTokenID(want.tok.Digest) || g.Uses != want.uses ||
				g.CreatedAt.Sub(want.tok.CreatedAt).Abs() >= time.Millisecond || g.ExpiresAt.Sub(want.tok.ExpiresAt).Abs() >= time.Millisecond {
				t.Errorf("token %d: %+v, want id %s uses %d created %s expires %s", i, g,
					store.RegistrationTokenID(want.tok.Digest), want.uses, want.tok.CreatedAt, want.tok.ExpiresAt)
			}
		}
	})

	t.Run("ListForgetsExpiredTokens", func(t *testing.T) {
		s := newStore(t)
		tok := token("brief", 2, 200*time.Millisecond)
		if err := s.CreateRegistrationToken(ctx, tok); err != nil {
			t.Fatal(err)
		}
		time.Sleep(time.Until(tok.ExpiresAt) + 100*time.Millisecond)
		if got, err := s.ListRegistrationTokens(ctx); err != nil || len(got) != 0 {
			t.Fatalf("list after expiry: %+v %v, want none", got, err)
		}
	})

	t.Run("DeleteEndsTheToken", func(t *testing.T) {
		s := newStore(t)
		keep, gone := token("keep", 5, time.Minute), token("gone", 5, time.Minute)
		for _, tok := range []store.RegistrationToken{keep, gone} {
			if err := s.CreateRegistrationToken(ctx, tok); err != nil {
				t.Fatal(err)
			}
		}
		id := store.RegistrationTokenID(gone.Digest)
		if err := s.DeleteRegistrationToken(ctx, id); err != nil {
			t.Fatal(err)
		}
		if err := s.UseRegistrationToken(ctx, gone.Digest); !errors.Is(err, store.ErrNotFound) {
			t.Fatalf("use of a deleted token: %v, want ErrNotFound", err)
		}
		if err := s.DeleteRegistrationToken(ctx, id); !errors.Is(err, store.ErrNotFound) {
			t.Fatalf("second delete: %v, want ErrNotFound", err)
		}
		if err := s.DeleteRegistrationToken(ctx, "0123456789abcdef01234567"); !errors.Is(err, store.ErrNotFound) {
			t.Fatalf("delete of an unknown id: %v, want ErrNotFound", err)
		}
		got, err := s.ListRegistrationTokens(ctx)
		if err != nil || len(got) != 1 || got[0].ID != store.RegistrationTokenID(keep.Digest) {
			t.Fatalf("list after delete: %+v %v, want only the kept token", got, err)
		}
		if err := s.UseRegistrationToken(ctx, keep.Digest); err != nil {
			t.Fatalf("the other token: %v", err)
		}
	})

	t.Run("DeleteOfUsedUpTokenNotFound", func(t *testing.T) {
		s := newStore(t)
		tok := token("once", 1, time.Minute)
		if err := s.CreateRegistrationToken(ctx, tok); err != nil {
			t.Fatal(err)
		}
		if err := s.UseRegistrationToken(ctx, tok.Digest); err != nil {
			t.Fatal(err)
		}
		if err := s.DeleteRegistrationToken(ctx, store.RegistrationTokenID(tok.Digest)); !errors.Is(err, store.ErrNotFound) {
			t.Fatalf("delete of a used-up token: %v, want ErrNotFound", err)
		}
	})

	t.Run("CheckTakesNoUse", func(t *testing.T) {
		s := newStore(t)
		tok := token("checked", 1, time.Minute)
		if err := s.CreateRegistrationToken(ctx, tok); err != nil {
			t.Fatal(err)
		}
		for i := range 3 {
			if err := s.CheckRegistrationToken(ctx, tok.Digest); err != nil {
				t.Fatalf("check %d of a live token: %v", i+1, err)
			}
		}
		if err := s.UseRegistrationToken(ctx, tok.Digest); err != nil {
			t.Fatalf("the one use after three checks: %v", err)
		}
		if err := s.CheckRegistrationToken(ctx, tok.Digest); !errors.Is(err, store.ErrNotFound) {
			t.Fatalf("check of a used-up token: %v, want ErrNotFound", err)
		}
		if err := s.CheckRegistrationToken(ctx, Digest("never issued")); !errors.Is(err, store.ErrNotFound) {
			t.Fatalf("check of an unknown token: %v, want ErrNotFound", err)
		}
		brief := token("brief check", 3, 200*time.Millisecond)
		if err := s.CreateRegistrationToken(ctx, brief); err != nil {
			t.Fatal(err)
		}
		time.Sleep(time.Until(brief.ExpiresAt) + 100*time.Millisecond)
		if err := s.CheckRegistrationToken(ctx, brief.Digest); !errors.Is(err, store.ErrNotFound) {
			t.Fatalf("check of an expired token: %v, want ErrNotFound", err)
		}
	})
}
