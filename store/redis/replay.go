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
	err := s.rdb.SetArgs(ctx, s.replayKey(key), "1", goredis.SetArgs{Mode: "NX", ExpireAt: expiresAt}).Err()
	switch {
	case errors.Is(err, goredis.Nil):
		return fmt.Errorf("redis: mark used: %w", store.ErrExists)
	case err != nil:
		return s.fail("mark used", err)
	}
	return nil
}
