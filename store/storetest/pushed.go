package storetest

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"testing"
	"time"

	"github.com/authd-dev/authd/store"
)

// testPushed: pushed authorization requests (RFC 9126) are taken once,
// by exactly one of many parallel callers, and end at their expiry.
func testPushed(t *testing.T, newStore func(t *testing.T) store.Store) {
	ctx := context.Background()

	t.Run("PutTakeOnce", func(t *testing.T) {
		s := newStore(t)
		req := []byte(`{"client_id":"c1","q":"response_type=code"}`)
		if err := s.PutPushedRequest(ctx, "id-1", req, time.Now().Add(time.Minute)); err != nil {
			t.Fatalf("PutPushedRequest: %v", err)
		}
		got, err := s.TakePushedRequest(ctx, "id-1")
		if err != nil || !bytes.Equal(got, req) {
			t.Fatalf("TakePushedRequest = %q, %v; want %q", got, err, req)
		}
		if _, err := s.TakePushedRequest(ctx, "id-1"); !errors.Is(err, store.ErrNotFound) {
			t.Fatalf("second TakePushedRequest: %v, want ErrNotFound", err)
		}
		if _, err := s.TakePushedRequest(ctx, "never-pushed"); !errors.Is(err, store.ErrNotFound) {
			t.Fatalf("TakePushedRequest of an unknown id: %v, want ErrNotFound", err)
		}
	})

	t.Run("IDTakenWhileLive", func(t *testing.T) {
		s := newStore(t)
		exp := time.Now().Add(time.Minute)
		if err := s.PutPushedRequest(ctx, "dup", []byte("first"), exp); err != nil {
			t.Fatal(err)
		}
		if err := s.PutPushedRequest(ctx, "dup", []byte("second"), exp); !errors.Is(err, store.ErrExists) {
			t.Fatalf("PutPushedRequest over a live id: %v, want ErrExists", err)
		}
		if got, err := s.TakePushedRequest(ctx, "dup"); err != nil || string(got) != "first" {
			t.Fatalf("TakePushedRequest = %q, %v; want the first request", got, err)
		}
	})

	t.Run("ExpiryInThePastRefused", func(t *testing.T) {
		s := newStore(t)
		if err := s.PutPushedRequest(ctx, "past", []byte("x"), time.Now().Add(-time.Second)); err == nil {
			t.Fatal("PutPushedRequest with a past expiry succeeded")
		}
		if _, err := s.TakePushedRequest(ctx, "past"); !errors.Is(err, store.ErrNotFound) {
			t.Fatalf("TakePushedRequest after a refused put: %v, want ErrNotFound", err)
		}
	})

	t.Run("ExpiredIsNotFound", func(t *testing.T) {
		s := newStore(t)
		exp := time.Now().Add(300 * time.Millisecond)
		if err := s.PutPushedRequest(ctx, "short", []byte("x"), exp); err != nil {
			t.Fatal(err)
		}
		if err := s.PutPushedRequest(ctx, "long", []byte("y"), time.Now().Add(time.Minute)); err != nil {
			t.Fatal(err)
		}
		time.Sleep(time.Until(exp) + 150*time.Millisecond) // the TTL runs on the backend's clock
		if _, err := s.TakePushedRequest(ctx, "short"); !errors.Is(err, store.ErrNotFound) {
			t.Fatalf("TakePushedRequest after expiry: %v, want ErrNotFound", err)
		}
		// The id is free again, and the live one is untouched.
		if err := s.PutPushedRequest(ctx, "short", []byte("z"), time.Now().Add(time.Minute)); err != nil {
			t.Fatalf("PutPushedRequest of an expired id: %v", err)
		}
		if got, err := s.TakePushedRequest(ctx, "long"); err != nil || string(got) != "y" {
			t.Fatalf("TakePushedRequest of the live one = %q, %v", got, err)
		}
	})

	t.Run("ParallelTakersOneWinner", func(t *testing.T) {
		s := newStore(t)
		for round := range 5 {
			id := fmt.Sprint("race-", round)
			if err := s.PutPushedRequest(ctx, id, []byte(id), time.Now().Add(time.Minute)); err != nil {
				t.Fatal(err)
			}
			got := make([][]byte, 16)
			errs := Parallel(16, func(i int) error {
				var err error
				got[i], err = s.TakePushedRequest(ctx, id)
				return err
			})
			wins := 0
			for i, err := range errs {
				switch {
				case err == nil:
					wins++
					if string(got[i]) != id {
						t.Fatalf("round %d: the winner got %q", round, got[i])
					}
				case !errors.Is(err, store.ErrNotFound):
					t.Fatalf("round %d caller %d: %v", round, i, err)
				}
			}
			if wins != 1 {
				t.Fatalf("round %d: %d of 16 parallel takers got the request; want exactly 1", round, wins)
			}
		}
	})
}
