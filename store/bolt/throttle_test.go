package bolt

import (
	"context"
	"testing"
	"time"

	bbolt "go.etcd.io/bbolt"

	"github.com/authd-dev/authd/store"
)

// TestThrottleSwept: a bucket's record is deleted by the sweeper once the
// bucket is full again, so the file holds only buckets in use; a refund
// that fills a bucket deletes its record at once.
func TestThrottleSwept(t *testing.T) {
	ctx := context.Background()
	now := time.Now()
	clock := now
	s, _ := open(t, Options{SweepInterval: -1, Now: func() time.Time { return clock }})
	b := store.Bucket{Key: "u:alice", Every: time.Minute, Burst: 5}
	other := store.Bucket{Key: "ip:192.0.2.7", Every: time.Second, Burst: 5}
	for range 3 {
		if wait, err := s.TakeAttempt(ctx, now, []store.Bucket{b, other}); err != nil || wait != 0 {
			t.Fatalf("TakeAttempt: %s, %v", wait, err)
		}
	}
	if n := countThrottle(t, s); n != 2 {
		t.Fatalf("%d throttle records, want 2", n)
	}
	clock = now.Add(3 * time.Second) // other is full again, b is not
	if _, err := s.Sweep(ctx); err != nil {
		t.Fatal(err)
	}
	if n := countThrottle(t, s); n != 1 {
		t.Fatalf("after the address refilled: %d throttle records, want 1", n)
	}
	for range 3 {
		if err := s.ReturnAttempt(ctx, clock, []store.Bucket{b}); err != nil {
			t.Fatal(err)
		}
	}
	if n := countThrottle(t, s); n != 0 {
		t.Fatalf("after refunds filled the bucket: %d throttle records, want 0", n)
	}
	var idx int
	s.db.View(func(tx *bbolt.Tx) error { idx = tx.Bucket(bucketExpiry).Stats().KeyN; return nil })
	if idx != 0 {
		t.Fatalf("%d expiry index entries left", idx)
	}
}

func countThrottle(t *testing.T, s *Store) int {
	t.Helper()
	n := 0
	err := s.db.View(func(tx *bbolt.Tx) error {
		if b := tx.Bucket(bucketThrottle); b != nil {
			n = b.Stats().KeyN
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	return n
}
