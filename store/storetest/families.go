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

// Rotate returns a Rotation of family fid from token presented to token
// next at now: 72 h idle window, no leeway, no retries. SealedNext is a
// recognisable stand-in for the sealed successor.
func Rotate(fid, presented, next string, now time.Time) store.Rotation {
	return store.Rotation{
		FamilyID:   fid,
		Presented:  Digest(presented),
		Next:       Digest(next),
		SealedNext: Sealed(next),
		Now:        now,
		IdleTTL:    72 * time.Hour,
	}
}

// Sealed is the stand-in for a sealed successor token that Rotate uses.
func Sealed(token string) []byte { return []byte("sealed:" + token) }

// rotated is f after a rotation from its current token to next at now.
func rotated(f store.Family, next string, now time.Time, idle time.Duration) store.Family {
	f.Previous = f.Current
	f.Current = Digest(next)
	f.SealedCurrent = Sealed(next)
	f.RotatedAt = now
	f.Retries = 0
	f.Generation++
	f.IdleExpiresAt = now.Add(idle)
	if f.ExpiresAt.Before(f.IdleExpiresAt) {
		f.IdleExpiresAt = f.ExpiresAt
	}
	return f
}

func testFamilies(t *testing.T, newStore func(t *testing.T) store.Store) {
	ctx := context.Background()

	// setup stores a fresh family "f1" whose current token is "t0".
	setup := func(t *testing.T) (store.Store, store.Family, time.Time) {
		t.Helper()
		s := newStore(t)
		now := Now()
		f := NewFamily("f1", now, "t0")
		if err := s.CreateFamily(ctx, f); err != nil {
			t.Fatalf("CreateFamily: %v", err)
		}
		return s, f, now
	}
	get := func(t *testing.T, s store.Store, id string) store.Family {
		t.Helper()
		f, err := s.GetFamily(ctx, id)
		if err != nil {
			t.Fatalf("GetFamily %s: %v", id, err)
		}
		return f
	}
	rotate := func(t *testing.T, s store.Store, r store.Rotation) store.RotateResult {
		t.Helper()
		res, err := s.RotateRefresh(ctx, r)
		if err != nil {
			t.Fatalf("RotateRefresh: %v", err)
		}
		return res
	}
	mustRevoked := func(t *testing.T, s store.Store, want store.Family) {
		t.Helper()
		want.Revoked = true
		mustEqual(t, "revoked family", get(t, s, want.ID), want)
		// Even the current token is dead now.
		r := Rotate(want.ID, "", "t-after-revoke", want.IdleExpiresAt.Add(-time.Second))
		r.Presented = want.Current
		if _, err := s.RotateRefresh(ctx, r); !errors.Is(err, store.ErrRevoked) {
			t.Fatalf("RotateRefresh with the current token of a revoked family: got %v, want ErrRevoked", err)
		}
		mustEqual(t, "revoked family after refused rotation", get(t, s, want.ID), want)
	}

	t.Run("CreateGet", func(t *testing.T) {
		s, want, _ := setup(t)
		mustEqual(t, "GetFamily", get(t, s, "f1"), want)
	})

	t.Run("CreateDuplicate", func(t *testing.T) {
		s, want, now := setup(t)
		other := NewFamily("f1", now, "other")
		if err := s.CreateFamily(ctx, other); !errors.Is(err, store.ErrExists) {
			t.Fatalf("CreateFamily duplicate: got %v, want ErrExists", err)
		}
		mustEqual(t, "family after rejected duplicate", get(t, s, "f1"), want)
	})

	t.Run("GetMissing", func(t *testing.T) {
		s := newStore(t)
		if _, err := s.GetFamily(ctx, "nope"); !errors.Is(err, store.ErrNotFound) {
			t.Fatalf("GetFamily missing: got %v, want ErrNotFound", err)
		}
	})

	t.Run("ExpiredIsAbsent", func(t *testing.T) {
		// The backend's own clock judges GetFamily, so these records are
		// expired in real time already.
		s := newStore(t)
		past := Now().Add(-3 * time.Hour)
		idle := NewFamily("idle", past, "t0")
		idle.IdleExpiresAt = past.Add(time.Hour)
		abs := NewFamily("abs", past, "t0")
		abs.ExpiresAt = past.Add(time.Hour)
		for _, f := range []store.Family{idle, abs} {
			if err := s.CreateFamily(ctx, f); err != nil {
				t.Fatalf("CreateFamily %s (expired): %v", f.ID, err)
			}
			if _, err := s.GetFamily(ctx, f.ID); !errors.Is(err, store.ErrNotFound) {
				t.Fatalf("GetFamily %s (expired): got %v, want ErrNotFound", f.ID, err)
			}
			if err := s.RevokeFamily(ctx, f.ID); !errors.Is(err, store.ErrNotFound) {
				t.Fatalf("RevokeFamily %s (expired): got %v, want ErrNotFound", f.ID, err)
			}
			// An expired family does not hold its ID.
			fresh := NewFamily(f.ID, Now(), "fresh")
			if err := s.CreateFamily(ctx, fresh); err != nil {
				t.Fatalf("CreateFamily %s over an expired one: %v", f.ID, err)
			}
			mustEqual(t, "family created over an expired one", get(t, s, f.ID), fresh)
		}
	})

	t.Run("Rotate", func(t *testing.T) {
		s, f, now := setup(t)
		at1 := now.Add(time.Minute)
		res := rotate(t, s, Rotate("f1", "t0", "t1", at1))
		want := rotated(f, "t1", at1, 72*time.Hour)
		if res.Retried {
			t.Fatal("first rotation reported Retried")
		}
		mustEqual(t, "first rotation", res.Family, want)
		mustEqual(t, "family after first rotation", get(t, s, "f1"), want)

		at2 := at1.Add(time.Hour)
		r := Rotate("f1", "t1", "t2", at2)
		r.IdleTTL = 24 * time.Hour
		res = rotate(t, s, r)
		want = rotated(want, "t2", at2, 24*time.Hour)
		if res.Retried {
			t.Fatal("second rotation reported Retried")
		}
		mustEqual(t, "second rotation", res.Family, want)
		mustEqual(t, "family after second rotation", get(t, s, "f1"), want)
		if res.Family.Generation != 2 || !bytes.Equal(res.Family.Previous, Digest("t1")) {
			t.Fatalf("after two rotations: generation %d, want 2; previous must be t1's digest", res.Family.Generation)
		}
	})

	// RFC 9449 §5: a DPoP-bound family keeps its thumbprint across
	// rotations, with and without a session id (the optional tail fields).
	t.Run("DPoPBindingKeptAcrossRotation", func(t *testing.T) {
		for _, sid := range []string{"", "sess-1"} {
			s := newStore(t)
			now := Now()
			f := NewFamily("f1", now, "t0")
			f.SessionID, f.JKT = sid, "jkt-of-the-key"
			if err := s.CreateFamily(ctx, f); err != nil {
				t.Fatalf("CreateFamily: %v", err)
			}
			mustEqual(t, "bound family", get(t, s, "f1"), f)
			at1 := now.Add(time.Minute)
			res := rotate(t, s, Rotate("f1", "t0", "t1", at1))
			want := rotated(f, "t1", at1, 72*time.Hour)
			mustEqual(t, "bound family after rotation", res.Family, want)
			mustEqual(t, "stored bound family after rotation", get(t, s, "f1"), want)
		}
	})

	// An authorization code's family is bound when the code is exchanged
	// with a proof (Rotation.BindJKT); later rotations keep the binding.
	t.Run("DPoPBindOnRotation", func(t *testing.T) {
		for _, sid := range []string{"", "sess-1"} {
			s := newStore(t)
			now := Now()
			f := NewFamily("f1", now, "code")
			f.SessionID = sid
			if err := s.CreateFamily(ctx, f); err != nil {
				t.Fatalf("CreateFamily: %v", err)
			}
			at1 := now.Add(time.Second)
			r := Rotate("f1", "code", "t1", at1)
			r.BindJKT = "jkt-1"
			res := rotate(t, s, r)
			want := rotated(f, "t1", at1, 72*time.Hour)
			want.JKT = "jkt-1"
			mustEqual(t, "family bound by rotation", res.Family, want)
			mustEqual(t, "stored family bound by rotation", get(t, s, "f1"), want)
			at2 := at1.Add(time.Minute)
			res = rotate(t, s, Rotate("f1", "t1", "t2", at2))
			want = rotated(want, "t2", at2, 72*time.Hour)
			mustEqual(t, "bound family after a later rotation", res.Family, want)
			// A reuse attempt that asks for a binding binds nothing.
			r = Rotate("f1", "t0-unknown", "t3", at2.Add(time.Second))
			r.BindJKT = "jkt-2"
			if _, err := s.RotateRefresh(ctx, r); !errors.Is(err, store.ErrReused) {
				t.Fatalf("unknown token with BindJKT: %v, want ErrReused", err)
			}
			if got := get(t, s, "f1"); got.JKT != "jkt-1" || !got.Revoked {
				t.Fatalf("after reuse: JKT %q revoked %v; want jkt-1, revoked", got.JKT, got.Revoked)
			}
		}
	})

	t.Run("IdleExpiryCappedByExpiresAt", func(t *testing.T) {
		s := newStore(t)
		now := Now()
		f := NewFamily("f1", now, "t0")
		f.ExpiresAt = now.Add(2 * time.Hour)
		f.IdleExpiresAt = now.Add(time.Hour)
		if err := s.CreateFamily(ctx, f); err != nil {
			t.Fatalf("CreateFamily: %v", err)
		}
		res := rotate(t, s, Rotate("f1", "t0", "t1", now.Add(30*time.Minute)))
		if !res.Family.IdleExpiresAt.Equal(f.ExpiresAt) {
			t.Fatalf("IdleExpiresAt = %v, want it capped at ExpiresAt %v", res.Family.IdleExpiresAt, f.ExpiresAt)
		}
		if got := get(t, s, "f1"); !got.IdleExpiresAt.Equal(f.ExpiresAt) {
			t.Fatalf("stored IdleExpiresAt = %v, want ExpiresAt %v", got.IdleExpiresAt, f.ExpiresAt)
		}
	})

	t.Run("RetryInsideLeeway", func(t *testing.T) {
		s, _, now := setup(t)
		at := now.Add(time.Minute)
		want := rotate(t, s, Rotate("f1", "t0", "t1", at)).Family
		for i, delay := range []time.Duration{time.Second, 10 * time.Second} { // the second at the edge: <= Leeway
			r := Rotate("f1", "t0", fmt.Sprint("retry-", i), at.Add(delay))
			r.Leeway, r.MaxRetries = 10*time.Second, 2
			res := rotate(t, s, r)
			want.Retries = i + 1
			if !res.Retried {
				t.Fatalf("retry %d of the previous token inside the leeway: Retried = false", i+1)
			}
			mustEqual(t, fmt.Sprint("family after retry ", i+1), res.Family, want)
			if !bytes.Equal(res.Family.SealedCurrent, Sealed("t1")) {
				t.Fatalf("retry %d: SealedCurrent = %q, want the successor of the first rotation", i+1, res.Family.SealedCurrent)
			}
			mustEqual(t, fmt.Sprint("stored family after retry ", i+1), get(t, s, "f1"), want)
		}
		// MaxRetries reached: the next replay is theft.
		r := Rotate("f1", "t0", "retry-3", at.Add(2*time.Second))
		r.Leeway, r.MaxRetries = 10*time.Second, 2
		if _, err := s.RotateRefresh(ctx, r); !errors.Is(err, store.ErrReused) {
			t.Fatalf("retry beyond MaxRetries: got %v, want ErrReused", err)
		}
		mustRevoked(t, s, want)
	})

	t.Run("RotateAfterRetryResetsRetries", func(t *testing.T) {
		s, f, now := setup(t)
		at1 := now.Add(time.Minute)
		rotate(t, s, Rotate("f1", "t0", "t1", at1))
		r := Rotate("f1", "t0", "ignored", at1.Add(time.Second))
		r.Leeway, r.MaxRetries = time.Minute, 3
		if res := rotate(t, s, r); !res.Retried || res.Family.Retries != 1 {
			t.Fatalf("retry: Retried=%v Retries=%d, want true and 1", res.Retried, res.Family.Retries)
		}
		at2 := at1.Add(2 * time.Second)
		res := rotate(t, s, Rotate("f1", "t1", "t2", at2))
		want := rotated(rotated(f, "t1", at1, 72*time.Hour), "t2", at2, 72*time.Hour)
		if res.Retried {
			t.Fatal("rotation of the current token reported Retried")
		}
		mustEqual(t, "rotation after a retry", res.Family, want)
		// t0 is now two generations old: no longer a retry, even inside the leeway.
		r = Rotate("f1", "t0", "t3", at2.Add(time.Second))
		r.Leeway, r.MaxRetries = time.Minute, 3
		if _, err := s.RotateRefresh(ctx, r); !errors.Is(err, store.ErrReused) {
			t.Fatalf("token older than Previous inside the leeway: got %v, want ErrReused", err)
		}
		mustRevoked(t, s, want)
	})

	t.Run("PreviousOutsideLeewayIsReuse", func(t *testing.T) {
		s, f, now := setup(t)
		at := now.Add(time.Minute)
		rotate(t, s, Rotate("f1", "t0", "t1", at))
		r := Rotate("f1", "t0", "t2", at.Add(10*time.Second+time.Nanosecond))
		r.Leeway, r.MaxRetries = 10*time.Second, 3
		if _, err := s.RotateRefresh(ctx, r); !errors.Is(err, store.ErrReused) {
			t.Fatalf("previous token outside the leeway: got %v, want ErrReused", err)
		}
		mustRevoked(t, s, rotated(f, "t1", at, 72*time.Hour))
	})

	t.Run("PreviousWithoutRetriesIsReuse", func(t *testing.T) {
		s, f, now := setup(t)
		at := now.Add(time.Minute)
		rotate(t, s, Rotate("f1", "t0", "t1", at))
		r := Rotate("f1", "t0", "t2", at.Add(time.Second))
		r.Leeway, r.MaxRetries = time.Minute, 0
		if _, err := s.RotateRefresh(ctx, r); !errors.Is(err, store.ErrReused) {
			t.Fatalf("previous token with MaxRetries 0: got %v, want ErrReused", err)
		}
		mustRevoked(t, s, rotated(f, "t1", at, 72*time.Hour))
	})

	t.Run("UnknownTokenIsReuse", func(t *testing.T) {
		s, f, now := setup(t)
		r := Rotate("f1", "forged", "t1", now.Add(time.Minute))
		r.Leeway, r.MaxRetries = time.Hour, 3
		if _, err := s.RotateRefresh(ctx, r); !errors.Is(err, store.ErrReused) {
			t.Fatalf("unknown digest: got %v, want ErrReused", err)
		}
		mustRevoked(t, s, f)
	})

	t.Run("Missing", func(t *testing.T) {
		s := newStore(t)
		if _, err := s.RotateRefresh(ctx, Rotate("nope", "t0", "t1", Now())); !errors.Is(err, store.ErrNotFound) {
			t.Fatalf("RotateRefresh missing family: got %v, want ErrNotFound", err)
		}
		if err := s.RevokeFamily(ctx, "nope"); !errors.Is(err, store.ErrNotFound) {
			t.Fatalf("RevokeFamily missing: got %v, want ErrNotFound", err)
		}
	})

	t.Run("ExpiredAtRotationTime", func(t *testing.T) {
		s := newStore(t)
		now := Now()
		idle := NewFamily("idle", now, "t0") // idle window ends first
		abs := NewFamily("abs", now, "t0")   // absolute lifetime ends first
		abs.ExpiresAt = now.Add(time.Hour)
		abs.IdleExpiresAt = now.Add(2 * time.Hour)
		revoked := NewFamily("revoked", now, "t0")
		for _, f := range []store.Family{idle, abs, revoked} {
			if err := s.CreateFamily(ctx, f); err != nil {
				t.Fatalf("CreateFamily %s: %v", f.ID, err)
			}
		}
		if err := s.RevokeFamily(ctx, "revoked"); err != nil {
			t.Fatalf("RevokeFamily: %v", err)
		}
		tests := []struct {
			name      string
			id        string
			presented string
			at        time.Time
		}{
			{"idle expired, current token", "idle", "t0", idle.IdleExpiresAt.Add(time.Second)},
			{"idle expired, unknown token", "idle", "forged", idle.IdleExpiresAt.Add(time.Second)},
			{"absolute expired, current token", "abs", "t0", abs.ExpiresAt.Add(time.Second)},
			{"absolute expired, unknown token", "abs", "forged", abs.ExpiresAt.Add(time.Second)},
			{"revoked and expired", "revoked", "t0", revoked.ExpiresAt.Add(time.Second)},
		}
		for _, tt := range tests {
			t.Run(tt.name, func(t *testing.T) {
				r := Rotate(tt.id, tt.presented, "t1", tt.at)
				r.Leeway, r.MaxRetries = time.Hour, 3
				if _, err := s.RotateRefresh(ctx, r); !errors.Is(err, store.ErrNotFound) {
					t.Fatalf("RotateRefresh at %v: got %v, want ErrNotFound", tt.at, err)
				}
			})
		}
		// Refusing expired rotations changed nothing (in real time the
		// families are still alive).
		mustEqual(t, "idle family", get(t, s, "idle"), idle)
		mustEqual(t, "abs family", get(t, s, "abs"), abs)
		// Just before the end both still rotate.
		rotate(t, s, Rotate("idle", "t0", "t1", idle.IdleExpiresAt.Add(-time.Second)))
		rotate(t, s, Rotate("abs", "t0", "t1", abs.ExpiresAt.Add(-time.Second)))
	})

	t.Run("RevokeFamily", func(t *testing.T) {
		s, f, now := setup(t)
		at := now.Add(time.Minute)
		rotate(t, s, Rotate("f1", "t0", "t1", at))
		if err := s.RevokeFamily(ctx, "f1"); err != nil {
			t.Fatalf("RevokeFamily: %v", err)
		}
		want := rotated(f, "t1", at, 72*time.Hour)
		mustRevoked(t, s, want)
		// Inside the leeway the previous token is refused too.
		r := Rotate("f1", "t0", "t2", at.Add(time.Second))
		r.Leeway, r.MaxRetries = time.Minute, 3
		if _, err := s.RotateRefresh(ctx, r); !errors.Is(err, store.ErrRevoked) {
			t.Fatalf("retry on a revoked family: got %v, want ErrRevoked", err)
		}
		if err := s.RevokeFamily(ctx, "f1"); err != nil {
			t.Fatalf("RevokeFamily twice: %v", err)
		}
		want.Revoked = true
		mustEqual(t, "family revoked twice", get(t, s, "f1"), want)
	})

	t.Run("ConcurrentRotationOneWins", func(t *testing.T) {
		// 16 clients present the same current token at once (leeway 0):
		// one rotates, the others are replays. Once the first replay has
		// revoked the family the rest may see ErrRevoked instead of
		// ErrReused (RotateRefresh checks revocation first).
		s, f, now := setup(t)
		const n = 16
		at := now.Add(time.Minute)
		results := make([]store.RotateResult, n)
		errs := Parallel(n, func(i int) error {
			var err error
			results[i], err = s.RotateRefresh(ctx, Rotate("f1", "t0", fmt.Sprint("t1-", i), at))
			return err
		})
		winner, reused := -1, 0
		for i, err := range errs {
			switch {
			case err == nil:
				if winner >= 0 {
					t.Fatalf("rotations %d and %d both succeeded with the same token", winner, i)
				}
				winner = i
			case errors.Is(err, store.ErrReused):
				reused++
			case !errors.Is(err, store.ErrRevoked):
				t.Errorf("rotation %d: got %v, want nil, ErrReused or ErrRevoked", i, err)
			}
		}
		if winner < 0 {
			t.Fatal("no concurrent rotation succeeded")
		}
		if reused == 0 {
			t.Fatal("no concurrent rotation reported ErrReused; someone must have detected the replay")
		}
		want := rotated(f, fmt.Sprint("t1-", winner), at, 72*time.Hour)
		if results[winner].Retried {
			t.Fatal("the winning rotation reported Retried")
		}
		mustEqual(t, "winning rotation", results[winner].Family, want)
		mustRevoked(t, s, want)
	})

	t.Run("ConcurrentRetriesBounded", func(t *testing.T) {
		s, _, now := setup(t)
		at := now.Add(time.Minute)
		rotate(t, s, Rotate("f1", "t0", "t1", at))
		const n, maxRetries = 16, 3
		results := make([]store.RotateResult, n)
		errs := Parallel(n, func(i int) error {
			r := Rotate("f1", "t0", fmt.Sprint("t2-", i), at.Add(time.Second))
			r.Leeway, r.MaxRetries = time.Minute, maxRetries
			var err error
			results[i], err = s.RotateRefresh(ctx, r)
			return err
		})
		retried, reused := 0, 0
		for i, err := range errs {
			switch {
			case err == nil:
				retried++
				if !results[i].Retried {
					t.Errorf("replay %d of the previous token succeeded without Retried", i)
				}
				if !bytes.Equal(results[i].Family.SealedCurrent, Sealed("t1")) {
					t.Errorf("replay %d: SealedCurrent = %q, want the first successor", i, results[i].Family.SealedCurrent)
				}
			case errors.Is(err, store.ErrReused):
				reused++
			case !errors.Is(err, store.ErrRevoked):
				t.Errorf("replay %d: got %v, want nil, ErrReused or ErrRevoked", i, err)
			}
		}
		if retried < 1 || retried > maxRetries {
			t.Fatalf("%d concurrent retries accepted, want between 1 and MaxRetries=%d", retried, maxRetries)
		}
		if reused == 0 {
			t.Fatal("no replay beyond MaxRetries reported ErrReused")
		}
		fam := get(t, s, "f1")
		if !fam.Revoked || fam.Generation != 1 || !bytes.Equal(fam.Current, Digest("t1")) {
			t.Fatalf("after the replays: revoked=%v generation=%d; want revoked, generation 1, current t1", fam.Revoked, fam.Generation)
		}
	})
}
