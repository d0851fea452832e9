package verifier

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"slices"
	"testing"
	"time"
)

// TestExpiryHeapOrder: whatever the order of the pushes, pops come out
// earliest first, and interleaved pushes and pops keep the order.
func TestExpiryHeapOrder(t *testing.T) {
	r := rand.New(rand.NewPCG(1, 2))
	var h expiryHeap
	var want []int64
	for i := range 500 {
		e := r.Int64N(100) // duplicates on purpose
		h.push(expiry{key: fmt.Sprint(i), exp: e})
		want = append(want, e)
		if i%7 == 0 { // pop now and then, while pushing
			slices.Sort(want)
			if got := h.pop().exp; got != want[0] {
				t.Fatalf("pop %d = %d, want %d", i, got, want[0])
			}
			want = want[1:]
		}
	}
	slices.Sort(want)
	for i, w := range want {
		if got := h.pop().exp; got != w {
			t.Fatalf("final pop %d = %d, want %d", i, got, w)
		}
	}
	if len(h) != 0 {
		t.Fatalf("%d entries left", len(h))
	}
}

// TestMemoryReplaySweepsByExpiry: proofs recorded with expiries in any
// order are refused until their own expiry and accepted again after it,
// and the swept ones free their room in the bounded cache.
func TestMemoryReplaySweepsByExpiry(t *testing.T) {
	now := time.Date(2026, 12, 1, 12, 0, 0, 0, time.UTC)
	m := newMemoryReplay(func() time.Time { return now }, 3)
	ctx := context.Background()
	exps := map[string]time.Duration{"a": 30 * time.Second, "b": 10 * time.Second, "c": 20 * time.Second}
	for _, k := range []string{"a", "b", "c"} {
		if err := m.MarkUsed(ctx, k, now.Add(exps[k])); err != nil {
			t.Fatalf("MarkUsed(%s): %v", k, err)
		}
	}
	if err := m.MarkUsed(ctx, "d", now.Add(time.Minute)); !errors.Is(err, errReplayFull) {
		t.Fatalf("a fourth proof in a cache of 3: %v, want errReplayFull", err)
	}
	now = now.Add(15 * time.Second) // b expired, a and c not
	for _, k := range []string{"a", "c"} {
		if err := m.MarkUsed(ctx, k, now.Add(time.Minute)); !errors.Is(err, ErrDPoPReplay) {
			t.Fatalf("MarkUsed(%s) inside its window: %v, want ErrDPoPReplay", k, err)
		}
	}
	if err := m.MarkUsed(ctx, "b", now.Add(10*time.Second)); err != nil {
		t.Fatalf("MarkUsed(b) after its expiry: %v", err)
	}
	if err := m.MarkUsed(ctx, "d", now.Add(time.Minute)); !errors.Is(err, errReplayFull) {
		t.Fatalf("cache of 3 with a, b, c: %v, want errReplayFull", err)
	}
	now = now.Add(8 * time.Second) // at 23 s: c expired (20 s), b (25 s) and a (30 s) not
	if err := m.MarkUsed(ctx, "d", now.Add(time.Minute)); err != nil {
		t.Fatalf("MarkUsed(d) once c expired: %v", err)
	}
	for _, k := range []string{"a", "b", "d"} {
		if err := m.MarkUsed(ctx, k, now.Add(time.Minute)); !errors.Is(err, ErrDPoPReplay) {
			t.Fatalf("MarkUsed(%s) inside its window: %v, want ErrDPoPReplay", k, err)
		}
	}
}
