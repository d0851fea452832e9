package bolt

import (
	"context"
	"testing"
	"time"

	"github.com/authd-dev/authd/store"
	"github.com/authd-dev/authd/store/storetest"
)

// TestSweepDeletesExpiredSessions: the sweeper deletes sessions past
// their idle or absolute end, with their user index entries and expiry
// index entries, and keeps a touched one at its new end.
func TestSweepDeletesExpiredSessions(t *testing.T) {
	ctx := context.Background()
	clk := &clock{t: storetest.Now()}
	s, _ := open(t, Options{Now: clk.Now, SweepInterval: -1})
	now := clk.Now()
	idle := storetest.NewSession("idle", "u1", now)
	idle.IdleExpiresAt = now.Add(time.Hour)
	abs := storetest.NewSession("abs", "u1", now)
	abs.ExpiresAt, abs.IdleExpiresAt = now.Add(time.Hour), now.Add(time.Hour)
	touched := storetest.NewSession("touched", "u1", now)
	touched.IdleExpiresAt = now.Add(time.Hour)
	for _, x := range []store.Session{idle, abs, touched} {
		if err := s.CreateSession(ctx, x); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := s.TouchSession(ctx, "touched", store.SessionTouch{Now: now.Add(30 * time.Minute), IdleTTL: 24 * time.Hour}); err != nil {
		t.Fatal(err)
	}
	clk.Add(2 * time.Hour)
	n, err := s.Sweep(ctx)
	if err != nil || n != 2 {
		t.Fatalf("Sweep: deleted %d, %v; want 2", n, err)
	}
	if got := count(t, s, bucketSessions); got != 1 {
		t.Errorf("%d sessions left, want 1", got)
	}
	if got := count(t, s, bucketUserSessions); got != 1 {
		t.Errorf("%d user index entries left, want 1", got)
	}
	if got := count(t, s, bucketExpiry); got != 1 {
		t.Errorf("%d expiry index entries left, want 1 (the touched session's new end only)", got)
	}
	if list, err := s.ListSessions(ctx, "u1"); err != nil || len(list) != 1 || list[0].ID != "touched" {
		t.Errorf("ListSessions after sweep: %+v, %v", list, err)
	}
}
