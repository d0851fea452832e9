package bolt

import (
	"context"
	"errors"
	"fmt"
	"runtime"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	bbolt "go.etcd.io/bbolt"

	"github.com/authd-dev/authd/store"
)

var bucketTest = []byte("group-commit-test")

// commitLog records the grouped commits of a store (committer.onCommit).
type commitLog struct {
	mu    sync.Mutex
	calls []int // functions per grouped DB.Update, in order
}

func (l *commitLog) hook(calls int, _ error) {
	l.mu.Lock()
	l.calls = append(l.calls, calls)
	l.mu.Unlock()
}

func (l *commitLog) get() []int {
	l.mu.Lock()
	defer l.mu.Unlock()
	return append([]int(nil), l.calls...)
}

// queued is how many callers wait for the next commit.
func queued(s *Store) int {
	s.commits.mu.Lock()
	defer s.commits.mu.Unlock()
	return len(s.commits.queue)
}

// waitFor polls cond for up to 10 s.
func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	for deadline := time.Now().Add(10 * time.Second); !cond(); {
		if time.Now().After(deadline) {
			t.Fatalf("gave up waiting for %s", what)
		}
		time.Sleep(time.Millisecond)
	}
}

// putKey is a batch function that writes key (and counts its runs).
func putKey(key string, runs *atomic.Int64) func(*bbolt.Tx) error {
	return func(tx *bbolt.Tx) error {
		if runs != nil {
			runs.Add(1)
		}
		b, err := tx.CreateBucketIfNotExists(bucketTest)
		if err != nil {
			return err
		}
		return b.Put([]byte(key), []byte("v"))
	}
}

// hasKey reports whether key was committed.
func hasKey(t *testing.T, s *Store, key string) bool {
	t.Helper()
	found := false
	if err := s.db.View(func(tx *bbolt.Tx) error {
		if b := tx.Bucket(bucketTest); b != nil {
			found = b.Get([]byte(key)) != nil
		}
		return nil
	}); err != nil {
		t.Fatal(err)
	}
	return found
}

// holdCommit starts a caller whose function blocks until release is
// closed, so that the callers started meanwhile queue behind its commit.
// The returned channel yields that caller's result.
func holdCommit(t *testing.T, s *Store) (release chan struct{}, result <-chan error) {
	t.Helper()
	release = make(chan struct{})
	entered := make(chan struct{})
	res := make(chan error, 1)
	go func() {
		res <- s.batch(context.Background(), "hold", func(tx *bbolt.Tx) error {
			select {
			case <-entered:
			default:
				close(entered)
			}
			<-release
			return putKey("held", nil)(tx)
		})
	}()
	<-entered
	return release, res
}

// TestGroupCommitIdleCommitsAtOnce: a lone caller is a commit of its own,
// started at once.
func TestGroupCommitIdleCommitsAtOnce(t *testing.T) {
	s, _ := open(t, Options{SweepInterval: -1})
	var log commitLog
	s.commits.onCommit = log.hook
	for i := range 3 {
		if err := s.batch(context.Background(), "test", putKey(fmt.Sprint("k", i), nil)); err != nil {
			t.Fatal(err)
		}
	}
	if got := log.get(); fmt.Sprint(got) != "[1 1 1]" {
		t.Errorf("commits of three serial calls: %v; want [1 1 1]", got)
	}
}

// TestGroupCommitTakesAllQueued: callers that arrive while a commit runs
// all share the next one.
func TestGroupCommitTakesAllQueued(t *testing.T) {
	s, _ := open(t, Options{SweepInterval: -1})
	var log commitLog
	s.commits.onCommit = log.hook
	release, held := holdCommit(t, s)
	const n = 50
	var runs atomic.Int64
	errs := make([]error, n)
	var wg sync.WaitGroup
	for i := range n {
		wg.Go(func() { errs[i] = s.batch(context.Background(), "test", putKey(fmt.Sprint("k", i), &runs)) })
	}
	waitFor(t, "the callers to queue", func() bool { return queued(s) == n })
	close(release)
	wg.Wait()
	if err := <-held; err != nil {
		t.Fatalf("held commit: %v", err)
	}
	for i, err := range errs {
		if err != nil {
			t.Errorf("caller %d: %v", i, err)
		}
		if !hasKey(t, s, fmt.Sprint("k", i)) {
			t.Errorf("caller %d: its write is missing", i)
		}
	}
	if got := log.get(); fmt.Sprint(got) != fmt.Sprint([]int{1, n}) {
		t.Errorf("commits: %v; want the held one, then one of all %d", got, n)
	}
	if r := runs.Load(); r != n {
		t.Errorf("functions ran %d times; want %d", r, n)
	}
}

