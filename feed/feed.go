// Package feed fans the denylist out to resource servers: one reader per
// authd replica follows the store's revocation feed (Redis stream or the
// local bolt log) and broadcasts each new entry to every connected
// subscriber, so a revocation on any replica reaches every verifier.
package feed

import (
	"context"
	"errors"
	"log/slog"
	"sync"
	"time"

	"github.com/authd-dev/authd/store"
)

// Source is the store's revocation feed.
type Source interface {
	Denials(ctx context.Context) ([]store.Denial, string, error)
	DenialsAfter(ctx context.Context, cursor string, wait time.Duration) ([]store.FeedEntry, error)
}

// Entry is one denylist entry on the wire (docs/revocation-feed.md).
type Entry struct {
	Kind  string `json:"kind"`
	Value string `json:"value"`
	At    int64  `json:"at"`
	Exp   int64  `json:"exp"`
}

// Event is an entry with its cursor.
type Event struct {
	Cursor string
	Entry  Entry
}

func entryOf(d store.Denial) Entry {
	return Entry{Kind: d.Kind, Value: d.Value, At: d.At.Unix(), Exp: d.ExpiresAt.Unix()}
}

// Config configures a Hub.
type Config struct {
	Source Source
	// Wait is how long one read of the store blocks (default 5s).
	Wait time.Duration
	// Buffer is each subscriber's queue; a subscriber that falls this far
	// behind is disconnected and must resume with its cursor (default 1024).
	Buffer int
	Logger *slog.Logger
}

// Hub broadcasts new denylist entries to subscribers.
type Hub struct {
	cfg   Config
	mu    sync.Mutex
	subs  map[chan Event]struct{}
	ready chan struct{} // closed once Run has its starting cursor
	done  bool
}

// NewHub returns a Hub; call Run to start following the store.
func NewHub(cfg Config) *Hub {
	if cfg.Wait <= 0 {
		cfg.Wait = 5 * time.Second
	}
	if cfg.Buffer <= 0 {
		cfg.Buffer = 1024
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.Default()
	}
	return &Hub{cfg: cfg, subs: map[chan Event]struct{}{}, ready: make(chan struct{})}
}

// Run follows the store until ctx ends, then disconnects every subscriber.
func (h *Hub) Run(ctx context.Context) {
	defer h.closeAll(true)
	cursor := ""
	for {
		_, c, err := h.cfg.Source.Denials(ctx)
		if err == nil {
			cursor = c
			break
		}
		if !h.pause(ctx, "read revocation feed", err) {
			return
		}
	}
	close(h.ready)
	for ctx.Err() == nil {
		events, err := h.cfg.Source.DenialsAfter(ctx, cursor, h.cfg.Wait)
		switch {
		case errors.Is(err, store.ErrCursorExpired):
			// We fell behind what the store keeps: subscribers must resync.
			h.cfg.Logger.Warn("revocation feed cursor expired; resynchronising subscribers")
			h.closeAll(false)
			if _, c, err := h.cfg.Source.Denials(ctx); err == nil {
				cursor = c
			}
			continue
		case err != nil:
			if !h.pause(ctx, "follow revocation feed", err) {
				return
			}
			continue
		}
		for _, e := range events {
			cursor = e.Cursor
			h.broadcast(Event{Cursor: e.Cursor, Entry: entryOf(e.Denial)})
		}
	}
}

// pause logs err and waits a second; false when ctx ended.
func (h *Hub) pause(ctx context.Context, what string, err error) bool {
	if ctx.Err() != nil {
		return false
	}
	h.cfg.Logger.Warn(what, "err", err)
	select {
	case <-ctx.Done():
		return false
	case <-time.After(time.Second):
		return true
	}
}

func (h *Hub) broadcast(ev Event) {
	h.mu.Lock()
	defer h.mu.Unlock()
	for ch := range h.subs {
		select {
		case ch <- ev:
		default: // too slow: drop it; it resumes from its last cursor
			delete(h.subs, ch)
			close(ch)
		}
	}
}

func (h *Hub) closeAll(final bool) {
	h.mu.Lock()
	defer h.mu.Unlock()
	for ch := range h.subs {
		delete(h.subs, ch)
		close(ch)
	}
	if final {
		h.done = true
	}
}

// ErrClosed: the hub has stopped.
var ErrClosed = errors.New("feed: closed")

// Subscription is one subscriber's view: where to start, then live events.
type Subscription struct {
	// Snapshot is true when Entries is the whole live denylist (a fresh
	// start or an expired cursor) rather than what came after the cursor.
	Snapshot bool
	Entries  []Event
	// Cursor is the position after Entries.
	Cursor string
	// Events delivers new entries; it is closed when the subscriber must
	// reconnect (it fell behind, or the hub stopped).
	Events <-chan Event
	cancel func()
}

// Close ends the subscription.
func (s *Subscription) Close() { s.cancel() }

// Subscribe registers a subscriber and returns what it missed: everything
// after cursor, or a snapshot when cursor is "" or too old. Entries may
// arrive twice (in the catch-up and as events); they are idempotent.
func (h *Hub) Subscribe(ctx context.Context, cursor string) (*Subscription, error) {
	select {
	case <-h.ready:
	case <-ctx.Done():
		return nil, ctx.Err()
	}
	ch := make(chan Event, h.cfg.Buffer)
	h.mu.Lock()
	if h.done {
		h.mu.Unlock()
		return nil, ErrClosed
	}
	h.subs[ch] = struct{}{}
	h.mu.Unlock()
	sub := &Subscription{Events: ch, cancel: func() {
		h.mu.Lock()
		if _, ok := h.subs[ch]; ok {
			delete(h.subs, ch)
			close(ch)
		}
		h.mu.Unlock()
	}}
	if cursor != "" {
		missed, err := h.cfg.Source.DenialsAfter(ctx, cursor, 0)
		if err == nil {
			sub.Cursor = cursor
			for _, e := range missed {
				sub.Entries = append(sub.Entries, Event{Cursor: e.Cursor, Entry: entryOf(e.Denial)})
				sub.Cursor = e.Cursor
			}
			return sub, nil
		}
		if !errors.Is(err, store.ErrCursorExpired) {
			sub.Close()
			return nil, err
		}
	}
	all, c, err := h.cfg.Source.Denials(ctx)
	if err != nil {
		sub.Close()
		return nil, err
	}
	sub.Snapshot, sub.Cursor = true, c
	for _, d := range all {
		sub.Entries = append(sub.Entries, Event{Entry: entryOf(d)})
	}
	return sub, nil
}
