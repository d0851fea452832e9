package redis

import (
	"context"
	"errors"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	goredis "github.com/redis/go-redis/v9"

	"github.com/authd-dev/authd/internal/redistest"
	"github.com/authd-dev/authd/internal/testwait"
	"github.com/authd-dev/authd/store"
	"github.com/authd-dev/authd/store/storetest"
)

// replicas opens Stores that share one key prefix, as authd replicas
// sharing one Redis do; opts.Prefix is set by the opener.
type replicas func(t *testing.T, opts Options) *Store

// singleReplicas opens replicas on the test Redis under one fresh prefix.
func singleReplicas(t *testing.T) replicas {
	url := redistest.URL(t)
	prefix := redistest.Prefix(t, redistest.Client(t))
	return func(t *testing.T, opts Options) *Store {
		opts.URL, opts.Prefix = url, prefix
		s, err := Open(context.Background(), opts)
		if err != nil {
			t.Fatalf("Open: %v", err)
		}
		t.Cleanup(func() { _ = s.Close() })
		return s
	}
}

// clusterReplicas opens replicas on the Cluster at addrs under one fresh
// prefix.
func clusterReplicas(t *testing.T, addrs []string) replicas {
	keeper, err := Open(context.Background(), Options{Addrs: addrs})
	if err != nil {
		t.Fatalf("Open cluster: %v", err)
	}
	t.Cleanup(func() { _ = keeper.Close() })
	prefix := redistest.Prefix(t, keeper.rdb)
	return func(t *testing.T, opts Options) *Store {
		opts.Addrs, opts.Prefix = addrs, prefix
		s, err := Open(context.Background(), opts)
		if err != nil {
			t.Fatalf("Open cluster: %v", err)
		}
		t.Cleanup(func() { _ = s.Close() })
		return s
	}
}

func TestFeedAcrossReplicas(t *testing.T) { testFeedAcrossReplicas(t, singleReplicas(t)) }
func TestFeedTrim(t *testing.T)           { testFeedTrim(t, singleReplicas(t)) }
func TestFeedSkipsExpired(t *testing.T)   { testFeedSkipsExpired(t, singleReplicas(t)) }

// blockHook signals when its client sends a blocking XREAD.
type blockHook struct{ blocking chan struct{} }

func (h *blockHook) DialHook(next goredis.DialHook) goredis.DialHook { return next }
func (h *blockHook) ProcessHook(next goredis.ProcessHook) goredis.ProcessHook {
	return func(ctx context.Context, cmd goredis.Cmder) error {
		if cmd.Name() == "xread" && slices.ContainsFunc(cmd.Args(), func(a any) bool { return a == "block" }) {
			select {
			case h.blocking <- struct{}{}:
			default:
			}
		}
		return next(ctx, cmd)
	}
}
func (h *blockHook) ProcessPipelineHook(next goredis.ProcessPipelineHook) goredis.ProcessPipelineHook {
	return next
}

// testFeedAcrossReplicas: a Deny through one Store wakes a DenialsAfter
// blocked on another Store (another authd replica) within a second.
func testFeedAcrossReplicas(t *testing.T, open replicas) {
	ctx := context.Background()
	writer, reader := open(t, Options{}), open(t, Options{})
	if err := writer.Deny(ctx, jtiDenial("first", time.Now())); err != nil {
		t.Fatal(err)
	}
	_, cursor, err := reader.Denials(ctx)
	if err != nil || cursor == "" {
		t.Fatalf("Denials on the reader: cursor %q, %v", cursor, err)
	}
	h := &blockHook{blocking: make(chan struct{}, 1)}
	reader.rdb.AddHook(h)
	type result struct {
		entries []store.FeedEntry
		err     error
		at      time.Time
	}
	done := make(chan result, 1)
	go func() {
		e, err := reader.DenialsAfter(ctx, cursor, 5*time.Second)
		done <- result{e, err, time.Now()}
	}()
	select {
	case <-h.blocking:
	case r := <-done:
		t.Fatalf("DenialsAfter returned before blocking: %+v, %v", r.entries, r.err)
	case <-time.After(testwait.Limit):
		t.Fatalf("DenialsAfter neither blocked nor returned within %v", testwait.Limit)
	}
	denied := time.Now()
	if err := writer.Deny(ctx, jtiDenial("second", time.Now())); err != nil {
		t.Fatal(err)
	}
	r, _ := testwait.Recv(t, done, "answer of the woken DenialsAfter")
	if r.err != nil || len(r.entries) != 1 || r.entries[0].Denial.Value != "second" {
		t.Fatalf("woken read = %+v, %v; want the second denial", r.entries, r.err)
	}
	d := r.at.Sub(denied)
	if d > time.Second {
		t.Fatalf("the reader woke %v after the Deny; want within 1s", d)
	}
	t.Logf("reader woke %v after the Deny on the other replica", d)
}

