package feed

import (
	"context"
	"errors"
	"strconv"
	"sync"
	"testing"
	"time"

	"github.com/authd-dev/authd/internal/testwait"
	"github.com/authd-dev/authd/store"
)

// memSource is an in-memory revocation feed: a log with integer cursors,
// the oldest `trimmed` entries gone.
type memSource struct {
	mu      sync.Mutex
	log     []store.Denial
	trimmed int
	wake    chan struct{}
}

// memPage bounds one DenialsAfter, as the stores do.
const memPage = 1000

func newMemSource() *memSource { return &memSource{wake: make(chan struct{})} }

func (m *memSource) add(d store.Denial) {
	m.mu.Lock()
	m.log = append(m.log, d)
	close(m.wake)
	m.wake = make(chan struct{})
	m.mu.Unlock()
}

func (m *memSource) Denials(ctx context.Context) ([]store.Denial, string, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	c := ""
	if len(m.log) > 0 {
		c = strconv.Itoa(len(m.log))
	}
	return append([]store.Denial(nil), m.log[m.trimmed:]...), c, nil
}

func (m *memSource) DenialsAfter(ctx context.Context, cursor string, wait time.Duration) ([]store.FeedEntry, error) {
	n := 0
	if cursor != "" {
		var err error
		if n, err = strconv.Atoi(cursor); err != nil {
			return nil, store.ErrCursorExpired
		}
	}
	deadline := time.After(wait)
	for {
		m.mu.Lock()
		if n < m.trimmed {
			m.mu.Unlock()
			return nil, store.ErrCursorExpired
		}
		var out []store.FeedEntry
		for i := n; i < len(m.log) && len(out) < memPage; i++ {
			out = append(out, store.FeedEntry{Cursor: strconv.Itoa(i + 1), Denial: m.log[i]})
		}
		wake := m.wake
		m.mu.Unlock()
		if len(out) > 0 || wait == 0 {
			return out, nil
		}
		select {
		case <-wake:
		case <-deadline:
			return nil, nil
		case <-ctx.Done():
			return nil, ctx.Err()
		}
	}
}

func denial(v string) store.Denial {
	now := time.Now()
	return store.Denial{Kind: store.DenyJTI, Value: v, At: now, ExpiresAt: now.Add(time.Hour)}
}

func runHub(t *testing.T, src Source) *Hub {
	h := NewHub(Config{Source: src, Wait: 50 * time.Millisecond, Buffer: 4})
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { h.Run(ctx); close(done) }()
	t.Cleanup(func() { cancel(); testwait.Recv(t, done, "end of Run") })
	return h
}

func next(t *testing.T, ch <-chan Event) Event {
	t.Helper()
	select {
	case ev, ok := <-ch:
		if !ok {
			t.Fatal("events closed")
		}
		return ev
	case <-time.After(testwait.Limit):
		t.Fatalf("no event within %v", testwait.Limit)
	}
	return Event{}
}

func TestSnapshotThenLiveEvents(t *testing.T) {
	src := newMemSource()
	src.add(denial("a"))
	h := runHub(t, src)
	sub, err := h.Subscribe(context.Background(), "")
	if err != nil {
		t.Fatal(err)
	}
	defer sub.Close()
	if !sub.Snapshot || len(sub.Entries) != 1 || sub.Entries[0].Entry.Value != "a" || sub.Cursor != "1" {
		t.Fatalf("snapshot %+v", sub)
	}
	src.add(denial("b"))
	if ev := next(t, sub.Events); ev.Entry.Value != "b" || ev.Cursor != "2" {
		t.Fatalf("event %+v", ev)
	}
}

func TestResumeFromCursor(t *testing.T) {
	src := newMemSource()
	for _, v := range []string{"a", "b", "c"} {
		src.add(denial(v))
	}
	h := runHub(t, src)
	sub, err := h.Subscribe(context.Background(), "1")
	if err != nil {
		t.Fatal(err)
	}
	defer sub.Close()
	if sub.Snapshot || len(sub.Entries) != 2 || sub.Entries[0].Entry.Value != "b" || sub.Cursor != "3" {
		t.Fatalf("resume %+v", sub)
	}
	// A cursor older than what is kept falls back to a snapshot.
	src.mu.Lock()
	src.trimmed = 2
	src.mu.Unlock()
	sub2, err := h.Subscribe(context.Background(), "1")
	if err != nil {
		t.Fatal(err)
	}
	defer sub2.Close()
	if !sub2.Snapshot || len(sub2.Entries) != 1 {
		t.Fatalf("expired cursor: %+v", sub2)
	}
}

