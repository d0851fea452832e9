package storetest

import (
	"context"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/authd-dev/authd/store"
)

// recorder collects the notices of one subscription.
type recorder struct {
	mu      sync.Mutex
	notices []store.Notice
	changed chan struct{}
}

func newRecorder() *recorder { return &recorder{changed: make(chan struct{}, 1)} }

func (r *recorder) add(n store.Notice) {
	r.mu.Lock()
	r.notices = append(r.notices, n)
	r.mu.Unlock()
	select {
	case r.changed <- struct{}{}:
	default:
	}
}

// await waits (up to 5 s) until ok holds for the notices so far.
func (r *recorder) await(t *testing.T, what string, ok func([]store.Notice) bool) {
	t.Helper()
	deadline := time.After(5 * time.Second)
	for {
		r.mu.Lock()
		done := ok(r.notices)
		got := append([]store.Notice(nil), r.notices...)
		r.mu.Unlock()
		if done {
			return
		}
		select {
		case <-r.changed:
		case <-deadline:
			t.Fatalf("%s: not within 5s; notices so far %+v", what, got)
		}
	}
}

func messages(ns []store.Notice) []string {
	var out []string
	for _, n := range ns {
		if n.Kind == store.NoticeMessage {
			out = append(out, n.Msg)
		}
	}
	return out
}

func subscribed(ns []store.Notice) bool {
	return len(ns) > 0 && ns[0].Kind == store.NoticeSubscribed
}

// subscribe starts a subscription ended at cleanup and waits until it is
// live.
func subscribe(t *testing.T, s store.Store, topic string) *recorder {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	r := newRecorder()
	done := make(chan error, 1)
	go func() { done <- s.Subscribe(ctx, topic, r.add) }()
	t.Cleanup(func() {
		cancel()
		select {
		case err := <-done:
			if err != context.Canceled {
				t.Errorf("Subscribe returned %v after cancel, want context.Canceled", err)
			}
		case <-time.After(5 * time.Second):
			t.Error("Subscribe did not return within 5s of its context ending")
		}
	})
	r.await(t, "first notice NoticeSubscribed", subscribed)
	return r
}

func testNotify(t *testing.T, newStore func(t *testing.T) store.Store) {
	ctx := context.Background()

	t.Run("EverySubscriberGetsTheMessagesOfItsTopic", func(t *testing.T) {
		s := newStore(t)
		a, b := subscribe(t, s, "alpha"), subscribe(t, s, "alpha")
		other := subscribe(t, s, "beta")
		for _, m := range []string{"one", "two", "three"} {
			if err := s.Publish(ctx, "alpha", m); err != nil {
				t.Fatalf("Publish: %v", err)
			}
		}
		// Order is not promised (a Cluster may reorder), each message once.
		for name, r := range map[string]*recorder{"a": a, "b": b} {
			r.await(t, "subscriber "+name+" gets one, two and three", func(ns []store.Notice) bool {
				m := messages(ns)
				slices.Sort(m)
				return slices.Equal(m, []string{"one", "three", "two"})
			})
		}
		if err := s.Publish(ctx, "beta", "b1"); err != nil {
			t.Fatal(err)
		}
		other.await(t, "beta subscriber gets only b1", func(ns []store.Notice) bool {
			m := messages(ns)
			return len(m) == 1 && m[0] == "b1"
		})
	})

	t.Run("PublishWithoutSubscribers", func(t *testing.T) {
		s := newStore(t)
		if err := s.Publish(ctx, "nobody", "hello"); err != nil {
			t.Fatalf("Publish with no subscriber: %v", err)
		}
	})

	t.Run("SubscribeEndsWithItsContext", func(t *testing.T) {
		s := newStore(t)
		ctx, cancel := context.WithCancel(context.Background())
		r := newRecorder()
		done := make(chan error, 1)
		go func() { done <- s.Subscribe(ctx, "t", r.add) }()
		r.await(t, "live", subscribed)
		cancel()
		select {
		case err := <-done:
			if err != context.Canceled {
				t.Fatalf("Subscribe: %v, want context.Canceled", err)
			}
		case <-time.After(5 * time.Second):
			t.Fatal("Subscribe still running 5s after its context ended")
		}
	})
}
