package redis

import (
	"context"
	"encoding/json"
	"fmt"

	goredis "github.com/redis/go-redis/v9"

	"github.com/authd-dev/authd/store"
)

// createRecordScript stores a JSON record and indexes its ID, unless the
// record exists. KEYS: record, index. ARGV: JSON, ID. Returns 1 if
// stored, 0 if the ID is taken.
var createRecordScript = goredis.NewScript(`
if redis.call('SET', KEYS[1], ARGV[1], 'NX') then
	redis.call('ZADD', KEYS[2], 0, ARGV[2])
	return 1
end
return 0
`)

// deleteRecordScript deletes a record and its index entry. KEYS: record,
// index. ARGV: ID. Returns the number of records deleted.
var deleteRecordScript = goredis.NewScript(`
local n = redis.call('DEL', KEYS[1])
redis.call('ZREM', KEYS[2], ARGV[1])
return n
`)

// CreateClient stores a new client; ErrExists if the ID is taken.
func (s *Store) CreateClient(ctx context.Context, c store.Client) error {
	b, err := json.Marshal(c)
	if err != nil {
		return fmt.Errorf("redis create client: encode: %w", err)
	}
	n, err := createRecordScript.Run(ctx, s.rdb, []string{s.clientKey(c.ID), s.clientIdx()}, b, c.ID).Int()
	if err != nil {
		return s.fail("create client", err)
	}
	if n == 0 {
		return fmt.Errorf("redis create client %q: %w", c.ID, store.ErrExists)
	}
	return nil
}

// GetClient returns the client; ErrNotFound if there is none.
func (s *Store) GetClient(ctx context.Context, id string) (store.Client, error) {
	return getJSON[store.Client](ctx, s, "get client", s.clientKey(id))
}

// ListClients returns every client, ordered by ID.
func (s *Store) ListClients(ctx context.Context) ([]store.Client, error) {
	return listJSON[store.Client](ctx, s, "list clients", s.clientIdx(), s.clientKey)
}

// UpdateClient applies update in an optimistic transaction (WATCH/MULTI,
// retried when another writer got in between). The ID cannot change.
func (s *Store) UpdateClient(ctx context.Context, id string, update func(*store.Client) error) (store.Client, error) {
	return updateJSON(ctx, s, "update client", s.clientKey(id), update, func(old, upd *store.Client) {
		upd.ID = old.ID
	})
}

// DeleteClient removes the client; ErrNotFound if there is none.
func (s *Store) DeleteClient(ctx context.Context, id string) error {
	n, err := deleteRecordScript.Run(ctx, s.rdb, []string{s.clientKey(id), s.clientIdx()}, id).Int()
	if err != nil {
		return s.fail("delete client", err)
	}
	if n == 0 {
		return fmt.Errorf("redis delete client %q: %w", id, store.ErrNotFound)
	}
	return nil
}
