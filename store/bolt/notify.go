package bolt

import (
	"context"
	"sync"

	"github.com/authd-dev/authd/store"
)

// notifyQueue bounds the notices waiting for one slow subscriber; beyond
// it the subscriber is told it lost messages (NoticeLost, then
// NoticeSubscribed: it resynchronises).
const notifyQueue = 256

// hub fans notifications out to the subscribers of this process. A bolt
// file has one process (it is locked), so in process is every replica.
// The zero value is ready.
type hub struct {
	mu   sync.Mutex
	subs map[string]map[*subscriber]struct{}
}

type subscriber struct {
	ch       chan store.Notice
	overflow bool // guarded by hub.mu
}

var _ store.Notifier = (*Store)(nil)

// Publish delivers msg to the subscribers of topic in this process
// (store.Notifier). It never blocks: a subscriber whose queue is full
// gets NoticeLost and resynchronises.
func (s *Store) Publish(ctx context.Context, topic, msg string) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	h := &s.notify
	h.mu.Lock()
	defer h.mu.Unlock()
	for sub := range h.subs[topic] {
		select {
		case sub.ch <- store.Notice{Kind: store.NoticeMessage, Msg: msg}:
		default:
			sub.overflow = true
		}
	}
	return nil
}

// Subscribe calls fn with the notices of topic until ctx ends
// (store.Notifier).
func (s *Store) Subscribe(ctx context.Context, topic string, fn func(store.Notice)) error {
	h := &s.notify
	sub := &subscriber{ch: make(chan store.Notice, notifyQueue)}
	h.mu.Lock()
	if h.subs == nil {
		h.subs = map[string]map[*subscriber]struct{}{}
	}
	if h.subs[topic] == nil {
		h.subs[topic] = map[*subscriber]struct{}{}
	}
	h.subs[topic][sub] = struct{}{}
	h.mu.Unlock()
	defer func() {
		h.mu.Lock()
		delete(h.subs[topic], sub)
		h.mu.Unlock()
	}()
	fn(store.Notice{Kind: store.NoticeSubscribed})
	for {
		select {
		case <-ctx.Done():
			return ctx.Err()
		case n := <-sub.ch:
			fn(n)
		}
		h.mu.Lock()
		lost := sub.overflow && len(sub.ch) == 0
		if lost {
			sub.overflow = false
		}
		h.mu.Unlock()
		if lost {
			fn(store.Notice{Kind: store.NoticeLost})
			fn(store.Notice{Kind: store.NoticeSubscribed})
		}
	}
}
