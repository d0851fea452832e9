package bolt

import (
	"context"
	"errors"
	"fmt"
	"testing"
	"time"

	"github.com/authd-dev/authd/store"
	"github.com/authd-dev/authd/store/storetest"
)

// TestSweepBacklog: a backlog of expired families and denials, dense
// enough for steps of many records a leaf, is deleted whole, in one window
// or in several, while live records survive, among them families
// rewritten with a later expiry whose old index entries are stale.
func TestSweepBacklog(t *testing.T) {
	for _, c := range []struct{ window, dead int }{{sweepWindow, sweepDense}, {500, 700}} {
		t.Run(fmt.Sprintf("window %d", c.window), func(t *testing.T) {
			defer func(w int) { sweepWindow = w }(sweepWindow)
			sweepWindow = c.window
			dead := c.dead
			ctx := context.Background()
			clk := &clock{t: storetest.Now()}
			s, _ := open(t, Options{Now: clk.Now, SweepInterval: -1})
			now := clk.Now()
			const live, rewritten = 50, 20
			var fams []store.Family
			var dens []store.Denial
			for i := range dead + live {
				exp := now.Add(time.Duration(i%997+1) * time.Millisecond)
				if i >= dead {
					exp = now.Add(time.Hour)
				}
				f := storetest.NewFamily(fmt.Sprintf("fam%05d", (i*7919)%(dead+live)), now, "x")
				f.IdleExpiresAt = exp
				fams = append(fams, f)
				dens = append(dens, store.Denial{Kind: store.DenyJTI, Value: fmt.Sprint("jti", i), At: now, ExpiresAt: exp})
			}
			if err := s.Prefill(ctx, fams, dens); err != nil {
				t.Fatal(err)
			}
			// Rewritten with a later expiry: the entry at the old one stays.
			revived := make([]store.Family, rewritten)
			for i := range revived {
				revived[i] = fams[i]
				revived[i].IdleExpiresAt = now.Add(time.Hour)
			}
			if err := s.Prefill(ctx, revived, nil); err != nil {
				t.Fatal(err)
			}
			clk.Add(time.Second)

			n, err := s.Sweep(ctx)
			if want := 2*dead - rewritten; err != nil || n != want {
				t.Fatalf("Sweep: deleted %d, %v; want %d", n, err, want)
			}
			for i, f := range fams {
				_, err := s.GetFamily(ctx, f.ID)
				switch alive := i < rewritten || i >= dead; {
				case alive && err != nil:
					t.Fatalf("live family %s: %v", f.ID, err)
				case !alive && !errors.Is(err, store.ErrNotFound):
					t.Fatalf("expired family %s: %v, want ErrNotFound", f.ID, err)
				}
			}
			if got, want := count(t, s, bucketFamilies), live+rewritten; got != want {
				t.Fatalf("%d families left, want %d", got, want)
			}
			if got, want := count(t, s, bucketDenials), live; got != want {
				t.Fatalf("%d denials left, want %d", got, want)
			}
			if got, want := count(t, s, bucketExpiry), 2*live+rewritten; got != want {
				t.Fatalf("%d index entries left, want %d (one a live record)", got, want)
			}
			if n, err := s.Sweep(ctx); err != nil || n != 0 {
				t.Fatalf("second Sweep: deleted %d, %v; want 0, nil", n, err)
			}
		})
	}
}