func TestSlowSubscriberIsDisconnected(t *testing.T) {
	src := newMemSource()
	h := runHub(t, src)
	slow, _ := h.Subscribe(context.Background(), "")
	fast, _ := h.Subscribe(context.Background(), "")
	for i := range 10 {
		src.add(denial(strconv.Itoa(i)))
		next(t, fast.Events)
	}
	// slow never read: its buffer (4) overflowed, so it was closed.
	n := 0
	for _, ok := testwait.Recv(t, slow.Events, "event or close of the slow subscriber"); ok; _, ok = testwait.Recv(t, slow.Events, "event or close of the slow subscriber") {
		n++
	}
	if n != 4 {
		t.Errorf("slow subscriber got %d buffered events before close; want 4", n)
	}
}

func TestRunEndClosesSubscribers(t *testing.T) {
	src := newMemSource()
	h := NewHub(Config{Source: src, Wait: 20 * time.Millisecond})
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { h.Run(ctx); close(done) }()
	sub, err := h.Subscribe(context.Background(), "")
	if err != nil {
		t.Fatal(err)
	}
	cancel()
	testwait.Recv(t, done, "end of Run")
	if _, ok := testwait.Recv(t, sub.Events, "close of the events"); ok {
		t.Error("events still open after Run ended")
	}
	if _, err := h.Subscribe(context.Background(), ""); err != ErrClosed {
		t.Errorf("subscribe after stop: %v; want ErrClosed", err)
	}
}

// collect reads sub's catch-up and then its events until it has the
// entry with cursor last (or the events close), failing on a gap or a
// duplicate: the values must be "1", "2", … in cursor order after from.
func collect(t *testing.T, sub *Subscription, from, last int) (next int, closed bool) {
	t.Helper()
	next = from + 1
	check := func(ev Event) {
		t.Helper()
		if ev.Cursor != strconv.Itoa(next) || ev.Entry.Value != strconv.Itoa(next) {
			t.Fatalf("got entry %q (cursor %q); want %d: a gap or a duplicate", ev.Entry.Value, ev.Cursor, next)
		}
		next++
	}
	for _, ev := range sub.Entries {
		check(ev)
	}
	for next <= last {
		select {
		case ev, ok := <-sub.Events:
			if !ok {
				return next, true
			}
			check(ev)
		case <-time.After(testwait.Limit):
			t.Fatalf("stuck at %d of %d for %v", next, last, testwait.Limit)
		}
	}
	return next, false
}

// TestResumeCatchesUpPastOnePage: a subscriber 1,500 entries behind gets
// every one of them (the store hands out 1,000 per read), then live ones.
func TestResumeCatchesUpPastOnePage(t *testing.T) {
	src := newMemSource()
	src.add(denial("1"))
	h := NewHub(Config{Source: src, Wait: 50 * time.Millisecond, Buffer: 2000})
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { h.Run(ctx); close(done) }()
	defer func() { cancel(); testwait.Recv(t, done, "end of Run") }()
	for i := 2; i <= 1501; i++ {
		src.add(denial(strconv.Itoa(i)))
	}
	sub, err := h.Subscribe(context.Background(), "1")
	if err != nil {
		t.Fatal(err)
	}
	defer sub.Close()
	src.add(denial("1502"))
	if next, closed := collect(t, sub, 1, 1502); closed {
		t.Fatalf("events closed at %d", next)
	}
}

// TestSubscribeWhileAppending: subscribers joining at any cursor while
// entries keep arriving see each entry after their cursor exactly once,
// in order, across the catch-up and the live queue.
func TestSubscribeWhileAppending(t *testing.T) {
	src := newMemSource()
	src.add(denial("1"))
	h := NewHub(Config{Source: src, Wait: 50 * time.Millisecond, Buffer: 4096})
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { h.Run(ctx); close(done) }()
	defer func() { cancel(); testwait.Recv(t, done, "end of Run") }()
	const total = 3000
	go func() {
		for i := 2; i <= total; i++ {
			src.add(denial(strconv.Itoa(i)))
			if i%50 == 0 {
				time.Sleep(time.Millisecond)
			}
		}
	}()
	var wg sync.WaitGroup
	for _, from := range []int{1, 10, 500, 1200, 2000} {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for {
				src.mu.Lock()
				n := len(src.log)
				src.mu.Unlock()
				if n >= from {
					break
				}
				time.Sleep(time.Millisecond)
			}
			sub, err := h.Subscribe(context.Background(), strconv.Itoa(from))
			if err != nil {
				t.Error(err)
				return
			}
			defer sub.Close()
			if next, closed := collect(t, sub, from, total); closed {
				t.Errorf("from %d: events closed at %d", from, next)
			}
		}()
	}
	wg.Wait()
}

