package bolt

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	bbolt "go.etcd.io/bbolt"
	berrors "go.etcd.io/bbolt/errors"

	"github.com/authd-dev/authd/store"
	"github.com/authd-dev/authd/store/storetest"
)

// open opens a store in a fresh temporary directory, closed at cleanup.
func open(t testing.TB, opts Options) (*Store, string) {
	t.Helper()
	path := filepath.Join(t.TempDir(), "data", "authd.db")
	s, err := Open(path, opts)
	if err != nil {
		t.Fatalf("Open: %v", err)
	}
	t.Cleanup(func() {
		if err := s.Close(); err != nil {
			t.Errorf("Close: %v", err)
		}
	})
	return s, path
}

func TestConformance(t *testing.T) {
	storetest.Run(t, func(t *testing.T) store.Store {
		s, _ := open(t, Options{})
		return s
	})
}

// clock is a settable Options.Now.
type clock struct {
	mu sync.Mutex
	t  time.Time
}

func (c *clock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.t
}

func (c *clock) Add(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.t = c.t.Add(d)
}

// count returns the number of records in a bucket.
func count(t *testing.T, s *Store, bucket []byte) int {
	t.Helper()
	n := 0
	err := s.db.View(func(tx *bbolt.Tx) error {
		n = tx.Bucket(bucket).Stats().KeyN
		return nil
	})
	if err != nil {
		t.Fatalf("count %s: %v", bucket, err)
	}
	return n
}

func TestOpenCreatesPrivateFile(t *testing.T) {
	_, path := open(t, Options{})
	fi, err := os.Stat(path)
	if err != nil {
		t.Fatalf("stat: %v", err)
	}
	if perm := fi.Mode().Perm(); perm != 0o600 {
		t.Fatalf("database file mode %o, want 600", perm)
	}
	di, err := os.Stat(filepath.Dir(path))
	if err != nil {
		t.Fatalf("stat dir: %v", err)
	}
	if perm := di.Mode().Perm(); perm&0o077 != 0 {
		t.Fatalf("created directory mode %o, want no group/other access", perm)
	}
}

func TestDataSurvivesReopen(t *testing.T) {
	ctx := context.Background()
	path := filepath.Join(t.TempDir(), "authd.db")
	s, err := Open(path, Options{})
	if err != nil {
		t.Fatalf("Open: %v", err)
	}
	now := storetest.Now()
	client := storetest.NewClient("c1", now)
	user := storetest.NewUser("u1", "alice", now)
	fam := storetest.NewFamily("f1", now, "t0")
	keys := []store.Key{storetest.NewKey("k1", "RS256", store.KeyActive, now)}
	denial := store.Denial{Kind: store.DenySID, Value: "f1", At: now, ExpiresAt: now.Add(time.Hour)}
	for name, err := range map[string]error{
		"CreateClient": s.CreateClient(ctx, client),
		"CreateUser":   s.CreateUser(ctx, user),
		"CreateFamily": s.CreateFamily(ctx, fam),
		"Deny":         s.Deny(ctx, denial),
	} {
		if err != nil {
			t.Fatalf("%s: %v", name, err)
		}
	}
	if _, err := s.SwapKeySet(ctx, 0, keys); err != nil {
		t.Fatalf("SwapKeySet: %v", err)
	}
	if err := s.Close(); err != nil {
		t.Fatalf("Close: %v", err)
	}

	s, err = Open(path, Options{})
	if err != nil {
		t.Fatalf("reopen: %v", err)
	}
	defer s.Close()
	gotClient, err := s.GetClient(ctx, "c1")
	if err != nil || !storetest.Equal(gotClient, client) {
		t.Fatalf("client after reopen: %+v, %v", gotClient, err)
	}
	gotUser, err := s.GetUserByUsername(ctx, "alice")
	if err != nil || !storetest.Equal(gotUser, user) {
		t.Fatalf("user after reopen: %+v, %v", gotUser, err)
	}
	gotFam, err := s.GetFamily(ctx, "f1")
	if err != nil || !storetest.Equal(gotFam, fam) {
		t.Fatalf("family after reopen: %+v, %v", gotFam, err)
	}
	gotKeys, err := s.GetKeySet(ctx)
	if err != nil || !storetest.Equal(gotKeys, store.KeySet{Version: 1, Keys: keys}) {
		t.Fatalf("key set after reopen: %+v, %v", gotKeys, err)
	}
	st, err := s.DenyState(ctx, store.DenyQuery{SID: "f1"})
	if err != nil || !st.SID.Equal(now) {
		t.Fatalf("deny state after reopen: %+v, %v", st, err)
	}
}

