package storetest

import (
	"context"
	"errors"
	"fmt"
	"testing"
	"time"

	"github.com/authd-dev/authd/store"
)

// NewKey returns a key record in the given state with every field set.
func NewKey(kid, alg, state string, now time.Time) store.Key {
	return store.Key{
		ID:          kid,
		Alg:         alg,
		State:       state,
		Sealed:      []byte("sealed private key " + kid),
		PublicJWK:   []byte(`{"kty":"EC","kid":"` + kid + `"}`),
		CreatedAt:   now,
		ActivatesAt: now.Add(time.Hour),
		ActivatedAt: now.Add(time.Hour),
		RetiredAt:   now.Add(2 * time.Hour),
		ExpiresAt:   now.Add(3 * time.Hour),
	}
}

func testKeys(t *testing.T, newStore func(t *testing.T) store.Store) {
	ctx := context.Background()

	t.Run("EmptySet", func(t *testing.T) {
		s := newStore(t)
		ks, err := s.GetKeySet(ctx)
		if err != nil {
			t.Fatalf("GetKeySet on empty store: %v", err)
		}
		if ks.Version != 0 || len(ks.Keys) != 0 {
			t.Fatalf("GetKeySet on empty store: version %d with %d keys, want version 0 and no keys", ks.Version, len(ks.Keys))
		}
	})

	t.Run("SwapCompareAndSet", func(t *testing.T) {
		s := newStore(t)
		now := Now()
		first := []store.Key{NewKey("k1", "RS256", store.KeyActive, now), NewKey("k2", "ES256", store.KeyNext, now)}
		got, err := s.SwapKeySet(ctx, 0, first)
		if err != nil {
			t.Fatalf("SwapKeySet from version 0: %v", err)
		}
		mustEqual(t, "SwapKeySet result", got, store.KeySet{Version: 1, Keys: first})
		read, err := s.GetKeySet(ctx)
		if err != nil {
			t.Fatalf("GetKeySet: %v", err)
		}
		mustEqual(t, "GetKeySet after swap", read, store.KeySet{Version: 1, Keys: first})

		// A writer that still believes in version 0 loses and changes nothing.
		stale := []store.Key{NewKey("k9", "RS256", store.KeyActive, now)}
		if _, err := s.SwapKeySet(ctx, 0, stale); !errors.Is(err, store.ErrConflict) {
			t.Fatalf("SwapKeySet with stale version 0: got %v, want ErrConflict", err)
		}
		// So does one from the future.
		if _, err := s.SwapKeySet(ctx, 7, stale); !errors.Is(err, store.ErrConflict) {
			t.Fatalf("SwapKeySet with version 7: got %v, want ErrConflict", err)
		}
		read, err = s.GetKeySet(ctx)
		if err != nil {
			t.Fatalf("GetKeySet: %v", err)
		}
		mustEqual(t, "GetKeySet after lost swaps", read, store.KeySet{Version: 1, Keys: first})

		second := []store.Key{NewKey("k1", "RS256", store.KeyRetired, now)}
		got, err = s.SwapKeySet(ctx, 1, second)
		if err != nil {
			t.Fatalf("SwapKeySet from version 1: %v", err)
		}
		mustEqual(t, "second SwapKeySet result", got, store.KeySet{Version: 2, Keys: second})

		// An empty set is a set too, and still advances the version.
		got, err = s.SwapKeySet(ctx, 2, nil)
		if err != nil {
			t.Fatalf("SwapKeySet to empty: %v", err)
		}
		if got.Version != 3 || len(got.Keys) != 0 {
			t.Fatalf("SwapKeySet to empty: version %d with %d keys, want 3 and none", got.Version, len(got.Keys))
		}
		read, err = s.GetKeySet(ctx)
		if err != nil {
			t.Fatalf("GetKeySet: %v", err)
		}
		if read.Version != 3 || len(read.Keys) != 0 {
			t.Fatalf("GetKeySet after emptying: version %d with %d keys, want 3 and none", read.Version, len(read.Keys))
		}
	})

	t.Run("SwapConcurrentOneWins", func(t *testing.T) {
		s := newStore(t)
		now := Now()
		if _, err := s.SwapKeySet(ctx, 0, []store.Key{NewKey("k0", "RS256", store.KeyActive, now)}); err != nil {
			t.Fatalf("SwapKeySet: %v", err)
		}
		const n = 16
		errs := Parallel(n, func(i int) error {
			_, err := s.SwapKeySet(ctx, 1, []store.Key{NewKey(fmt.Sprint("k-", i), "RS256", store.KeyActive, now)})
			return err
		})
		winner := -1
		for i, err := range errs {
			switch {
			case err == nil:
				if winner >= 0 {
					t.Fatalf("swappers %d and %d both won from version 1", winner, i)
				}
				winner = i
			case !errors.Is(err, store.ErrConflict):
				t.Errorf("swapper %d: got %v, want nil or ErrConflict", i, err)
			}
		}
		if winner < 0 {
			t.Fatal("no concurrent swap won")
		}
		read, err := s.GetKeySet(ctx)
		if err != nil {
			t.Fatalf("GetKeySet: %v", err)
		}
		want := store.KeySet{Version: 2, Keys: []store.Key{NewKey(fmt.Sprint("k-", winner), "RS256", store.KeyActive, now)}}
		mustEqual(t, "key set after concurrent swaps", read, want)
	})
}
