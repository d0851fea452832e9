package redis

import (
	"context"
	"errors"
	"fmt"
	"time"

	goredis "github.com/redis/go-redis/v9"

	"github.com/authd-dev/authd/store"
)

var _ store.ReplayCache = (*Store)(nil)

// replayKey is the key of one single-use record: Pused:<key>.
func (s *Store) replayKey(key string) string { return s.prefix + "used:" + key }

// MarkUsed records key as used until expiresAt (store.ReplayCache): one
// SET NX PXAT, atomic on the server, so of concurrent callers on any
// number of replicas exactly one wins; Redis expires the key by itself.
func (s *Store) MarkUsed(ctx context.Context, key string, expiresAt time.Time) error {
	if key == "" {
		return errors.New("redis: mark used: empty key")
	}
	if !expiresAt.After(s.now()) {
		return fmt.Errorf("redis: mark used: expiresAt %s is not in the future", expiresAt)
	}
	return s.setNX(ctx, "mark used", s.replayKey(key), "1", goredis.SetArgs{ExpireAt: expiresAt})
}

// setNX writes a record that must not exist yet (SET NX with the expiry
// in args): one command, atomic on the server, so of concurrent writers
// on any number of replicas exactly one wins and the others get
// store.ErrExists. It is the write of every single-use record: replay
// marks and pushed authorization requests.
func (s *Store) setNX(ctx context.Context, op, key string, value any, args goredis.SetArgs) error {
	args.Mode = "NX"
	err := s.rdb.SetArgs(ctx, key, value, args).Err()
	switch {
	case errors.Is(err, goredis.Nil):
		return fmt.Errorf("redis: %s: %w", op, store.ErrExists)
	case err != nil:
		return s.fail(op, err)
	}
	return nil
}
