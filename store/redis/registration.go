package redis

import (
	"context"
	"encoding/hex"
	"errors"
	"fmt"

	goredis "github.com/redis/go-redis/v9"

	"github.com/authd-dev/authd/store"
)

// Initial access tokens of dynamic registration (store.RegistrationTokens):
//
//	Pregtok:<hex digest>   remaining uses, expiring at ExpiresAt (PXAT)
//
// Redis expires the key by itself; the last use deletes it.

var _ store.RegistrationTokens = (*Store)(nil)

func (s *Store) regTokenKey(digest []byte) string {
	return s.prefix + "regtok:" + hex.EncodeToString(digest)
}

// useRegTokenScript takes one use, atomic on the server. KEYS: the token.
// Returns the uses left, or -1 if the token is missing (expired, used up).
var useRegTokenScript = goredis.NewScript(`
local v = tonumber(redis.call('GET', KEYS[1]) or '')
if v == nil or v < 1 then return -1 end
if v == 1 then
	redis.call('DEL', KEYS[1])
else
	redis.call('SET', KEYS[1], v - 1, 'KEEPTTL')
end
return v - 1
`)

// CreateRegistrationToken implements store.RegistrationTokens: one SET NX
// PXAT.
func (s *Store) CreateRegistrationToken(ctx context.Context, t store.RegistrationToken) error {
	if len(t.Digest) == 0 || t.Uses < 1 {
		return errors.New("redis: create registration token: empty digest or uses < 1")
	}
	if !t.ExpiresAt.After(s.now()) {
		return fmt.Errorf("redis: create registration token: expiresAt %s is not in the future", t.ExpiresAt)
	}
	err := s.rdb.SetArgs(ctx, s.regTokenKey(t.Digest), t.Uses, goredis.SetArgs{Mode: "NX", ExpireAt: t.ExpiresAt}).Err()
	switch {
	case errors.Is(err, goredis.Nil):
		return fmt.Errorf("redis: create registration token: %w", store.ErrExists)
	case err != nil:
		return s.fail("create registration token", err)
	}
	return nil
}

// UseRegistrationToken implements store.RegistrationTokens in one script.
func (s *Store) UseRegistrationToken(ctx context.Context, digest []byte) error {
	left, err := useRegTokenScript.Run(ctx, s.rdb, []string{s.regTokenKey(digest)}).Int64()
	if err != nil {
		return s.fail("use registration token", err)
	}
	if left < 0 {
		return fmt.Errorf("redis: use registration token: %w", store.ErrNotFound)
	}
	return nil
}
