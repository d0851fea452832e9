package storetest

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/authd-dev/authd/store"
)

// testFamilyExpiry: every backend ends a family at store.Family.LiveUntil,
// min(IdleExpiresAt, ExpiresAt) with a zero IdleExpiresAt setting no
// bound, and a family ending at an instant has ended at that instant
// (store.Family.ExpiredAt): at the end even the current token finds
// nothing (ErrNotFound), one microsecond earlier (the precision records
// keep) the family is still there, so a forged token is reuse
// (ErrReused). The live side is probed with reuse, not a rotation: a
// rotation that late would leave a record with a 1 ms TTL, which a
// durable backend may see vanish before its replica acknowledges it.
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
			if _, err := s.RotateRefresh(ctx, Rotate(f.ID, "forged", "t1", end.Add(-time.Microsecond))); !errors.Is(err, store.ErrReused) {
				t.Fatalf("RotateRefresh of a forged token 1µs before the end: %v; want ErrReused (the family is live)", err)
			}
			want := f
			want.Revoked = true
			got, err = s.GetFamily(ctx, f.ID)
			if err != nil {
				t.Fatalf("GetFamily after the reuse: %v", err)
			}
			mustEqual(t, "family after the reuse", got, want)
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
