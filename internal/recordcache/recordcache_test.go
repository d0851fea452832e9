package recordcache

import (
	"context"
	"errors"
	"io"
	"log/slog"
	"sync"
	"testing"
	"time"

	"github.com/authd-dev/authd/store"
)

// records is a store of strings by id that counts its reads and can run a
// hook between a read and its return (to overlap a write with a read).
type records struct {
	mu       sync.Mutex
	data     map[string]string
	loads    map[string]int
	afterGet func(id string)
}

func newRecords() *records {
	return &records{data: map[string]string{}, loads: map[string]int{}}
}

func (r *records) load(_ context.Context, id string) (string, error) {
	r.mu.Lock()
	r.loads[id]++
	v, ok := r.data[id]
	hook := r.afterGet
	r.mu.Unlock()
	if hook != nil {
		hook(id)
	}
	if !ok {
		return "", store.ErrNotFound
	}
	return v, nil
}

func (r *records) set(id, v string) {
	r.mu.Lock()
	r.data[id] = v
	r.mu.Unlock()
}

func (r *records) reads(id string) int {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.loads[id]
}

// notifier records what is published and delivers the notices a test
// sends, one at a time, acknowledging each once the cache has applied it.
type notifier struct {
	mu         sync.Mutex
	published  []string // "topic id"
	publishErr error
	topics     chan string
	in         chan store.Notice
	applied    chan struct{}
}

func newNotifier() *notifier {
	return &notifier{topics: make(chan string, 1), in: make(chan store.Notice), applied: make(chan struct{})}
}

func (n *notifier) Publish(_ context.Context, topic, msg string) error {
	n.mu.Lock()
	defer n.mu.Unlock()
	n.published = append(n.published, topic+" "+msg)
	return n.publishErr
}

func (n *notifier) Subscribe(ctx context.Context, topic string, fn func(store.Notice)) error {
	n.topics <- topic
	for {
		select {
		case <-ctx.Done():
			return ctx.Err()
		case nt := <-n.in:
			fn(nt)
			n.applied <- struct{}{}
		}
	}
}

// deliver hands nt to the subscriber and returns once it is applied.
func (n *notifier) deliver(t *testing.T, nt store.Notice) {
	t.Helper()
	select {
	case n.in <- nt:
	case <-time.After(5 * time.Second):
		t.Fatal("no subscriber took the notice")
	}
	<-n.applied
}

type clock struct {
	mu  sync.Mutex
	now time.Time
}

func (c *clock) Now() time.Time { c.mu.Lock(); defer c.mu.Unlock(); return c.now }
func (c *clock) Add(d time.Duration) {
	c.mu.Lock()
	c.now = c.now.Add(d)
	c.mu.Unlock()
}

var quiet = slog.New(slog.NewTextHandler(io.Discard, nil))

func newCache(t *testing.T, r *records, n store.Notifier, clk *clock, max int) *Cache[string] {
	t.Helper()
	cfg := Config[string]{Load: r.load, Topic: store.TopicUsers, TTL: time.Minute, Max: max,
		Notifier: n, Noun: "user", IDKey: "user_id", Now: clk.Now, Logger: quiet}
	c, err := New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	return c
}

// prime stores a=a1 and b=b1, caches both, then changes the store to
// a2 and b2 behind the cache's back.
func prime(t *testing.T, c *Cache[string], r *records) {
	t.Helper()
	r.set("a", "a1")
	r.set("b", "b1")
	get(t, c, "a")
	get(t, c, "b")
	r.set("a", "a2")
	r.set("b", "b2")
}

func get(t *testing.T, c *Cache[string], id string) string {
	t.Helper()
	v, err := c.Get(context.Background(), id)
	if err != nil {
		t.Fatalf("Get(%q): %v", id, err)
	}
	return v
}

// TestTTL: within the TTL a record costs one load and a change in the
// store is not seen; at the TTL it is loaded again.
func TestTTL(t *testing.T) {
	r, clk := newRecords(), &clock{now: time.Unix(1_800_000_000, 0)}
	c := newCache(t, r, nil, clk, 10)
	r.set("a", "v1")
	for range 3 {
		if v := get(t, c, "a"); v != "v1" {
			t.Fatalf("got %q; want v1", v)
		}
	}
	if n := r.reads("a"); n != 1 {
		t.Fatalf("%d loads for 3 gets within the TTL; want 1", n)
	}
	r.set("a", "v2")
	clk.Add(time.Minute - time.Nanosecond)
	if v := get(t, c, "a"); v != "v1" {
		t.Fatalf("got %q before the TTL; want the cached v1", v)
	}
	clk.Add(time.Nanosecond)
	if v := get(t, c, "a"); v != "v2" {
		t.Fatalf("got %q at the TTL; want the stored v2", v)
	}
	if n := r.reads("a"); n != 2 {
		t.Fatalf("%d loads; want 2", n)
	}
}