// testFeedTrim: records past FeedRetention are trimmed on the next append;
// a cursor before the newest trimmed record is ErrCursorExpired, the newest
// trimmed record itself (a follower that saw everything) is still valid.
func testFeedTrim(t *testing.T, open replicas) {
	ctx := context.Background()
	old := open(t, Options{})
	var cursors []string
	for _, v := range []string{"a", "b", "c"} {
		if err := old.Deny(ctx, jtiDenial(v, time.Now())); err != nil {
			t.Fatal(err)
		}
		_, c, err := old.Denials(ctx)
		if err != nil {
			t.Fatal(err)
		}
		cursors = append(cursors, c)
	}
	// A replica whose clock is a minute ahead, keeping a millisecond: its
	// next append trims every earlier record (never its own).
	trimmer := open(t, Options{
		FeedRetention: time.Millisecond,
		Now:           func() time.Time { return time.Now().Add(time.Minute) },
	})
	if err := trimmer.Deny(ctx, jtiDenial("d", time.Now())); err != nil {
		t.Fatal(err)
	}
	if n, err := old.rdb.XLen(ctx, old.feedKey()).Result(); err != nil || n != 1 {
		t.Fatalf("stream length after the trim = %d, %v; want 1", n, err)
	}
	for _, c := range cursors[:2] {
		if got, err := old.DenialsAfter(ctx, c, 0); !errors.Is(err, store.ErrCursorExpired) {
			t.Errorf("cursor %s before the trimmed %s: %+v, %v; want ErrCursorExpired", c, cursors[2], got, err)
		}
	}
	tests := []struct{ name, cursor string }{
		{"newest trimmed record", cursors[2]},
		{"oldest kept", ""},
	}
	for _, tt := range tests {
		got, err := old.DenialsAfter(ctx, tt.cursor, 0)
		if err != nil || len(got) != 1 || got[0].Denial.Value != "d" {
			t.Errorf("%s (%q): %+v, %v; want only d", tt.name, tt.cursor, got, err)
		}
	}
	all, cursor, err := old.Denials(ctx)
	if err != nil || len(all) != 1 || all[0].Value != "d" {
		t.Fatalf("Denials after the trim = %+v, %v; want only d", all, err)
	}
	// Later appends keep the boundary: the follower's cursor stays valid.
	if err := old.Deny(ctx, jtiDenial("e", time.Now())); err != nil {
		t.Fatal(err)
	}
	if got, err := old.DenialsAfter(ctx, cursor, 0); err != nil || len(got) != 1 || got[0].Denial.Value != "e" {
		t.Fatalf("after d: %+v, %v; want only e", got, err)
	}
	if _, err := old.DenialsAfter(ctx, cursors[0], 0); !errors.Is(err, store.ErrCursorExpired) {
		t.Fatalf("trimmed cursor after another append: %v; want ErrCursorExpired", err)
	}
}