// TestGroupCommitRegathers: callers that write again as soon as their
// commit returned (a closed loop) are regathered into one commit, not split
// into a lone commit and the rest.
func TestGroupCommitRegathers(t *testing.T) {
	s, _ := open(t, Options{SweepInterval: -1})
	var log commitLog
	s.commits.onCommit = log.hook
	// The wait is half the last commit's duration, which a slow function
	// makes long enough for any scheduler.
	s.commits.maxWait = time.Minute
	release, held := holdCommit(t, s)
	const n = 8
	var slow atomic.Bool
	errs := make([]error, 2*n)
	var wg sync.WaitGroup
	for i := range n {
		wg.Go(func() {
			errs[i] = s.batch(context.Background(), "test", func(tx *bbolt.Tx) error {
				if i == 0 && !slow.Swap(true) {
					time.Sleep(200 * time.Millisecond)
				}
				return putKey(fmt.Sprint("a", i), nil)(tx)
			})
			errs[n+i] = s.batch(context.Background(), "test", putKey(fmt.Sprint("b", i), nil))
		})
	}
	waitFor(t, "the callers to queue", func() bool { return queued(s) == n })
	close(release)
	wg.Wait()
	if err := <-held; err != nil {
		t.Fatal(err)
	}
	for i, err := range errs {
		if err != nil {
			t.Errorf("call %d: %v", i, err)
		}
	}
	if got := log.get(); fmt.Sprint(got) != fmt.Sprint([]int{1, n, n}) {
		t.Errorf("commits: %v; want [1 %d %d] (the second writes of the %d callers in one commit)", got, n, n, n)
	}
}

// TestGroupCommitBounded: a group holds at most maxGroup calls; the rest
// form the next one.
func TestGroupCommitBounded(t *testing.T) {
	s, _ := open(t, Options{SweepInterval: -1})
	var log commitLog
	s.commits.onCommit = log.hook
	release, held := holdCommit(t, s)
	n := maxGroup + 10
	var wg sync.WaitGroup
	var failed atomic.Int64
	for i := range n {
		wg.Go(func() {
			if err := s.batch(context.Background(), "test", putKey(fmt.Sprint("k", i), nil)); err != nil {
				failed.Add(1)
			}
		})
	}
	waitFor(t, "the callers to queue", func() bool { return queued(s) == n })
	close(release)
	wg.Wait()
	if err := <-held; err != nil || failed.Load() != 0 {
		t.Fatalf("held: %v; %d callers failed", err, failed.Load())
	}
	if got := log.get(); fmt.Sprint(got) != fmt.Sprint([]int{1, maxGroup, 10}) {
		t.Errorf("commits: %v; want [1 %d 10]", got, maxGroup)
	}
}

// TestGroupCommitFailureIsolated: a function that fails or panics in a
// group fails alone, with its own error or panic; the others commit and
// the failing ones' writes do not.
func TestGroupCommitFailureIsolated(t *testing.T) {
	s, _ := open(t, Options{SweepInterval: -1})
	var log commitLog
	s.commits.onCommit = log.hook
	release, held := holdCommit(t, s)
	errBoom := errors.New("boom")
	const n = 20
	errs := make([]error, n)
	var wg sync.WaitGroup
	for i := range n {
		wg.Go(func() { errs[i] = s.batch(context.Background(), "test", putKey(fmt.Sprint("k", i), nil)) })
	}
	var failErr error
	wg.Go(func() {
		failErr = s.batch(context.Background(), "test", func(tx *bbolt.Tx) error {
			if err := putKey("failing", nil)(tx); err != nil {
				return err
			}
			return errBoom
		})
	})
	var recovered any
	wg.Go(func() {
		defer func() { recovered = recover() }()
		_ = s.batch(context.Background(), "test", func(tx *bbolt.Tx) error {
			if err := putKey("panicking", nil)(tx); err != nil {
				return err
			}
			panic("kaboom")
		})
	})
	waitFor(t, "the callers to queue", func() bool { return queued(s) == n+2 })
	close(release)
	wg.Wait()
	if err := <-held; err != nil {
		t.Fatalf("held commit: %v", err)
	}
	for i, err := range errs {
		if err != nil || !hasKey(t, s, fmt.Sprint("k", i)) {
			t.Errorf("caller %d: %v, committed %v; want its write committed", i, err, hasKey(t, s, fmt.Sprint("k", i)))
		}
	}
	if !errors.Is(failErr, errBoom) {
		t.Errorf("failing function: %v; want its own error", failErr)
	}
	if recovered != "kaboom" {
		t.Errorf("panicking function: recovered %v; want its own panic in its caller", recovered)
	}
	for _, k := range []string{"failing", "panicking"} {
		if hasKey(t, s, k) {
			t.Errorf("the write of the %s function was committed", k)
		}
	}
	// The held commit, then the group: two attempts that each lost one
	// function, and the commit of the rest.
	if got := log.get(); fmt.Sprint(got) != fmt.Sprint([]int{1, n + 2, n + 1, n}) {
		t.Errorf("commits: %v; want [1 %d %d %d]", got, n+2, n+1, n)
	}
	// The store still works.
	if err := s.batch(context.Background(), "test", putKey("after", nil)); err != nil {
		t.Fatal(err)
	}
}

