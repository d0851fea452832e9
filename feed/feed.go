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

// Defaults of Config.
const (
	DefaultWait           = 5 * time.Second
	DefaultBuffer         = 1024
	DefaultMaxSubscribers = 512
)

// Config configures a Hub.
type Config struct {
	Source Source
	// Wait is how long one read of the store blocks (default 5s).
	Wait time.Duration
	// Buffer is each subscriber's queue; a subscriber that falls this far
	// behind is disconnected and must resume with its cursor (default 1024).
	Buffer int
	// MaxSubscribers bounds the subscriptions open at once on this
	// replica; Subscribe beyond it fails with ErrFull (default 512). Each
	// one holds a goroutine of the HTTP server and a queue of Buffer
	// events.
	MaxSubscribers int
	Logger         *slog.Logger
}

// subscriber is one queue of live events. Its fields are guarded by the
// hub's mutex.
type subscriber struct {
	ch chan Event
	// floor: events at or before this cursor are not delivered (the
	// subscriber has them from its catch-up or snapshot); "" for none.
	floor  string
	closed bool
}

// Hub broadcasts new denylist entries to subscribers.
type Hub struct {
	cfg    Config
	mu     sync.Mutex
	subs   map[*subscriber]struct{}
	active int           // open subscriptions (cut ones count until closed)
	pos    string        // cursor of the last entry broadcast, or the start
	ready  chan struct{} // closed once Run has its starting cursor
	done   bool
}