// TestErrorsNotCached: a failed load (an unknown id) is not kept, so
// unknown ids cannot fill the cache and a record created later is found.
func TestErrorsNotCached(t *testing.T) {
	r, clk := newRecords(), &clock{now: time.Unix(1_800_000_000, 0)}
	c := newCache(t, r, nil, clk, 10)
	for range 2 {
		if _, err := c.Get(context.Background(), "ghost"); !errors.Is(err, store.ErrNotFound) {
			t.Fatalf("Get(ghost): %v; want ErrNotFound", err)
		}
	}
	if n := r.reads("ghost"); n != 2 {
		t.Fatalf("%d loads for 2 gets of an unknown id; want 2", n)
	}
	r.set("ghost", "now here")
	if v := get(t, c, "ghost"); v != "now here" {
		t.Fatalf("got %q; want the record created after the misses", v)
	}
}

// TestForget: Forget(id) drops that entry only, Forget("") every entry.
func TestForget(t *testing.T) {
	r, clk := newRecords(), &clock{now: time.Unix(1_800_000_000, 0)}
	c := newCache(t, r, nil, clk, 10)
	prime(t, c, r)
	c.Forget("a")
	if v, w := get(t, c, "a"), get(t, c, "b"); v != "a2" || w != "b1" {
		t.Fatalf("after Forget(a): a=%q b=%q; want a2, the cached b1", v, w)
	}
	r.set("a", "a3")
	c.Forget("")
	if v, w := get(t, c, "a"), get(t, c, "b"); v != "a3" || w != "b2" {
		t.Fatalf(`after Forget(""): a=%q b=%q; want a3 b2`, v, w)
	}
}

// TestChanged: a local write drops the entry at once and publishes the id
// on the topic, even for a cancelled request; a failed publish is only
// logged.
func TestChanged(t *testing.T) {
	r, clk, n := newRecords(), &clock{now: time.Unix(1_800_000_000, 0)}, newNotifier()
	c := newCache(t, r, n, clk, 10)
	r.set("a", "a1")
	get(t, c, "a")
	r.set("a", "a2")
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	c.Changed(ctx, "a")
	if v := get(t, c, "a"); v != "a2" {
		t.Fatalf("after Changed: %q; want a2", v)
	}
	n.publishErr = errors.New("pubsub down")
	r.set("a", "a3")
	c.Changed(context.Background(), "a")
	if v := get(t, c, "a"); v != "a3" {
		t.Fatalf("after Changed with a failing publish: %q; want a3", v)
	}
	n.mu.Lock()
	defer n.mu.Unlock()
	if len(n.published) != 2 || n.published[0] != "users a" || n.published[1] != "users a" {
		t.Fatalf("published %q; want two \"users a\"", n.published)
	}
}

// TestReadOverlappingInvalidation: a load that began before an
// invalidation may serve what it read, but must not keep it: otherwise
// the old record would outlive the write that dropped it by a whole TTL.
func TestReadOverlappingInvalidation(t *testing.T) {
	for _, how := range []string{"Forget", "Changed", "notice"} {
		t.Run(how, func(t *testing.T) {
			r, clk, n := newRecords(), &clock{now: time.Unix(1_800_000_000, 0)}, newNotifier()
			c := newCache(t, r, n, clk, 10)
			ctx, cancel := context.WithCancel(context.Background())
			done := make(chan error, 1)
			go func() { done <- c.Run(ctx) }()
			defer func() {
				cancel()
				<-done
			}()
			<-n.topics
			r.set("a", "old")
			overlapped := false
			r.afterGet = func(id string) { // runs between the read and the decision to keep it
				if overlapped {
					return
				}
				overlapped = true
				r.set(id, "new")
				switch how {
				case "Forget":
					c.Forget(id)
				case "Changed":
					c.Changed(context.Background(), id)
				default:
					n.deliver(t, store.Notice{Kind: store.NoticeMessage, Msg: id})
				}
			}
			if v := get(t, c, "a"); v != "old" {
				t.Fatalf("overlapping read: %q; want the old record it read", v)
			}
			if !overlapped {
				t.Fatal("the hook did not run")
			}
			if v := get(t, c, "a"); v != "new" {
				t.Fatalf("read after the invalidation: %q; want new (the stale record was kept)", v)
			}
			if n := r.reads("a"); n != 2 {
				t.Fatalf("%d loads; want 2", n)
			}
		})
	}
}