// sweepFixture fills a store with families and denials of which some have
// expired at clk+2h, and returns the IDs that must survive.
func sweepFixture(t *testing.T, s *Store, clk *clock) (liveFamilies []string) {
	t.Helper()
	ctx := context.Background()
	now := clk.Now()
	short := func(id string) store.Family {
		f := storetest.NewFamily(id, now, "t0")
		f.IdleExpiresAt = now.Add(time.Hour)
		return f
	}
	abs := storetest.NewFamily("abs", now, "t0")
	abs.ExpiresAt = now.Add(time.Hour)
	abs.IdleExpiresAt = now.Add(3 * time.Hour)
	for _, f := range []store.Family{
		storetest.NewFamily("live", now, "t0"), short("idle"), abs, short("rotated"), short("revoked"),
	} {
		if err := s.CreateFamily(ctx, f); err != nil {
			t.Fatalf("CreateFamily %s: %v", f.ID, err)
		}
	}
	// Rotating moves the expiry of "rotated" past the sweep; revoking
	// "revoked" does not keep it beyond its expiry.
	if _, err := s.RotateRefresh(ctx, storetest.Rotate("rotated", "t0", "t1", now.Add(30*time.Minute))); err != nil {
		t.Fatalf("RotateRefresh: %v", err)
	}
	if err := s.RevokeFamily(ctx, "revoked"); err != nil {
		t.Fatalf("RevokeFamily: %v", err)
	}
	for _, d := range []store.Denial{
		{Kind: store.DenyJTI, Value: "gone", At: now, ExpiresAt: now.Add(time.Hour)},
		{Kind: store.DenyJTI, Value: "kept", At: now, ExpiresAt: now.Add(3 * time.Hour)},
		{Kind: store.DenySID, Value: "extended", At: now, ExpiresAt: now.Add(time.Hour)},
		{Kind: store.DenySID, Value: "extended", At: now, ExpiresAt: now.Add(3 * time.Hour)},
	} {
		if err := s.Deny(ctx, d); err != nil {
			t.Fatalf("Deny: %v", err)
		}
	}
	clk.Add(2 * time.Hour)
	return []string{"live", "rotated"}
}

func TestSweepDeletesExpiredRecords(t *testing.T) {
	ctx := context.Background()
	clk := &clock{t: storetest.Now()}
	s, _ := open(t, Options{Now: clk.Now, SweepInterval: -1})
	live := sweepFixture(t, s, clk)

	n, err := s.Sweep(ctx)
	if err != nil {
		t.Fatalf("Sweep: %v", err)
	}
	// idle, abs, revoked, jti "gone", and the feed entries of "gone" and
	// of the first, shorter "extended".
	if n != 6 {
		t.Fatalf("Sweep deleted %d records, want 6", n)
	}
	if got := count(t, s, bucketFeed); got != 2 {
		t.Fatalf("%d feed entries left, want 2 (kept, extended)", got)
	}
	if got := count(t, s, bucketFamilies); got != len(live) {
		t.Fatalf("%d families left, want %d", got, len(live))
	}
	for _, id := range live {
		if _, err := s.GetFamily(ctx, id); err != nil {
			t.Fatalf("GetFamily %s after sweep: %v", id, err)
		}
	}
	if got := count(t, s, bucketDenials); got != 2 {
		t.Fatalf("%d denials left, want 2", got)
	}
	st, err := s.DenyState(ctx, store.DenyQuery{JTI: "kept", SID: "extended"})
	if err != nil || st.JTI.IsZero() || st.SID.IsZero() {
		t.Fatalf("live denials after sweep: %+v, %v", st, err)
	}
	// One index entry per surviving record (2 families, 2 denials, 2 feed
	// entries): stale entries are gone too.
	if got := count(t, s, bucketExpiry); got != len(live)+4 {
		t.Fatalf("%d expiry index entries left, want %d", got, len(live)+4)
	}
	if n, err := s.Sweep(ctx); err != nil || n != 0 {
		t.Fatalf("second Sweep: deleted %d, %v; want 0, nil", n, err)
	}
}

