package feed

import (
	"context"
	"strconv"
	"sync"
	"testing"
	"time"

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
		for i := n; i < len(m.log); i++ {
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
	t.Cleanup(func() { cancel(); <-done })
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
	case <-time.After(time.Second):
		t.Fatal("no event within 1s")
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
	for range slow.Events {
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
	<-done
	if _, ok := <-sub.Events; ok {
		t.Error("events still open after Run ended")
	}
	if _, err := h.Subscribe(context.Background(), ""); err != ErrClosed {
		t.Errorf("subscribe after stop: %v; want ErrClosed", err)
	}
}
