package redis

import (
	"context"
	"errors"
	"fmt"
	"time"

	goredis "github.com/redis/go-redis/v9"

	"github.com/authd-dev/authd/store"
)

// Pushed authorization requests (store.PushedRequests):
//
//	Ppar:<id>   the request, expiring at its expiresAt (PX)

var _ store.PushedRequests = (*Store)(nil)

func (s *Store) pushedKey(id string) string { return s.prefix + "par:" + id }

// PutPushedRequest stores req under id (store.PushedRequests): one SET NX
// PX, the TTL measured on authd's clock; Redis expires the key by itself.
func (s *Store) PutPushedRequest(ctx context.Context, id string, req []byte, expiresAt time.Time) error {
	if id == "" {
		return errors.New("redis: put pushed request: empty id")
	}
	ttl := expiresAt.Sub(s.now())
	if ttl < time.Millisecond {
		return fmt.Errorf("redis: put pushed request: expiresAt %s is not in the future", expiresAt)
	}
	return s.setNX(ctx, "put pushed request", s.pushedKey(id), req, goredis.SetArgs{TTL: ttl})
}

// TakePushedRequest returns and deletes the request under id
// (store.PushedRequests) with one GETDEL, atomic on the server: of
// concurrent callers on any number of replicas exactly one gets it.
func (s *Store) TakePushedRequest(ctx context.Context, id string) ([]byte, error) {
	b, err := s.rdb.GetDel(ctx, s.pushedKey(id)).Bytes()
	switch {
	case errors.Is(err, goredis.Nil):
		return nil, fmt.Errorf("redis: take pushed request: %w", store.ErrNotFound)
	case err != nil:
		return nil, s.fail("take pushed request", err)
	}
	return b, nil
}