// TestRun: a message drops its id, a (re)subscription drops everything
// (messages may have been lost), a lost subscription drops nothing (the
// TTL is the bound then), and Run ends with ctx.
func TestRun(t *testing.T) {
	r, clk, n := newRecords(), &clock{now: time.Unix(1_800_000_000, 0)}, newNotifier()
	c := newCache(t, r, n, clk, 10)
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- c.Run(ctx) }()
	if topic := <-n.topics; topic != store.TopicUsers {
		t.Fatalf("subscribed to %q; want %q", topic, store.TopicUsers)
	}
	prime(t, c, r)
	n.deliver(t, store.Notice{Kind: store.NoticeMessage, Msg: "a"})
	if v, w := get(t, c, "a"), get(t, c, "b"); v != "a2" || w != "b1" {
		t.Fatalf("after a message for a: a=%q b=%q; want a2, the cached b1", v, w)
	}
	r.set("a", "a3")
	n.deliver(t, store.Notice{Kind: store.NoticeLost})
	if v := get(t, c, "a"); v != "a2" {
		t.Fatalf("after NoticeLost: %q; want the cached a2", v)
	}
	n.deliver(t, store.Notice{Kind: store.NoticeSubscribed})
	if v, w := get(t, c, "a"), get(t, c, "b"); v != "a3" || w != "b2" {
		t.Fatalf("after NoticeSubscribed: a=%q b=%q; want a3 b2", v, w)
	}
	cancel()
	if err := <-done; !errors.Is(err, context.Canceled) {
		t.Fatalf("Run: %v; want context.Canceled", err)
	}
}

// TestRunWithoutNotifier: nothing to follow, Run returns at once.
func TestRunWithoutNotifier(t *testing.T) {
	c := newCache(t, newRecords(), nil, &clock{}, 10)
	if err := c.Run(context.Background()); err != nil {
		t.Fatalf("Run without a Notifier: %v", err)
	}
	c.Changed(context.Background(), "a") // only forgets; must not panic
}

// TestMax: the cache never holds more than Max entries; expired entries
// go first.
func TestMax(t *testing.T) {
	r, clk := newRecords(), &clock{now: time.Unix(1_800_000_000, 0)}
	c := newCache(t, r, nil, clk, 3)
	for _, id := range []string{"a", "b", "c"} {
		r.set(id, id)
		get(t, c, id)
	}
	clk.Add(time.Minute) // a, b, c expire
	r.set("d", "d")
	get(t, c, "d")
	c.mu.RLock()
	if len(c.entries) != 1 {
		t.Errorf("%d entries after adding one to a full cache of expired ones; want 1", len(c.entries))
	}
	c.mu.RUnlock()
	for _, id := range []string{"e", "f", "g", "h"} {
		r.set(id, id)
		get(t, c, id)
		c.mu.RLock()
		if len(c.entries) > 3 {
			t.Errorf("%d entries; want at most Max (3)", len(c.entries))
		}
		c.mu.RUnlock()
	}
}

// TestNewRejects: a Config missing a required part is refused.
func TestNewRejects(t *testing.T) {
	ok := Config[string]{Load: newRecords().load, Topic: "t", TTL: time.Second, Max: 1, Now: time.Now, Logger: quiet}
	if _, err := New(ok); err != nil {
		t.Fatalf("valid config: %v", err)
	}
	for name, mutate := range map[string]func(*Config[string]){
		"no Load":   func(c *Config[string]) { c.Load = nil },
		"no Topic":  func(c *Config[string]) { c.Topic = "" },
		"zero TTL":  func(c *Config[string]) { c.TTL = 0 },
		"zero Max":  func(c *Config[string]) { c.Max = 0 },
		"no Now":    func(c *Config[string]) { c.Now = nil },
		"no Logger": func(c *Config[string]) { c.Logger = nil },
	} {
		cfg := ok
		mutate(&cfg)
		if _, err := New(cfg); err == nil {
			t.Errorf("%s: accepted", name)
		}
	}
}
