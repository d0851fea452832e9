package storetest

import (
	"context"
	"errors"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/authd-dev/authd/store"
)

// testThrottle checks the login throttle's buckets (store.ThrottleStore):
// the GCRA arithmetic of store.Bucket, all-or-nothing takes, refunds, and
// that parallel callers never take more than the burst.
func testThrottle(t *testing.T, newStore func(t *testing.T) store.Store) {
	ctx := context.Background()
	user := store.Bucket{Key: "u:alice", Every: 12 * time.Second, Burst: 3}
	ip := store.Bucket{Key: "ip:192.0.2.1", Every: 3 * time.Second, Burst: 5}
	take := func(t *testing.T, s store.Store, now time.Time, bs ...store.Bucket) time.Duration {
		t.Helper()
		wait, err := s.TakeAttempt(ctx, now, bs)
		if err != nil {
			t.Fatalf("TakeAttempt(%v): %v", bs, err)
		}
		return wait
	}
	mustTake := func(t *testing.T, s store.Store, now time.Time, bs ...store.Bucket) {
		t.Helper()
		if wait := take(t, s, now, bs...); wait != 0 {
			t.Fatalf("TakeAttempt(%v) refused (wait %s), want taken", bs, wait)
		}
	}
	mustRefuse := func(t *testing.T, s store.Store, now time.Time, want time.Duration, bs ...store.Bucket) {
		t.Helper()
		if wait := take(t, s, now, bs...); wait != want {
			t.Fatalf("TakeAttempt(%v): wait %s, want %s", bs, wait, want)
		}
	}
	giveBack := func(t *testing.T, s store.Store, now time.Time, bs ...store.Bucket) {
		t.Helper()
		if err := s.ReturnAttempt(ctx, now, bs); err != nil {
			t.Fatalf("ReturnAttempt(%v): %v", bs, err)
		}
	}

	t.Run("BurstThenRefill", func(t *testing.T) {
		s, now := newStore(t), Now()
		for range user.Burst {
			mustTake(t, s, now, user)
		}
		mustRefuse(t, s, now, user.Every, user)
		mustRefuse(t, s, now.Add(user.Every/2), user.Every/2, user)
		mustTake(t, s, now.Add(user.Every), user) // one refilled
		mustRefuse(t, s, now.Add(user.Every), user.Every, user)
	})

	t.Run("RefusedSpendsNothing", func(t *testing.T) {
		s, now := newStore(t), Now()
		for range user.Burst {
			mustTake(t, s, now, user)
		}
		for i := range 20 {
			mustRefuse(t, s, now.Add(time.Duration(i)*time.Millisecond), user.Every-time.Duration(i)*time.Millisecond, user)
		}
		later := now.Add(user.Every)
		mustTake(t, s, later, user)
		mustRefuse(t, s, later, user.Every, user)
	})

	t.Run("AllOrNothing", func(t *testing.T) {
		s, now := newStore(t), Now()
		for range user.Burst {
			mustTake(t, s, now, user, ip)
		}
		// The username is empty: the address gives nothing either.
		mustRefuse(t, s, now, user.Every, user, ip)
		for range ip.Burst - user.Burst {
			mustTake(t, s, now, ip)
		}
		mustRefuse(t, s, now, ip.Every, ip)
		// Both empty: the wait is the longer one.
		mustRefuse(t, s, now, user.Every, ip, user)
	})

	t.Run("Independent", func(t *testing.T) {
		s, now := newStore(t), Now()
		other := user
		other.Key = "u:bob"
		for range user.Burst {
			mustTake(t, s, now, user)
		}
		mustRefuse(t, s, now, user.Every, user)
		mustTake(t, s, now, other)
	})

	t.Run("Return", func(t *testing.T) {
		s, now := newStore(t), Now()
		giveBack(t, s, now, user, ip) // full buckets: nothing to return, never above burst
		for range user.Burst {
			mustTake(t, s, now, user, ip)
		}
		mustRefuse(t, s, now, user.Every, user)
		giveBack(t, s, now, user, ip)
		mustTake(t, s, now, user, ip)
		mustRefuse(t, s, now, user.Every, user)
		// Returning more than was taken leaves a full bucket, no more.
		for range user.Burst + 3 {
			giveBack(t, s, now, user)
		}
		for range user.Burst {
			mustTake(t, s, now, user)
		}
		mustRefuse(t, s, now, user.Every, user)
	})

	t.Run("ReturnAfterRefill", func(t *testing.T) {
		s, now := newStore(t), Now()
		mustTake(t, s, now, user)
		giveBack(t, s, now.Add(time.Hour), user) // long full again: nothing changes
		for range user.Burst {
			mustTake(t, s, now.Add(time.Hour), user)
		}
		mustRefuse(t, s, now.Add(time.Hour), user.Every, user)
	})

	t.Run("BadBucket", func(t *testing.T) {
		s, now := newStore(t), Now()
		for _, b := range []store.Bucket{
			{Key: "", Every: time.Second, Burst: 1},
			{Key: strings.Repeat("k", store.MaxBucketKeyLen+1), Every: time.Second, Burst: 1},
			{Key: "u:x", Every: 0, Burst: 1},
			{Key: "u:x", Every: time.Second, Burst: 0},
		} {
			if _, err := s.TakeAttempt(ctx, now, []store.Bucket{b}); !errors.Is(err, store.ErrBadBucket) {
				t.Errorf("TakeAttempt(%+v): %v, want ErrBadBucket", b, err)
			}
			if err := s.ReturnAttempt(ctx, now, []store.Bucket{b}); !errors.Is(err, store.ErrBadBucket) {
				t.Errorf("ReturnAttempt(%+v): %v, want ErrBadBucket", b, err)
			}
		}
	})

	// Parallel callers reserve before their work: exactly the burst is
	// taken, however many race for it, and a parallel refund lets exactly
	// as many more through.
	t.Run("Parallel", func(t *testing.T) {
		s, now := newStore(t), Now()
		b := store.Bucket{Key: "u:parallel", Every: time.Minute, Burst: 10}
		wide := store.Bucket{Key: "ip:wide", Every: time.Second, Burst: 1000} // never the limit here
		race := func(n int) int64 {
			var taken atomic.Int64
			var wg sync.WaitGroup
			start := make(chan struct{})
			for range n {
				wg.Go(func() {
					<-start
					wait, err := s.TakeAttempt(ctx, now, []store.Bucket{b, wide})
					if err != nil {
						t.Errorf("TakeAttempt: %v", err)
					} else if wait == 0 {
						taken.Add(1)
					}
				})
			}
			close(start)
			wg.Wait()
			return taken.Load()
		}
		if got := race(100); got != int64(b.Burst) {
			t.Fatalf("100 parallel takes of a burst of %d: %d taken", b.Burst, got)
		}
		var wg sync.WaitGroup
		for range 4 {
			wg.Go(func() { giveBack(t, s, now, b) })
		}
		wg.Wait()
		if got := race(50); got != 4 {
			t.Fatalf("after 4 parallel refunds, 50 parallel takes: %d taken, want 4", got)
		}
	})
}
