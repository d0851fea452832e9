package tokens

import (
	"context"
	"log/slog"
	"sync/atomic"
	"testing"
	"time"

	"github.com/authd-dev/authd/store"
)

// scriptedFeed answers the mirror's reads one at a time, as the test
// says: Denials takes a snapshot from snaps; DenialsAfter announces its
// cursor on calls, then returns the next reply.
type scriptedFeed struct {
	snaps   chan snapshot
	calls   chan string
	replies chan feedReply
}

type snapshot struct {
	list   []store.Denial
	cursor string
}

type feedReply struct {
	es  []store.FeedEntry
	err error
}

func (f *scriptedFeed) Denials(ctx context.Context) ([]store.Denial, string, error) {
	select {
	case s := <-f.snaps:
		return s.list, s.cursor, nil
	case <-ctx.Done():
		return nil, "", ctx.Err()
	}
}

func (f *scriptedFeed) DenialsAfter(ctx context.Context, cursor string, _ time.Duration) ([]store.FeedEntry, error) {
	select {
	case f.calls <- cursor:
	case <-ctx.Done():
		return nil, ctx.Err()
	}
	select {
	case r := <-f.replies:
		return r.es, r.err
	case <-ctx.Done():
		return nil, ctx.Err()
	}
}

// TestDenyMirrorFreshness: the mirror answers only while the last feed
// read that came back empty was sent within the staleness bound; a read
// that brought entries does not make it fresh (more may be pending); a
// cursor the feed lost starts again from a snapshot.
func TestDenyMirrorFreshness(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	wall := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	f := &scriptedFeed{snaps: make(chan snapshot), calls: make(chan string), replies: make(chan feedReply)}
	const bound = 5 * time.Millisecond
	m := newDenyMirror(f, bound, func() time.Time { return wall }, slog.New(slog.DiscardHandler))
	var mono atomic.Int64
	mono.Store(1_000_000)
	m.mono = mono.Load
	done := make(chan struct{})
	go func() { m.run(ctx); close(done) }()
	live := wall.Add(time.Hour)
	deny := func(kind, value string) store.Denial {
		return store.Denial{Kind: kind, Value: value, At: wall, ExpiresAt: live}
	}
	lookup := func(q store.DenyQuery) (store.DenyState, bool) { return m.state(q) }

	if _, ok := lookup(store.DenyQuery{JTI: "a"}); ok {
		t.Fatal("the mirror answers before its first snapshot")
	}
	f.snaps <- snapshot{list: []store.Denial{deny(store.DenyJTI, "a")}, cursor: "c1"} // sent at 1ms
	if c := <-f.calls; c != "c1" {
		t.Fatalf("first read after %q; want c1", c)
	}
	if st, ok := lookup(store.DenyQuery{JTI: "a", SID: "s"}); !ok || !st.JTI.Equal(wall) || !st.SID.IsZero() {
		t.Fatalf("after the snapshot: %+v %v; want jti a denied, sid s not", st, ok)
	}
	mono.Add(int64(bound) + 1)
	if _, ok := lookup(store.DenyQuery{JTI: "a"}); ok {
		t.Fatal("the mirror answers although its last complete read is older than the bound")
	}
	f.replies <- feedReply{es: []store.FeedEntry{{Cursor: "c2", Denial: deny(store.DenySID, "b")}}}
	if c := <-f.calls; c != "c2" { // sent at 1ms+bound+1ns
		t.Fatalf("read after %q; want c2", c)
	}
	if _, ok := lookup(store.DenyQuery{SID: "b"}); ok {
		t.Fatal("a read that brought entries made the mirror fresh")
	}
	f.replies <- feedReply{} // empty: everything sent before 1ms+bound+1ns is here
	<-f.calls
	if st, ok := lookup(store.DenyQuery{SID: "b"}); !ok || !st.SID.Equal(wall) {
		t.Fatalf("after an empty read: %+v %v; want sid b denied", st, ok)
	}
	// Local denials count at once; expired ones never.
	m.record(deny(store.DenySubject, "u"), store.Denial{Kind: store.DenyClient, Value: "c", At: wall, ExpiresAt: wall})
	if st, ok := lookup(store.DenyQuery{Subject: "u", ClientID: "c"}); !ok || !st.Subject.Equal(wall) || !st.Client.IsZero() {
		t.Fatalf("local denials: %+v %v; want subject u denied and the expired client entry ignored", st, ok)
	}
	f.replies <- feedReply{err: store.ErrCursorExpired}
	f.snaps <- snapshot{cursor: "c9"}
	if c := <-f.calls; c != "c9" {
		t.Fatalf("read after a new snapshot from %q; want c9", c)
	}
	if st, ok := lookup(store.DenyQuery{JTI: "a", SID: "b"}); !ok || !st.JTI.IsZero() || !st.SID.IsZero() {
		t.Fatalf("after a new, empty snapshot: %+v %v; want nothing denied", st, ok)
	}
	cancel()
	<-done
}
