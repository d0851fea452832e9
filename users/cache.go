package users

import (
	"context"
	"log/slog"
	"sync"
	"time"

	"github.com/authd-dev/authd/store"
)

// userCache keeps user records read by id for a short time, so that a
// refresh (which checks the user's NotBefore and reads the roles) does not
// pay a store round trip for the user (issue 13: at most two round trips
// per refresh on Redis). Lookups by username (logins) are not cached: the
// password hash costs far more than the read.
//
// It is invalidated the way the client cache is (clients/cache.go): every
// write through the Service drops the entry at once and publishes the
// user's id on store.TopicUsers; every replica's Run drops its own entry
// when the message arrives, and every entry when its subscription
// (re)starts, since messages may have been lost meanwhile. The TTL is the
// bound when notifications do not arrive (a subscription down): a change
// on another replica is then seen after at most the TTL. Only records
// found are cached, so unknown ids cannot fill it.
//
// A read that overlaps an invalidation must not put the old record back:
// every invalidation bumps epoch, and a record read from the store is kept
// only if no invalidation happened since the read began.
type userCache struct {
	UserStore
	notifier store.Notifier // nil: no cross-replica invalidation
	log      *slog.Logger
	ttl      time.Duration
	max      int
	now      func() time.Time

	mu      sync.RWMutex
	epoch   uint64 // bumped by every invalidation; guarded by mu
	entries map[string]cachedUser
}

type cachedUser struct {
	u       store.User
	expires time.Time
}

func newUserCache(st UserStore, n store.Notifier, log *slog.Logger, ttl time.Duration, max int, now func() time.Time) *userCache {
	return &userCache{UserStore: st, notifier: n, log: log, ttl: ttl, max: max, now: now, entries: make(map[string]cachedUser)}
}

// GetUser serves id from the cache while its entry is fresh. The record
// is shared by every caller: its slices (Roles) must not be modified.
func (c *userCache) GetUser(ctx context.Context, id string) (store.User, error) {
	now := c.now()
	c.mu.RLock()
	e, ok := c.entries[id]
	epoch := c.epoch
	c.mu.RUnlock()
	if ok && now.Before(e.expires) {
		return e.u, nil
	}
	u, err := c.UserStore.GetUser(ctx, id)
	if err != nil {
		return u, err
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.epoch != epoch {
		return u, nil // invalidated while we read: serve it, do not keep it
	}
	if len(c.entries) >= c.max {
		for k, v := range c.entries { // drop what has expired, then anything
			if !now.Before(v.expires) || len(c.entries) >= c.max {
				delete(c.entries, k)
			}
		}
	}
	c.entries[id] = cachedUser{u: u, expires: now.Add(c.ttl)}
	return u, nil
}

// forget drops id's entry (every entry for id "") and makes reads in
// flight discard what they read.
func (c *userCache) forget(id string) {
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
func (c *userCache) changed(ctx context.Context, id string) {
	c.forget(id)
	if c.notifier == nil {
		return
	}
	// A write that has returned must not be undone by a cancelled request.
	ctx = context.WithoutCancel(ctx)
	if err := c.notifier.Publish(ctx, store.TopicUsers, id); err != nil {
		c.log.WarnContext(ctx, "publish user invalidation; other replicas see the change after the cache TTL", "user_id", id, "err", err)
	}
}

func (c *userCache) CreateUser(ctx context.Context, u store.User) error {
	defer c.changed(ctx, u.ID)
	return c.UserStore.CreateUser(ctx, u)
}

func (c *userCache) UpdateUser(ctx context.Context, id string, update func(*store.User) error) (store.User, error) {
	defer c.changed(ctx, id)
	return c.UserStore.UpdateUser(ctx, id, update)
}

func (c *userCache) DeleteUser(ctx context.Context, id string) error {
	defer c.changed(ctx, id)
	return c.UserStore.DeleteUser(ctx, id)
}

// follow applies the notifications of store.TopicUsers until ctx ends.
func (c *userCache) follow(ctx context.Context) error {
	return c.notifier.Subscribe(ctx, store.TopicUsers, func(n store.Notice) {
		switch n.Kind {
		case store.NoticeMessage:
			c.forget(n.Msg)
		case store.NoticeSubscribed:
			c.forget("") // messages may have been lost before this
		case store.NoticeLost:
			c.log.Warn("user invalidations interrupted; other replicas' changes are seen after the cache TTL until they resume")
		}
	})
}