// TestFeedTrimSameMillisecond: records that share the new record's
// millisecond (Redis stamps a burst of appends, or a clock that stepped
// back, with one millisecond and rising sequence numbers) are trimmed like
// any other earlier record. Trimming at "<ms>-0" kept them; this pins the
// stream's clock so that every record shares one millisecond.
func TestFeedTrimSameMillisecond(t *testing.T) {
	ctx := context.Background()
	open := singleReplicas(t)
	old := open(t, Options{})
	// An ID ahead of the server's clock: later XADD * reuse its
	// millisecond with the next sequence numbers.
	ahead := strconv.FormatInt(time.Now().Add(10*time.Second).UnixMilli(), 10) + "-1"
	if err := old.rdb.XAdd(ctx, &goredis.XAddArgs{Stream: old.feedKey(), ID: ahead, Values: []any{"k", "seed"}}).Err(); err != nil {
		t.Fatal(err)
	}
	for _, v := range []string{"a", "b", "c"} {
		if err := old.Deny(ctx, jtiDenial(v, time.Now())); err != nil {
			t.Fatal(err)
		}
	}
	trimmer := open(t, Options{
		FeedRetention: time.Millisecond,
		Now:           func() time.Time { return time.Now().Add(time.Minute) },
	})
	if err := trimmer.Deny(ctx, jtiDenial("d", time.Now())); err != nil {
		t.Fatal(err)
	}
	msgs, err := old.rdb.XRange(ctx, old.feedKey(), "-", "+").Result()
	if err != nil || len(msgs) != 1 || msgs[0].Values["v"] != "d" {
		t.Fatalf("stream after the trim = %+v, %v; want only d", msgs, err)
	}
	if ms, _, _ := strings.Cut(msgs[0].ID, "-"); ms+"-1" != ahead {
		t.Fatalf("d has ID %s; want it in the millisecond of %s", msgs[0].ID, ahead)
	}
	if _, err := old.DenialsAfter(ctx, ahead, 0); !errors.Is(err, store.ErrCursorExpired) {
		t.Fatalf("cursor of a trimmed record in d's millisecond: %v; want ErrCursorExpired", err)
	}
}

// TestFeedShortWaitNeverBlocksForever: a wait of less than a millisecond
// on a quiet feed returns empty at once. It used to become XREAD BLOCK 0
// (block forever), cut by the client after 10 s as "i/o timeout".
func TestFeedShortWaitNeverBlocksForever(t *testing.T) {
	ctx := context.Background()
	s := singleReplicas(t)(t, Options{})
	if err := s.Deny(ctx, jtiDenial("only", time.Now())); err != nil {
		t.Fatal(err)
	}
	_, cursor, err := s.Denials(ctx)
	if err != nil {
		t.Fatal(err)
	}
	// What is left of the wait after the first (non-blocking) read
	// depends on the round trip: try waits around one millisecond.
	for wait := 100 * time.Microsecond; wait <= 1500*time.Microsecond; wait += 100 * time.Microsecond {
		type result struct {
			n   int
			err error
		}
		done := make(chan result, 1)
		go func() {
			got, err := s.DenialsAfter(ctx, cursor, wait)
			done <- result{len(got), err}
		}()
		select {
		case r := <-done:
			if r.err != nil || r.n != 0 {
				t.Fatalf("wait %v: %d entries, %v; want none, nil", wait, r.n, r.err)
			}
		case <-time.After(2 * time.Second):
			t.Fatalf("wait %v: DenialsAfter still blocked after 2s", wait)
		}
	}
}

func TestBlockArg(t *testing.T) {
	for _, tt := range []struct{ in, want time.Duration }{
		{-time.Second, time.Millisecond},
		{0, time.Millisecond},
		{time.Microsecond, time.Millisecond},
		{999 * time.Microsecond, time.Millisecond},
		{time.Millisecond, time.Millisecond},
		{1001 * time.Microsecond, 2 * time.Millisecond},
		{250 * time.Millisecond, 250 * time.Millisecond},
	} {
		if got := blockArg(tt.in); got != tt.want {
			t.Errorf("blockArg(%v) = %v; want %v", tt.in, got, tt.want)
		}
	}
}

