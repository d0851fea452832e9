package clients

import (
	"context"
	"log/slog"
	"sync"
	"time"

	"github.com/authd-dev/authd/store"
)

// clientCache keeps client records read on the token path for a short
// time, so a token, refresh or introspection request does not pay a store
// round trip for its client (on Redis, a third of a refresh's round trips).
//
// Every write through a Registry drops the entry here at once and
// publishes the client's id on store.TopicClients; every replica's Run
// drops its own entry when the message arrives, and all of them when its
// subscription (re)starts, since messages may have been lost meanwhile.
// The TTL stays the bound when notifications do not arrive (a
// subscription down): a change on another replica is then seen after at
// most the TTL. Only records found are cached, so unknown ids cannot fill
// it.
//
// A read that overlaps an invalidation must not put the old record back:
// every invalidation bumps epoch, and a record read from the store is
// kept only if no invalidation happened since the read began.
type clientCache struct {
	ClientStore
	notifier store.Notifier // nil: no cross-replica invalidation
	log      *slog.Logger
	ttl      time.Duration
	max      int
	now      func() time.Time

	mu      sync.RWMutex
	epoch   uint64 // bumped by every invalidation; guarded by mu
	entries map[string]cachedClient
}

type cachedClient struct {
	c       store.Client
	expires time.Time
}

func newClientCache(st ClientStore, n store.Notifier, log *slog.Logger, ttl time.Duration, max int, now func() time.Time) *clientCache {
	return &clientCache{ClientStore: st, notifier: n, log: log, ttl: ttl, max: max, now: now, entries: make(map[string]cachedClient)}
}

func (c *clientCache) GetClient(ctx context.Context, id string) (store.Client, error) {
	now := c.now()
	c.mu.RLock()
	e, ok := c.entries[id]
	epoch := c.epoch
	c.mu.RUnlock()
	if ok && now.Before(e.expires) {
		return e.c, nil
	}
	cl, err := c.ClientStore.GetClient(ctx, id)
	if err != nil {
		return cl, err
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.epoch != epoch {
		return cl, nil // invalidated while we read: serve it, do not keep it
	}
	if len(c.entries) >= c.max {
		for k, v := range c.entries { // drop what has expired, then anything
			if !now.Before(v.expires) || len(c.entries) >= c.max {
				delete(c.entries, k)
			}
		}
	}
	c.entries[id] = cachedClient{c: cl, expires: now.Add(c.ttl)}
	return cl, nil
}

// forget drops id's entry (every entry for id "") and makes reads in
// flight discard what they read.
func (c *clientCache) forget(id string) {
	c.mu.Lock()
	c.epoch++
	if id == "" {
		clear(c.entries)
	} else {
		delete(c.entries, id)
	}
	c.mu.Unlock()
}

// changed is called after every local write of id: it drops the local
// entry and tells the other replicas to drop theirs.
func (c *clientCache) changed(ctx context.Context, id string) {
	c.forget(id)
	if c.notifier == nil {
		return
	}
	// A write that has returned must not be undone by a cancelled request.
	ctx = context.WithoutCancel(ctx)
	if err := c.notifier.Publish(ctx, store.TopicClients, id); err != nil {
		c.log.WarnContext(ctx, "publish client invalidation; other replicas see the change after the cache TTL", "client_id", id, "err", err)
	}
}

func (c *clientCache) CreateClient(ctx context.Context, cl store.Client) error {
	defer c.changed(ctx, cl.ID)
	return c.ClientStore.CreateClient(ctx, cl)
}

func (c *clientCache) UpdateClient(ctx context.Context, id string, update func(*store.Client) error) (store.Client, error) {
	defer c.changed(ctx, id)
	return c.ClientStore.UpdateClient(ctx, id, update)
}

func (c *clientCache) DeleteClient(ctx context.Context, id string) error {
	defer c.changed(ctx, id)
	return c.ClientStore.DeleteClient(ctx, id)
}

// follow applies the notifications of store.TopicClients until ctx ends.
func (c *clientCache) follow(ctx context.Context) error {
	return c.notifier.Subscribe(ctx, store.TopicClients, func(n store.Notice) {
		switch n.Kind {
		case store.NoticeMessage:
			c.forget(n.Msg)
		case store.NoticeSubscribed:
			c.forget("") // messages may have been lost before this
		case store.NoticeLost:
			c.log.Warn("client invalidations interrupted; other replicas' changes are seen after the cache TTL until they resume")
		}
	})
}