func TestSweepManyRecordsInBatches(t *testing.T) {
	ctx := context.Background()
	clk := &clock{t: storetest.Now()}
	s, _ := open(t, Options{Now: clk.Now, SweepInterval: -1})
	const n = sweepBatch*2 + 5
	now := clk.Now()
	err := s.db.Update(func(tx *bbolt.Tx) error {
		for i := range n {
			key := denialKey(store.DenyJTI, fmt.Sprint(i))
			rec := denialRecord{At: now, ExpiresAt: now.Add(time.Minute)}
			if err := reindex(tx, expDenial, key, time.Time{}, rec.ExpiresAt); err != nil {
				return err
			}
			if err := put(tx, bucketDenials, key, rec); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		t.Fatalf("fill: %v", err)
	}
	clk.Add(time.Hour)
	deleted, err := s.Sweep(ctx)
	if err != nil || deleted != n {
		t.Fatalf("Sweep: deleted %d, %v; want %d", deleted, err, n)
	}
	if got := count(t, s, bucketDenials) + count(t, s, bucketExpiry); got != 0 {
		t.Fatalf("%d records left after sweep", got)
	}
}

func TestSweeperRunsInBackground(t *testing.T) {
	clk := &clock{t: storetest.Now()}
	s, _ := open(t, Options{Now: clk.Now, SweepInterval: 5 * time.Millisecond})
	live := sweepFixture(t, s, clk)
	deadline := time.Now().Add(5 * time.Second)
	for count(t, s, bucketFamilies) != len(live) || count(t, s, bucketDenials) != 2 {
		if time.Now().After(deadline) {
			t.Fatalf("background sweeper left %d families and %d denials, want %d and 2",
				count(t, s, bucketFamilies), count(t, s, bucketDenials), len(live))
		}
		time.Sleep(5 * time.Millisecond)
	}
	// Close stops the sweeper; the deferred Close from open is then a no-op.
	if err := s.Close(); err != nil {
		t.Fatalf("Close: %v", err)
	}
}

func TestSecondOpenFailsFast(t *testing.T) {
	_, path := open(t, Options{})
	start := time.Now()
	s2, err := Open(path, Options{LockTimeout: 100 * time.Millisecond})
	elapsed := time.Since(start)
	if err == nil {
		s2.Close()
		t.Fatal("second Open of a held file succeeded")
	}
	if !errors.Is(err, ErrLocked) || !errors.Is(err, berrors.ErrTimeout) {
		t.Fatalf("second Open: got %v, want ErrLocked wrapping bbolt's timeout", err)
	}
	if !strings.Contains(err.Error(), path) {
		t.Fatalf("error %q does not name the file", err)
	}
	if elapsed > 2*time.Second {
		t.Fatalf("second Open took %v to fail, want about the 100ms lock timeout", elapsed)
	}
}

func TestClosedStoreFailsWithoutPanic(t *testing.T) {
	ctx := context.Background()
	s, _ := open(t, Options{})
	if err := s.Close(); err != nil {
		t.Fatalf("Close: %v", err)
	}
	if err := s.Close(); err != nil {
		t.Fatalf("second Close: %v", err)
	}
	_, errGet := s.GetClient(ctx, "c1")
	_, errRotate := s.RotateRefresh(ctx, storetest.Rotate("f1", "t0", "t1", time.Now()))
	_, errState := s.DenyState(ctx, store.DenyQuery{JTI: "j"})
	_, errSweep := s.Sweep(ctx)
	for name, err := range map[string]error{
		"Ping":          s.Ping(ctx),
		"CreateClient":  s.CreateClient(ctx, storetest.NewClient("c1", time.Now())),
		"GetClient":     errGet,
		"RotateRefresh": errRotate,
		"DenyState":     errState,
		"Sweep":         errSweep,
	} {
		if !errors.Is(err, store.ErrUnavailable) || !errors.Is(err, berrors.ErrDatabaseNotOpen) {
			t.Errorf("%s on a closed store: got %v, want ErrUnavailable", name, err)
		}
	}
}

func TestCanceledContext(t *testing.T) {
	s, _ := open(t, Options{})
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if err := s.CreateClient(ctx, storetest.NewClient("c1", time.Now())); !errors.Is(err, context.Canceled) {
		t.Fatalf("CreateClient with canceled context: got %v, want context.Canceled", err)
	}
	if _, err := s.GetClient(context.Background(), "c1"); !errors.Is(err, store.ErrNotFound) {
		t.Fatalf("canceled CreateClient wrote anyway: GetClient got %v", err)
	}
}

func TestDenyRejectsMalformedEntries(t *testing.T) {
	s, _ := open(t, Options{})
	now := time.Now()
	for _, d := range []store.Denial{
		{Kind: "bogus", Value: "v", At: now, ExpiresAt: now.Add(time.Hour)},
		{Kind: store.DenyJTI, Value: "", At: now, ExpiresAt: now.Add(time.Hour)},
		{Kind: store.DenyJTI, Value: "v", At: now},
	} {
		if err := s.Deny(context.Background(), d); err == nil {
			t.Errorf("Deny(%+v) succeeded, want an error", d)
		}
	}
}

func BenchmarkRotateRefresh(b *testing.B) {
	ctx := context.Background()
	s, _ := open(b, Options{})
	now := storetest.Now()
	var ids atomic.Int64
	b.ReportAllocs()
	b.ResetTimer()
	b.RunParallel(func(pb *testing.PB) {
		id := fmt.Sprint("f", ids.Add(1))
		if err := s.CreateFamily(ctx, storetest.NewFamily(id, now, "0")); err != nil {
			b.Error(err)
			return
		}
		for gen := 0; pb.Next(); gen++ {
			r := storetest.Rotate(id, fmt.Sprint(gen), fmt.Sprint(gen+1), now.Add(time.Second))
			if _, err := s.RotateRefresh(ctx, r); err != nil {
				b.Error(err)
				return
			}
		}
	})
}

func BenchmarkGetClient(b *testing.B) {
	ctx := context.Background()
	s, _ := open(b, Options{})
	if err := s.CreateClient(ctx, storetest.NewClient("c1", storetest.Now())); err != nil {
		b.Fatal(err)
	}
	b.ReportAllocs()
	b.ResetTimer()
	for b.Loop() {
		if _, err := s.GetClient(ctx, "c1"); err != nil {
			b.Fatal(err)
		}
	}
}

// TestBatchedRotationsRunOnce: concurrent rotations share one group
// commit; the ones whose refresh token is dead (family missing, revoked,
// or a reuse that revokes it) must not make the group rerun. Every
// function runs exactly once, the live families rotate, the reuse is
// committed.
func TestBatchedRotationsRunOnce(t *testing.T) {
	ctx := context.Background()
	s, _ := open(t, Options{})
	now := storetest.Now()
	const live = 8
	for i := range live {
		if err := s.CreateFamily(ctx, storetest.NewFamily(fmt.Sprint("live", i), now, "0")); err != nil {
			t.Fatal(err)
		}
	}
	for _, id := range []string{"revoked", "reused"} {
		if err := s.CreateFamily(ctx, storetest.NewFamily(id, now, "0")); err != nil {
			t.Fatal(err)
		}
	}
	if err := s.RevokeFamily(ctx, "revoked"); err != nil {
		t.Fatal(err)
	}
	if _, err := s.RotateRefresh(ctx, storetest.Rotate("reused", "0", "1", now.Add(time.Second))); err != nil {
		t.Fatal(err)
	}
	type call struct {
		r    store.Rotation
		want error // nil: rotates
	}
	calls := []call{
		{storetest.Rotate("missing", "0", "1", now.Add(2*time.Second)), store.ErrNotFound},
		{storetest.Rotate("revoked", "0", "1", now.Add(2*time.Second)), store.ErrRevoked},
		{storetest.Rotate("reused", "0", "2", now.Add(2*time.Second)), store.ErrReused},
	}
	for i := range live {
		calls = append(calls, call{storetest.Rotate(fmt.Sprint("live", i), "0", "1", now.Add(2*time.Second)), nil})
	}
	// One group commit holds all of them: they queue behind a held commit.
	var log commitLog
	s.commits.onCommit = log.hook
	var runs atomic.Int64
	s.rotateRun = func() { runs.Add(1) }
	release, held := holdCommit(t, s)

	errs := make([]error, len(calls))
	var wg sync.WaitGroup
	for i, c := range calls {
		wg.Go(func() { _, errs[i] = s.RotateRefresh(ctx, c.r) })
	}
	waitFor(t, "the rotations to queue", func() bool { return queued(s) == len(calls) })
	close(release)
	wg.Wait()
	if err := <-held; err != nil {
		t.Fatal(err)
	}
	if got := log.get(); fmt.Sprint(got) != fmt.Sprint([]int{1, len(calls)}) {
		t.Errorf("commits: %v; want the held one, then one of all %d rotations", got, len(calls))
	}
	for i, c := range calls {
		if c.want == nil && errs[i] != nil || c.want != nil && !errors.Is(errs[i], c.want) {
			t.Errorf("rotation of %s: %v; want %v", c.r.FamilyID, errs[i], c.want)
		}
	}
	if n := runs.Load(); n != int64(len(calls)) {
		t.Errorf("batch functions ran %d times for %d rotations; want each once", n, len(calls))
	}
	for i := range live {
		f, err := s.GetFamily(ctx, fmt.Sprint("live", i))
		if err != nil || f.Generation != 1 || !storetest.Equal(f.Current, storetest.Digest("1")) {
			t.Errorf("live%d after the batch: generation %d, %v; want rotated once", i, f.Generation, err)
		}
	}
	if f, err := s.GetFamily(ctx, "reused"); err != nil || !f.Revoked {
		t.Errorf("reused family: revoked %v, %v; want the revocation committed", f.Revoked, err)
	}
}

// TestSweepDeletesExpiredRegistrationTokens: an initial access token that
// was never used up leaves the file once it has expired.
func TestSweepDeletesExpiredRegistrationTokens(t *testing.T) {
	ctx := context.Background()
	clk := &clock{t: storetest.Now()}
	s, _ := open(t, Options{Now: clk.Now, SweepInterval: -1})
	for i, ttl := range []time.Duration{time.Minute, time.Hour} {
		tok := store.RegistrationToken{Digest: storetest.Digest(fmt.Sprint("tok", i)), Uses: 2, CreatedAt: clk.Now(), ExpiresAt: clk.Now().Add(ttl)}
		if err := s.CreateRegistrationToken(ctx, tok); err != nil {
			t.Fatal(err)
		}
	}
	clk.Add(2 * time.Minute)
	if n, err := s.Sweep(ctx); err != nil || n != 1 {
		t.Fatalf("Sweep: deleted %d, %v; want 1, nil", n, err)
	}
	if got := count(t, s, bucketRegTokens); got != 1 {
		t.Fatalf("%d registration tokens left, want 1", got)
	}
	if err := s.UseRegistrationToken(ctx, storetest.Digest("tok1")); err != nil {
		t.Fatalf("the live token after the sweep: %v", err)
	}
}

func TestPrefill(t *testing.T) {
	s, _ := open(t, Options{SweepInterval: -1})
	storetest.RunPrefill(t, s, s)
}