// TestCutSubscriberResumesWithoutLoss: a subscriber that stops reading is
// cut at its queue limit; resuming from the last cursor it got loses
// nothing and repeats nothing.
func TestCutSubscriberResumesWithoutLoss(t *testing.T) {
	src := newMemSource()
	src.add(denial("1"))
	h := runHub(t, src) // Buffer 4
	sub, err := h.Subscribe(context.Background(), "1")
	if err != nil {
		t.Fatal(err)
	}
	for i := 2; i <= 20; i++ {
		src.add(denial(strconv.Itoa(i)))
	}
	testwait.Eventually(t, "the subscriber that reads nothing is cut", func() bool {
		h.mu.Lock()
		defer h.mu.Unlock()
		return len(h.subs) == 0
	})
	next, closed := collect(t, sub, 1, 20)
	if !closed || next != 6 {
		t.Fatalf("slow subscriber: closed %v after %d entries; want cut after its 4 queued", closed, next-2)
	}
	sub.Close()
	// Resume once the hub has read every entry, so they all come back as
	// the resumed subscription's backlog: entries still arriving live
	// would meet its buffer of 4 and could cut it again on a slow machine.
	testwait.Eventually(t, "the hub has read all 20 entries", func() bool {
		h.mu.Lock()
		defer h.mu.Unlock()
		return h.pos == "20"
	})
	resumed, err := h.Subscribe(context.Background(), strconv.Itoa(next-1))
	if err != nil {
		t.Fatal(err)
	}
	defer resumed.Close()
	if resumed.Snapshot {
		t.Fatal("resume gave a snapshot; want the entries after the cursor")
	}
	if n, closed := collect(t, resumed, next-1, 20); closed {
		t.Fatalf("resumed subscriber closed at %d", n)
	}
}

// TestSnapshotThenLiveWithoutDuplicates: entries that land between the
// hub's position and the snapshot are in the snapshot only.
func TestSnapshotThenLiveWithoutDuplicates(t *testing.T) {
	src := newMemSource()
	h := NewHub(Config{Source: src, Wait: time.Hour, Buffer: 64})
	// A hub whose follower has not read 1..3 yet: position "".
	h.pos = ""
	close(h.ready)
	for i := 1; i <= 3; i++ {
		src.add(denial(strconv.Itoa(i)))
	}
	sub, err := h.Subscribe(context.Background(), "")
	if err != nil {
		t.Fatal(err)
	}
	defer sub.Close()
	if !sub.Snapshot || len(sub.Entries) != 3 || sub.Cursor != "3" {
		t.Fatalf("snapshot %+v", sub)
	}
	// The follower now reads and broadcasts 1..4: only 4 is new.
	src.add(denial("4"))
	for i := 1; i <= 4; i++ {
		h.broadcast(Event{Cursor: strconv.Itoa(i), Entry: Entry{Value: strconv.Itoa(i)}})
	}
	if ev := next(t, sub.Events); ev.Cursor != "4" {
		t.Fatalf("first live event %+v; want 4 (1..3 are in the snapshot)", ev)
	}
	select {
	case ev := <-sub.Events:
		t.Fatalf("extra event %+v", ev)
	default:
	}
}

func TestMaxSubscribers(t *testing.T) {
	src := newMemSource()
	h := NewHub(Config{Source: src, Wait: 20 * time.Millisecond, MaxSubscribers: 2})
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { h.Run(ctx); close(done) }()
	defer func() { cancel(); testwait.Recv(t, done, "end of Run") }()
	a, err1 := h.Subscribe(ctx, "")
	b, err2 := h.Subscribe(ctx, "")
	if err1 != nil || err2 != nil {
		t.Fatal(err1, err2)
	}
	defer b.Close()
	if _, err := h.Subscribe(ctx, ""); !errors.Is(err, ErrFull) {
		t.Fatalf("third subscriber: %v; want ErrFull", err)
	}
	a.Close()
	a.Close() // twice frees one place only
	c, err := h.Subscribe(ctx, "")
	if err != nil {
		t.Fatalf("after a Close: %v", err)
	}
	defer c.Close()
	if _, err := h.Subscribe(ctx, ""); !errors.Is(err, ErrFull) {
		t.Fatalf("again full: %v; want ErrFull", err)
	}
}
