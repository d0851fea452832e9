// Package recordcache keeps store records read by id for a short time,
// with cross-replica invalidation through a store.Notifier topic. It is
// the one implementation behind the client cache (clients/cache.go) and
// the user cache (users/cache.go).
package recordcache

import (
	"context"
	"errors"
	"log/slog"
	"sync"
	"time"

	"github.com/authd-dev/authd/store"
)

// Config configures a Cache. Load, Topic, TTL, Max, Now and Logger are
// required; the owning package fills its defaults (internal/config is the
// one source of them), this constructor only rejects what is missing.
type Config[T any] struct {
	// Load reads id from the store. Only records it returns without an
	// error are cached, so unknown ids cannot fill the cache.
	Load func(ctx context.Context, id string) (T, error)
	// Notifier carries invalidations between replicas; nil: none (one
	// replica, or changes elsewhere are seen after the TTL).
	Notifier store.Notifier
	// Topic is the Notifier topic carrying the ids of changed records
	// (store.TopicClients, store.TopicUsers).
	Topic string
	// TTL bounds how long a record is served without a store read.
	TTL time.Duration
	// Max bounds the number of entries.
	Max int
	// Noun ("client", "user") and IDKey ("client_id", "user_id") name the
	// records in log lines.
	Noun, IDKey string
	// Now is the clock of the TTL.
	Now func() time.Time
	// Logger receives failed publishes and interrupted subscriptions.
	Logger *slog.Logger
}

// Cache keeps records read by id for at most the TTL.
//
// Every local write calls Changed, which drops the entry at once and
// publishes the id on the topic; every replica's Run drops its own entry
// when the message arrives, and all of them when its subscription
// (re)starts, since messages may have been lost meanwhile. The TTL stays
// the bound when notifications do not arrive (a subscription down): a
// change on another replica is then seen after at most the TTL.
//
// A read that overlaps an invalidation must not put the old record back:
// every invalidation bumps epoch, and a record read from the store is
// kept only if no invalidation happened since the read began.
type Cache[T any] struct {
	cfg Config[T]

	mu      sync.RWMutex
	epoch   uint64 // bumped by every invalidation; guarded by mu
	entries map[string]entry[T]
}

type entry[T any] struct {
	v       T
	expires time.Time
}

// New checks cfg and returns an empty Cache.
func New[T any](cfg Config[T]) (*Cache[T], error) {
	switch {
	case cfg.Load == nil:
		return nil, errors.New("recordcache: Load is required")
	case cfg.Topic == "":
		return nil, errors.New("recordcache: Topic is required")
	case cfg.TTL <= 0:
		return nil, errors.New("recordcache: TTL must be positive")
	case cfg.Max < 1:
		return nil, errors.New("recordcache: Max must be at least 1")
	case cfg.Now == nil:
		return nil, errors.New("recordcache: Now is required")
	case cfg.Logger == nil:
		return nil, errors.New("recordcache: Logger is required")
	}
	return &Cache[T]{cfg: cfg, entries: make(map[string]entry[T])}, nil
}

// Get serves id from the cache while its entry is fresh, and otherwise
// loads it. The record is shared by every caller: its slices and maps
// must not be modified.
func (c *Cache[T]) Get(ctx context.Context, id string) (T, error) {
	now := c.cfg.Now()
	c.mu.RLock()
	e, ok := c.entries[id]
	epoch := c.epoch
	c.mu.RUnlock()
	if ok && now.Before(e.expires) {
		return e.v, nil
	}
	v, err := c.cfg.Load(ctx, id)
	if err != nil {
		return v, err
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.epoch != epoch {
		return v, nil // invalidated while we read: serve it, do not keep it
	}
	if len(c.entries) >= c.cfg.Max {
		for k, old := range c.entries { // drop what has expired, then anything
			if !now.Before(old.expires) || len(c.entries) >= c.cfg.Max {
				delete(c.entries, k)
			}
		}
	}
	c.entries[id] = entry[T]{v: v, expires: now.Add(c.cfg.TTL)}
	return v, nil
}

// Forget drops id's entry (every entry for id "") and makes reads in
// flight discard what they read.
func (c *Cache[T]) Forget(id string) {
	c.mu.Lock()
	c.epoch++
	if id == "" {
		clear(c.entries)
	} else {
		delete(c.entries, id)
	}
	c.mu.Unlock()
}

// Changed is called after every local write of id: it drops the local
// entry and tells the other replicas to drop theirs.
func (c *Cache[T]) Changed(ctx context.Context, id string) {
	c.Forget(id)
	if c.cfg.Notifier == nil {
		return
	}
	// A write that has returned must not be undone by a cancelled request.
	ctx = context.WithoutCancel(ctx)
	if err := c.cfg.Notifier.Publish(ctx, c.cfg.Topic, id); err != nil {
		c.cfg.Logger.WarnContext(ctx, "publish "+c.cfg.Noun+" invalidation; other replicas see the change after the cache TTL", c.cfg.IDKey, id, "err", err)
	}
}

// Run applies the notifications of the topic until ctx ends, and then
// returns ctx.Err(). Without a Notifier there is nothing to follow and it
// returns nil at once.
func (c *Cache[T]) Run(ctx context.Context) error {
	if c.cfg.Notifier == nil {
		return nil
	}
	return c.cfg.Notifier.Subscribe(ctx, c.cfg.Topic, func(n store.Notice) {
		switch n.Kind {
		case store.NoticeMessage:
			c.Forget(n.Msg)
		case store.NoticeSubscribed:
			c.Forget("") // messages may have been lost before this
		case store.NoticeLost:
			c.cfg.Logger.Warn(c.cfg.Noun + " invalidations interrupted; other replicas' changes are seen after the cache TTL until they resume")
		}
	})
}
