package keys

import (
	"context"
	"path/filepath"
	"testing"
	"time"

	"github.com/authd-dev/authd/store/bolt"
)

// TestRunReloadsOnNotification: with a Notifier, a rotation or a delete
// stored by one replica reaches the other's JWKS and signing at once,
// although its poll interval (an hour here) never fires.
func TestRunReloadsOnNotification(t *testing.T) {
	st, err := bolt.Open(filepath.Join(t.TempDir(), "db"), bolt.Options{SweepInterval: -1})
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	clk := newClock()
	withNotifier := func(c *Config) { c.Notifier, c.RefreshInterval = st, time.Hour }
	a := newManager(t, st, clk, withNotifier)
	b := newManager(t, st, clk, withNotifier)
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { b.Run(ctx); close(done) }()

	within := func(what string, d time.Duration, ok func() bool) {
		t.Helper()
		deadline := time.Now().Add(d)
		for !ok() {
			if time.Now().After(deadline) {
				t.Fatalf("%s: not within %s", what, d)
			}
			time.Sleep(time.Millisecond)
		}
	}
	// The first change may come before b's subscription is live; the
	// reload on NoticeSubscribed covers it.
	rotated, err := a.Rotate(context.Background(), RS256)
	if err != nil {
		t.Fatal(err)
	}
	within("b signs with a's rotated key", 2*time.Second, func() bool {
		_, kid, _ := b.Sign(RS256, TypeAccessToken, []byte(`{}`))
		return kid == rotated.Kid
	})
	for range 3 {
		start := time.Now()
		next, err := a.Rotate(context.Background(), ES256)
		if err != nil {
			t.Fatal(err)
		}
		within("b signs with the next rotated key", time.Second, func() bool {
			_, kid, _ := b.Sign(ES256, TypeAccessToken, []byte(`{}`))
			return kid == next.Kid
		})
		t.Logf("rotation seen by the other replica after %s", time.Since(start))
	}
	// Withdrawal: a deleted key leaves b's JWKS and stops verifying there.
	tok, _, err := a.Sign(RS256, TypeAccessToken, []byte(`{}`))
	if err != nil {
		t.Fatal(err)
	}
	if err := a.Delete(context.Background(), rotated.Kid); err != nil {
		t.Fatal(err)
	}
	within("b withdraws the deleted key", time.Second, func() bool {
		_, _, _, err := b.Verify(tok)
		return err != nil && !b.Published(rotated.Kid)
	})
	cancel()
	select {
	case <-done:
	case <-time.After(5 * time.Second):
		t.Fatal("Run did not return after cancel")
	}
}
