package storetest

import (
	"bytes"
	"context"
	"errors"
	"testing"
	"time"

	"github.com/authd-dev/authd/store"
)

// testFamilyExpiry: every backend ends a family at store.Family.LiveUntil,
// min(IdleExpiresAt, ExpiresAt) with a zero IdleExpiresAt setting no
// bound, and a family ending at an instant has ended at that instant
// (store.Family.ExpiredAt): a rotation one microsecond earlier (the
// precision records keep) succeeds, one at the end is ErrNotFound. The
// early rotation leaves a record with about a millisecond to live: a
// durable backend must still answer it as the success it was, even when
// the record expires before its replicas have acknowledged it.
func testFamilyExpiry(t *testing.T, newStore func(t *testing.T) store.Store) {
	ctx := context.Background()
	now := Now()
	for _, tc := range []struct {
		name            string
		expires, idle   time.Duration // from now; idle 0: no idle bound
		wantLiveUntilIn time.Duration
	}{
		{"idle window first", 2 * time.Hour, time.Hour, time.Hour},
		{"absolute end first", time.Hour, 2 * time.Hour, time.Hour},
		{"both at once", time.Hour, time.Hour, time.Hour},
		{"no idle window", time.Hour, 0, time.Hour},
	} {
		t.Run(tc.name, func(t *testing.T) {
			f := NewFamily("f-"+tc.name, now, "t0")
			f.ExpiresAt = now.Add(tc.expires)
			f.IdleExpiresAt = time.Time{}
			if tc.idle > 0 {
				f.IdleExpiresAt = now.Add(tc.idle)
			}
			end := f.LiveUntil()
			if want := now.Add(tc.wantLiveUntilIn); !end.Equal(want) {
				t.Fatalf("LiveUntil = %v; want %v", end, want)
			}
			for _, at := range []time.Time{end, end.Add(time.Second)} {
				if !f.ExpiredAt(at) {
					t.Fatalf("ExpiredAt(%v) = false; the family ends at %v", at, end)
				}
			}
			if f.ExpiredAt(end.Add(-time.Microsecond)) {
				t.Fatalf("ExpiredAt(1µs before the end) = true")
			}

			s := newStore(t)
			if err := s.CreateFamily(ctx, f); err != nil {
				t.Fatalf("CreateFamily: %v", err)
			}
			got, err := s.GetFamily(ctx, f.ID)
			if err != nil {
				t.Fatalf("GetFamily: %v", err)
			}
			mustEqual(t, "stored family", got, f)
			if _, err := s.RotateRefresh(ctx, Rotate(f.ID, "t0", "t1", end)); !errors.Is(err, store.ErrNotFound) {
				t.Fatalf("RotateRefresh at the end: %v; want ErrNotFound", err)
			}
			res, err := s.RotateRefresh(ctx, Rotate(f.ID, "t0", "t1", end.Add(-time.Microsecond)))
			if err != nil {
				t.Fatalf("RotateRefresh 1µs before the end: %v", err)
			}
			if !bytes.Equal(res.Family.Current, Digest("t1")) || !bytes.Equal(res.Family.Previous, Digest("t0")) {
				t.Fatalf("RotateRefresh 1µs before the end: current %x previous %x; want t1, t0", res.Family.Current, res.Family.Previous)
			}
		})
	}
	// On the backend's own clock: a family without an idle window whose
	// absolute end has passed is gone.
	t.Run("no idle window, ended in real time", func(t *testing.T) {
		s := newStore(t)
		past := Now().Add(-2 * time.Hour)
		f := NewFamily("gone", past, "t0")
		f.ExpiresAt, f.IdleExpiresAt = past.Add(time.Hour), time.Time{}
		if err := s.CreateFamily(ctx, f); err != nil {
			t.Fatalf("CreateFamily: %v", err)
		}
		if _, err := s.GetFamily(ctx, f.ID); !errors.Is(err, store.ErrNotFound) {
			t.Fatalf("GetFamily: %v; want ErrNotFound", err)
		}
	})
}
