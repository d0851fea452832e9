package clients

import (
	"context"
	"log/slog"
	"time"

	"github.com/authd-dev/authd/internal/recordcache"
	"github.com/authd-dev/authd/store"
)

// clientCache keeps client records read on the token path for a short
// time, so a token, refresh or introspection request does not pay a store
// round trip for its client (on Redis, a third of a refresh's round trips).
//
// Every write through a Registry drops the entry at once and publishes
// the client's id on store.TopicClients; the TTL, the cross-replica
// invalidation and the guard against a read overlapping a write are
// recordcache.Cache's.
type clientCache struct {
	ClientStore
	rc *recordcache.Cache[store.Client]
}

func newClientCache(st ClientStore, n store.Notifier, log *slog.Logger, ttl time.Duration, max int, now func() time.Time) (*clientCache, error) {
	rc, err := recordcache.New(recordcache.Config[store.Client]{Load: st.GetClient, Notifier: n, Topic: store.TopicClients,
		TTL: ttl, Max: max, Noun: "client", IDKey: "client_id", Now: now, Logger: log})
	if err != nil {
		return nil, err
	}
	return &clientCache{ClientStore: st, rc: rc}, nil
}

func (c *clientCache) GetClient(ctx context.Context, id string) (store.Client, error) {
	return c.rc.Get(ctx, id)
}

func (c *clientCache) CreateClient(ctx context.Context, cl store.Client) error {
	defer c.rc.Changed(ctx, cl.ID)
	return c.ClientStore.CreateClient(ctx, cl)
}

func (c *clientCache) UpdateClient(ctx context.Context, id string, update func(*store.Client) error) (store.Client, error) {
	defer c.rc.Changed(ctx, id)
	return c.ClientStore.UpdateClient(ctx, id, update)
}

func (c *clientCache) DeleteClient(ctx context.Context, id string) error {
	defer c.rc.Changed(ctx, id)
	return c.ClientStore.DeleteClient(ctx, id)
}
