package clients

import (
	"context"
	"sync"
	"time"

	"github.com/authd-dev/authd/store"
)

// clientCache keeps client records read on the token path for a short
// time, so a token, refresh or introspection request does not pay a store
// round trip for its client (on Redis, a third of a refresh's round trips).
//
// Writes through this Registry drop the entry at once. A change made on
// another replica is seen after at most the TTL: a deleted client or a
// replaced secret keeps working there for up to that long. Only records
// found are cached, so unknown ids cannot fill it.
type clientCache struct {
	ClientStore
	ttl time.Duration
	max int
	now func() time.Time

	mu      sync.RWMutex
	entries map[string]cachedClient
}

type cachedClient struct {
	c       store.Client
	expires time.Time
}

func newClientCache(st ClientStore, ttl time.Duration, max int, now func() time.Time) *clientCache {
	return &clientCache{ClientStore: st, ttl: ttl, max: max, now: now, entries: make(map[string]cachedClient)}
}

func (c *clientCache) GetClient(ctx context.Context, id string) (store.Client, error) {
	now := c.now()
	c.mu.RLock()
	e, ok := c.entries[id]
	c.mu.RUnlock()
	if ok && now.Before(e.expires) {
		return e.c, nil
	}
	cl, err := c.ClientStore.GetClient(ctx, id)
	if err != nil {
		return cl, err
	}
	c.mu.Lock()
	if len(c.entries) >= c.max {
		for k, v := range c.entries { // drop what has expired, then anything
			if !now.Before(v.expires) || len(c.entries) >= c.max {
				delete(c.entries, k)
			}
		}
	}
	c.entries[id] = cachedClient{c: cl, expires: now.Add(c.ttl)}
	c.mu.Unlock()
	return cl, nil
}

func (c *clientCache) forget(id string) {
	c.mu.Lock()
	delete(c.entries, id)
	c.mu.Unlock()
}

func (c *clientCache) CreateClient(ctx context.Context, cl store.Client) error {
	defer c.forget(cl.ID)
	return c.ClientStore.CreateClient(ctx, cl)
}

func (c *clientCache) UpdateClient(ctx context.Context, id string, update func(*store.Client) error) (store.Client, error) {
	defer c.forget(id)
	return c.ClientStore.UpdateClient(ctx, id, update)
}

func (c *clientCache) DeleteClient(ctx context.Context, id string) error {
	defer c.forget(id)
	return c.ClientStore.DeleteClient(ctx, id)
}
