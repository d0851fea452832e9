package redis

import (
	"context"
	"testing"
	"time"

	"github.com/authd-dev/authd/store"
)

// TestThrottleKeysExpire: every bucket key carries a TTL that ends when
// the bucket is full again, and a refund that fills it deletes the key.
func TestThrottleKeysExpire(t *testing.T) {
	ctx := context.Background()
	s := openTest(t, Options{})
	now := time.Now()
	b := store.Bucket{Key: "u:alice", Every: time.Minute, Burst: 5}
	for range 2 {
		if wait, err := s.TakeAttempt(ctx, now, []store.Bucket{b}); err != nil || wait != 0 {
			t.Fatalf("TakeAttempt: %s, %v", wait, err)
		}
	}
	ttl, err := s.rdb.PTTL(ctx, s.throttleKey(b.Key)).Result()
	if err != nil {
		t.Fatal(err)
	}
	if ttl <= time.Minute || ttl > 2*time.Minute {
		t.Fatalf("TTL after two attempts: %s, want (1m, 2m]", ttl)
	}
	for range 2 {
		if err := s.ReturnAttempt(ctx, now, []store.Bucket{b}); err != nil {
			t.Fatal(err)
		}
	}
	if n, err := s.rdb.Exists(ctx, s.throttleKey(b.Key)).Result(); err != nil || n != 0 {
		t.Fatalf("key after refunds: exists %d, %v", n, err)
	}
}