// NewHub returns a Hub; call Run to start following the store.
func NewHub(cfg Config) *Hub {
	if cfg.Wait <= 0 {
		cfg.Wait = DefaultWait
	}
	if cfg.Buffer <= 0 {
		cfg.Buffer = DefaultBuffer
	}
	if cfg.MaxSubscribers <= 0 {
		cfg.MaxSubscribers = DefaultMaxSubscribers
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.Default()
	}
	return &Hub{cfg: cfg, subs: map[*subscriber]struct{}{}, ready: make(chan struct{})}
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
	h.mu.Lock()
	h.pos = cursor
	h.mu.Unlock()
	close(h.ready)
	for ctx.Err() == nil {
		events, err := h.cfg.Source.DenialsAfter(ctx, cursor, h.cfg.Wait)
		switch {
		case errors.Is(err, store.ErrCursorExpired):
			// We fell behind what the store keeps: subscribers must resync.
			h.cfg.Logger.Warn("revocation feed cursor expired; resynchronising subscribers")
			_, c, err := h.cfg.Source.Denials(ctx)
			if err != nil {
				if !h.pause(ctx, "read revocation feed", err) {
					return
				}
				continue
			}
			cursor = c
			h.restart(c)
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

// broadcast queues ev for every subscriber whose floor it passes and
// records it as the hub's position, in one critical section: a
// subscriber registered before it gets it live, one registered after it
// reads it in its catch-up.
func (h *Hub) broadcast(ev Event) {
	h.mu.Lock()
	defer h.mu.Unlock()
	h.pos = ev.Cursor
	for s := range h.subs {
		if !after(ev.Cursor, s.floor) {
			continue
		}
		select {
		case s.ch <- ev:
		default: // too slow: cut it; it resumes from its last cursor
			h.cut(s)
		}
	}
}

// after reports whether cursor c comes after floor ("" = no floor). A
// cursor that does not compare is delivered.
func after(c, floor string) bool {
	if floor == "" {
		return true
	}
	n, ok := store.CompareCursors(c, floor)
	return !ok || n > 0
}

// cut closes s's queue; the caller holds h.mu.
func (h *Hub) cut(s *subscriber) {
	delete(h.subs, s)
	if !s.closed {
		s.closed = true
		close(s.ch)
	}
}

// restart cuts every subscriber and moves the hub to cursor, at once.
func (h *Hub) restart(cursor string) {
	h.mu.Lock()
	defer h.mu.Unlock()
	for s := range h.subs {
		h.cut(s)
	}
	h.pos = cursor
}

func (h *Hub) closeAll(final bool) {
	h.mu.Lock()
	defer h.mu.Unlock()
	for s := range h.subs {
		h.cut(s)
	}
	if final {
		h.done = true
	}
}

// ErrClosed: the hub has stopped.
var ErrClosed = errors.New("feed: closed")

// ErrFull: this replica already serves Config.MaxSubscribers
// subscriptions; retry later (or on another replica).
var ErrFull = errors.New("feed: too many subscribers")

// Subscription is one subscriber's view: where to start, then live events.
type Subscription struct {
	// Snapshot is true when Entries is the whole live denylist (a fresh
	// start or an expired cursor) rather than what came after the cursor.
	Snapshot bool
	Entries  []Event
	// Cursor is the position after Entries.
	Cursor string
	// Events delivers the entries after Entries, in order, none twice; it
	// is closed when the subscriber must reconnect (it fell Buffer events
	// behind, or the hub stopped).
	Events <-chan Event
	cancel func()
}

// Close ends the subscription and frees its place.
func (s *Subscription) Close() { s.cancel() }

// Subscribe registers a subscriber and returns what it missed, then live
// events: everything after cursor, or a snapshot when cursor is "" or
// too old for the store. The catch-up reads the store page after page up
// to the hub's position at registration, the live queue starts right
// after it, and entries the subscriber already has (a snapshot newer than
// that position, a cursor from a replica further ahead) are dropped from
// the queue: nothing is lost or delivered twice between the two. ErrFull
// when MaxSubscribers are open.
func (h *Hub) Subscribe(ctx context.Context, cursor string) (*Subscription, error) {
	select {
	case <-h.ready:
	case <-ctx.Done():
		return nil, ctx.Err()
	}
	sub := &subscriber{ch: make(chan Event, h.cfg.Buffer)}
	h.mu.Lock()
	switch {
	case h.done:
		h.mu.Unlock()
		return nil, ErrClosed
	case h.active >= h.cfg.MaxSubscribers:
		h.mu.Unlock()
		return nil, ErrFull
	}
	h.subs[sub] = struct{}{}
	h.active++
	pos := h.pos
	h.mu.Unlock()
	var once sync.Once
	s := &Subscription{cancel: func() {
		once.Do(func() {
			h.mu.Lock()
			h.cut(sub)
			h.active--
			h.mu.Unlock()
		})
	}}
	floor, err := h.catchUp(ctx, s, cursor, pos)
	if err != nil {
		s.Close()
		return nil, err
	}
	h.mu.Lock()
	sub.floor = floor
	if floor != "" && len(sub.ch) > 0 {
		// Events queued during the catch-up that it already holds.
		keep := make(chan Event, h.cfg.Buffer)
		for len(sub.ch) > 0 {
			if ev := <-sub.ch; after(ev.Cursor, floor) {
				keep <- ev
			}
		}
		if sub.closed {
			close(keep)
		}
		sub.ch = keep
	}
	s.Events = sub.ch
	h.mu.Unlock()
	return s, nil
}

// catchUp fills s with the entries after cursor up to pos (the hub's
// position when s registered), or with a snapshot, and returns the floor
// of its live queue.
func (h *Hub) catchUp(ctx context.Context, s *Subscription, cursor, pos string) (string, error) {
	if cursor != "" {
		err := h.pageUpTo(ctx, s, cursor, pos)
		if err == nil {
			return cursor, nil
		}
		if !errors.Is(err, store.ErrCursorExpired) {
			return "", err
		}
		s.Entries = nil
	}
	all, c, err := h.cfg.Source.Denials(ctx)
	if err != nil {
		return "", err
	}
	s.Snapshot, s.Cursor = true, c
	for _, d := range all {
		s.Entries = append(s.Entries, Event{Entry: entryOf(d)})
	}
	return c, nil
}

// pageUpTo reads the feed after cursor, one page after another, until it
// reaches an entry after pos (the live queue has it) or the end.
func (h *Hub) pageUpTo(ctx context.Context, s *Subscription, cursor, pos string) error {
	s.Cursor = cursor
	for {
		page, err := h.cfg.Source.DenialsAfter(ctx, s.Cursor, 0)
		if err != nil || len(page) == 0 {
			return err
		}
		for _, e := range page {
			if after(e.Cursor, pos) {
				return nil
			}
			s.Entries = append(s.Entries, Event{Cursor: e.Cursor, Entry: entryOf(e.Denial)})
			s.Cursor = e.Cursor
		}
	}
}
