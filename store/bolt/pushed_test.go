package bolt

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/authd-dev/authd/store"
	"github.com/authd-dev/authd/store/storetest"
)

// TestSweepDeletesExpiredPushedRequests: the sweeper removes pushed
// requests past their expiry (and their index entries), and leaves live
// ones.
func TestSweepDeletesExpiredPushedRequests(t *testing.T) {
	ctx := context.Background()
	clk := &clock{t: storetest.Now()}
	s, _ := open(t, Options{Now: clk.Now, SweepInterval: -1})
	if err := s.PutPushedRequest(ctx, "short", []byte("a"), clk.Now().Add(time.Minute)); err != nil {
		t.Fatal(err)
	}
	if err := s.PutPushedRequest(ctx, "long", []byte("b"), clk.Now().Add(time.Hour)); err != nil {
		t.Fatal(err)
	}
	clk.Add(2 * time.Minute)
	n, err := s.Sweep(ctx)
	if err != nil || n != 1 {
		t.Fatalf("Sweep = %d, %v; want 1 deleted", n, err)
	}
	if got := count(t, s, bucketPushed); got != 1 {
		t.Fatalf("%d pushed requests left, want 1", got)
	}
	if got := count(t, s, bucketExpiry); got != 1 {
		t.Fatalf("%d expiry index entries left, want 1", got)
	}
	if _, err := s.TakePushedRequest(ctx, "short"); !errors.Is(err, store.ErrNotFound) {
		t.Fatalf("take swept request: %v", err)
	}
	if got, err := s.TakePushedRequest(ctx, "long"); err != nil || string(got) != "b" {
		t.Fatalf("take live request = %q, %v", got, err)
	}
	if got := count(t, s, bucketExpiry); got != 0 {
		t.Fatalf("%d expiry index entries left after the take, want 0", got)
	}
}