// TestGroupCommitContext: a done ctx is refused before fn runs, and a
// caller whose ctx ends while it queues is dropped from its group.
func TestGroupCommitContext(t *testing.T) {
	s, _ := open(t, Options{SweepInterval: -1})
	var runs atomic.Int64
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if err := s.batch(ctx, "test", putKey("early", &runs)); !errors.Is(err, context.Canceled) {
		t.Errorf("cancelled ctx: %v; want context.Canceled", err)
	}

	release, held := holdCommit(t, s)
	ctx, cancel = context.WithCancel(context.Background())
	defer cancel()
	res := make(chan error, 1)
	go func() { res <- s.batch(ctx, "test", putKey("queued", &runs)) }()
	other := make(chan error, 1)
	go func() { other <- s.batch(context.Background(), "test", putKey("other", nil)) }()
	waitFor(t, "the callers to queue", func() bool { return queued(s) == 2 })
	cancel()
	close(release)
	if err := <-held; err != nil {
		t.Fatal(err)
	}
	if err := <-res; !errors.Is(err, context.Canceled) {
		t.Errorf("ctx cancelled while queued: %v; want context.Canceled", err)
	}
	if err := <-other; err != nil {
		t.Errorf("the other queued caller: %v", err)
	}
	if r := runs.Load(); r != 0 {
		t.Errorf("functions of cancelled callers ran %d times; want 0", r)
	}
	if hasKey(t, s, "queued") || hasKey(t, s, "early") || !hasKey(t, s, "other") {
		t.Error("want only the live caller's write committed")
	}
}

// TestGroupCommitClose: Close while callers queue lets the commit in
// flight complete, fails the queued callers and later ones with
// store.ErrUnavailable, and leaves no goroutine behind.
func TestGroupCommitClose(t *testing.T) {
	before := runtime.NumGoroutine()
	s, _ := open(t, Options{SweepInterval: -1})
	release, held := holdCommit(t, s)
	const n = 10
	errs := make([]error, n)
	var wg sync.WaitGroup
	for i := range n {
		wg.Go(func() { errs[i] = s.batch(context.Background(), "test", putKey(fmt.Sprint("k", i), nil)) })
	}
	waitFor(t, "the callers to queue", func() bool { return queued(s) == n })
	closed := make(chan error, 1)
	go func() { closed <- s.Close() }()
	waitFor(t, "Close to begin", func() bool {
		s.commits.mu.Lock()
		defer s.commits.mu.Unlock()
		return s.commits.closed
	})
	close(release)
	wg.Wait()
	if err := <-held; err != nil {
		t.Errorf("the commit in flight at Close: %v; want it completed", err)
	}
	if err := <-closed; err != nil {
		t.Fatalf("Close: %v", err)
	}
	for i, err := range errs {
		if !errors.Is(err, store.ErrUnavailable) {
			t.Errorf("queued caller %d: %v; want store.ErrUnavailable", i, err)
		}
	}
	if err := s.batch(context.Background(), "test", putKey("late", nil)); !errors.Is(err, store.ErrUnavailable) {
		t.Errorf("after Close: %v; want store.ErrUnavailable", err)
	}
	waitFor(t, "the goroutines to end", func() bool { return runtime.NumGoroutine() <= before })
}

// TestGroupCommitConcurrentMarkUsed: many concurrent MarkUsed calls all
// commit, and a replay among them is refused without costing the others a
// rerun (every call is carried by exactly one successful commit).
func TestGroupCommitConcurrentMarkUsed(t *testing.T) {
	s, _ := open(t, Options{SweepInterval: -1})
	ctx := context.Background()
	exp := time.Now().Add(time.Minute)
	if err := s.MarkUsed(ctx, "seen", exp); err != nil {
		t.Fatal(err)
	}
	var commits, callsCommitted atomic.Int64
	s.commits.onCommit = func(calls int, err error) {
		commits.Add(1)
		if err == nil {
			callsCommitted.Add(int64(calls))
		}
	}
	const n = 200
	var wg sync.WaitGroup
	errs := make([]error, n)
	var replay error
	for i := range n {
		wg.Go(func() { errs[i] = s.MarkUsed(ctx, fmt.Sprint("jti", i), exp) })
	}
	wg.Go(func() { replay = s.MarkUsed(ctx, "seen", exp) })
	wg.Wait()
	for i, err := range errs {
		if err != nil {
			t.Errorf("MarkUsed %d: %v", i, err)
		}
	}
	if !errors.Is(replay, store.ErrExists) {
		t.Errorf("replayed key: %v; want store.ErrExists", replay)
	}
	if k := callsCommitted.Load(); k != n+1 {
		t.Errorf("commits carried %d calls; want every one of the %d exactly once (no reruns)", k, n+1)
	}
	t.Logf("%d calls in %d commits", n+1, commits.Load())
}