// testFeedSkipsExpired: a wait is not cut short by records that have
// expired; the reader reads past them to the next live record.
func testFeedSkipsExpired(t *testing.T, open replicas) {
	ctx := context.Background()
	writer := open(t, Options{})
	// The reader's clock is two hours ahead: one-hour denials have expired
	// for it.
	reader := open(t, Options{Now: func() time.Time { return time.Now().Add(2 * time.Hour) }})
	for _, v := range []string{"x", "y"} {
		if err := writer.Deny(ctx, jtiDenial(v, time.Now())); err != nil {
			t.Fatal(err)
		}
	}
	h := &blockHook{blocking: make(chan struct{}, 1)}
	reader.rdb.AddHook(h)
	done := make(chan []store.FeedEntry, 1)
	var readErr error
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		e, err := reader.DenialsAfter(ctx, "", 5*time.Second)
		readErr = err
		done <- e
	}()
	select {
	case <-h.blocking:
	case e := <-done:
		t.Fatalf("DenialsAfter returned %+v, %v over expired records instead of waiting", e, readErr)
	case <-time.After(testwait.Limit):
		t.Fatalf("DenialsAfter neither blocked nor returned within %v", testwait.Limit)
	}
	live := store.Denial{Kind: store.DenySubject, Value: "u", At: time.Now(), ExpiresAt: time.Now().Add(3 * time.Hour)}
	if err := writer.Deny(ctx, live); err != nil {
		t.Fatal(err)
	}
	got, _ := testwait.Recv(t, done, "answer of the woken DenialsAfter")
	wg.Wait()
	if readErr != nil || len(got) != 1 || got[0].Denial.Value != "u" {
		t.Fatalf("read = %+v, %v; want only the live subject denial", got, readErr)
	}
}

// TestDenyOneRoundTrip: Deny writes the entry and the feed record in one
// pipeline (MULTI/EXEC on a single node), and both land.
func TestDenyOneRoundTrip(t *testing.T) {
	ctx := context.Background()
	s := openTest(t, Options{})
	h := &countHook{}
	s.rdb.AddHook(h)
	now := storetest.Now()
	// Warm up: the first run may need EVAL (NOSCRIPT) once per server.
	if err := s.Deny(ctx, jtiDenial("warm", now)); err != nil {
		t.Fatal(err)
	}
	h.reset()
	if err := s.Deny(ctx, jtiDenial("j", now)); err != nil {
		t.Fatal(err)
	}
	if p, cmds := h.pipes.Load(), h.commands(); p != 1 || len(cmds) != 0 {
		t.Fatalf("Deny = %d pipelines and single commands %v; want one pipeline", p, cmds)
	}
	st, err := s.DenyState(ctx, store.DenyQuery{JTI: "j"})
	if err != nil || !st.JTI.Equal(now) {
		t.Fatalf("DenyState = %+v, %v", st, err)
	}
	log, err := s.DenialsAfter(ctx, "", 0)
	if err != nil || len(log) != 2 || log[1].Denial.Value != "j" {
		t.Fatalf("feed = %+v, %v; want warm then j", log, err)
	}
	// An expired denial is neither written nor appended.
	gone := store.Denial{Kind: store.DenyJTI, Value: "gone", At: now, ExpiresAt: time.Now().Add(-time.Second)}
	if err := s.Deny(ctx, gone); err != nil {
		t.Fatal(err)
	}
	if n, err := s.rdb.XLen(ctx, s.feedKey()).Result(); err != nil || n != 2 {
		t.Fatalf("stream length = %d, %v; want 2", n, err)
	}
}

// testDenyAfterScriptFlush: a server that lost its scripts (restart,
// failover) still takes a Deny and its feed record. It flushes the script
// cache of every node, so it runs only on a throw-away Cluster.
func testDenyAfterScriptFlush(t *testing.T, open replicas) {
	ctx := context.Background()
	s := open(t, Options{})
	cc := s.rdb.(*goredis.ClusterClient)
	if err := cc.ForEachMaster(ctx, func(ctx context.Context, c *goredis.Client) error {
		return c.ScriptFlush(ctx).Err()
	}); err != nil {
		t.Fatal(err)
	}
	now := storetest.Now()
	if err := s.Deny(ctx, jtiDenial("after-flush", now)); err != nil {
		t.Fatalf("Deny after SCRIPT FLUSH: %v", err)
	}
	st, err := s.DenyState(ctx, store.DenyQuery{JTI: "after-flush"})
	if err != nil || !st.JTI.Equal(now) {
		t.Fatalf("DenyState = %+v, %v", st, err)
	}
	log, err := s.DenialsAfter(ctx, "", 0)
	if err != nil || len(log) != 1 || log[0].Denial.Value != "after-flush" {
		t.Fatalf("feed = %+v, %v; want the one record", log, err)
	}
}

// jtiDenial denies one token ID for an hour from at.
func jtiDenial(v string, at time.Time) store.Denial {
	return store.Denial{Kind: store.DenyJTI, Value: v, At: at, ExpiresAt: at.Add(time.Hour)}
}
