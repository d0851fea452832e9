package bolt

import (
	"context"
	"fmt"
	"testing"
	"time"
)

// TestReplayPrunesExpired: expired single-use entries are deleted by later
// inserts (16 per insert), so the record holds only what is live; there is
// no capacity that could fill up.
func TestReplayPrunesExpired(t *testing.T) {
	ctx := context.Background()
	clk := &clock{t: time.Unix(1_800_000_000, 0)}
	s, _ := open(t, Options{Now: clk.Now, SweepInterval: -1})
	for i := range 100 {
		if err := s.MarkUsed(ctx, fmt.Sprint("old-", i), clk.Now().Add(time.Second)); err != nil {
			t.Fatal(err)
		}
	}
	clk.Add(2 * time.Second)
	for i := range 10 {
		if err := s.MarkUsed(ctx, fmt.Sprint("new-", i), clk.Now().Add(time.Minute)); err != nil {
			t.Fatal(err)
		}
	}
	if n := count(t, s, bucketReplay); n != 10 {
		t.Fatalf("%d entries after 100 expired and 10 live; want 10 (expired ones pruned)", n)
	}
	// An expired key can be used again; a live one cannot.
	if err := s.MarkUsed(ctx, "old-1", clk.Now().Add(time.Minute)); err != nil {
		t.Fatalf("reuse of an expired key: %v", err)
	}
	if err := s.MarkUsed(ctx, "new-1", clk.Now().Add(time.Minute)); err == nil {
		t.Fatal("a live key was accepted twice")
	}
}
