package users

import (
	"context"
	"log/slog"
	"time"

	"github.com/authd-dev/authd/internal/recordcache"
	"github.com/authd-dev/authd/store"
)

// userCache keeps user records read by id for a short time, so that a
// refresh (which checks the user's NotBefore and reads the roles) does not
// pay a store round trip for the user (issue 13: at most two round trips
// per refresh on Redis). Lookups by username (logins) are not cached: the
// password hash costs far more than the read.
//
// Every write through the Service drops the entry at once and publishes
// the user's id on store.TopicUsers; the TTL, the cross-replica
// invalidation and the guard against a read overlapping a write are
// recordcache.Cache's, shared with the client cache.
type userCache struct {
	UserStore
	rc *recordcache.Cache[store.User]
}

func newUserCache(st UserStore, n store.Notifier, log *slog.Logger, ttl time.Duration, max int, now func() time.Time) (*userCache, error) {
	rc, err := recordcache.New(recordcache.Config[store.User]{Load: st.GetUser, Notifier: n, Topic: store.TopicUsers,
		TTL: ttl, Max: max, Noun: "user", IDKey: "user_id", Now: now, Logger: log})
	if err != nil {
		return nil, err
	}
	return &userCache{UserStore: st, rc: rc}, nil
}

// GetUser serves id from the cache while its entry is fresh. The record
// is shared by every caller: its slices (Roles) must not be modified.
func (c *userCache) GetUser(ctx context.Context, id string) (store.User, error) {
	return c.rc.Get(ctx, id)
}

func (c *userCache) CreateUser(ctx context.Context, u store.User) error {
	defer c.rc.Changed(ctx, u.ID)
	return c.UserStore.CreateUser(ctx, u)
}

func (c *userCache) UpdateUser(ctx context.Context, id string, update func(*store.User) error) (store.User, error) {
	defer c.rc.Changed(ctx, id)
	return c.UserStore.UpdateUser(ctx, id, update)
}

func (c *userCache) DeleteUser(ctx context.Context, id string) error {
	defer c.rc.Changed(ctx, id)
	return c.UserStore.DeleteUser(ctx, id)
}
