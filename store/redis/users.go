package redis

import (
	"cmp"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"slices"

	goredis "github.com/redis/go-redis/v9"

	"github.com/authd-dev/authd/store"
)

// createUserScript stores a user, its username index entry and its ID in
// the list index, unless the ID or the username is taken. KEYS: user,
// username, index. ARGV: JSON, ID. Returns 1 if stored, 0 if taken.
var createUserScript = goredis.NewScript(`
if redis.call('EXISTS', KEYS[1], KEYS[2]) > 0 then
	return 0
end
redis.call('SET', KEYS[1], ARGV[1])
redis.call('SET', KEYS[2], ARGV[2])
redis.call('ZADD', KEYS[3], 0, ARGV[2])
return 1
`)

// CreateUser stores a new user; ErrExists if the ID or username is taken.
func (s *Store) CreateUser(ctx context.Context, u store.User) error {
	b, err := json.Marshal(u)
	if err != nil {
		return fmt.Errorf("redis create user: encode: %w", err)
	}
	keys := []string{s.userKey(u.ID), s.userNameKey(u.Username), s.userIdx()}
	n, err := createUserScript.Run(ctx, s.rdb, keys, b, u.ID).Int()
	if err != nil {
		return s.fail("create user", err)
	}
	if n == 0 {
		return fmt.Errorf("redis create user %q (%q): %w", u.ID, u.Username, store.ErrExists)
	}
	return nil
}

// GetUser returns the user; ErrNotFound if there is none.
func (s *Store) GetUser(ctx context.Context, id string) (store.User, error) {
	return getJSON[store.User](ctx, s, "get user", s.userKey(id))
}

// GetUserByUsername returns the user with exactly this username (two
// reads: the index, then the user); ErrNotFound if there is none.
func (s *Store) GetUserByUsername(ctx context.Context, username string) (store.User, error) {
	id, err := s.rdb.Get(ctx, s.userNameKey(username)).Result()
	if errors.Is(err, goredis.Nil) {
		return store.User{}, fmt.Errorf("redis get user by username: %w", store.ErrNotFound)
	}
	if err != nil {
		return store.User{}, s.fail("get user by username", err)
	}
	u, err := s.GetUser(ctx, id)
	if err == nil && u.Username != username {
		// Deleted and the ID reused in between: not this username's user.
		err = fmt.Errorf("redis get user by username: %w", store.ErrNotFound)
	}
	return u, err
}

// ListUsers returns every user, ordered by username.
func (s *Store) ListUsers(ctx context.Context) ([]store.User, error) {
	users, err := listJSON[store.User](ctx, s, "list users", s.userIdx(), s.userKey)
	slices.SortFunc(users, func(a, b store.User) int { return cmp.Compare(a.Username, b.Username) })
	return users, err
}

// UpdateUser applies update in an optimistic transaction (WATCH/MULTI,
// retried when another writer got in between). ID and Username are kept.
func (s *Store) UpdateUser(ctx context.Context, id string, update func(*store.User) error) (store.User, error) {
	return updateJSON(ctx, s, "update user", s.userKey(id), update, func(old, upd *store.User) {
		upd.ID, upd.Username = old.ID, old.Username
	})
}

// DeleteUser removes the user and frees its username; ErrNotFound if
// there is none. The username is read first, so this is a WATCH/MULTI
// transaction on the user's key.
func (s *Store) DeleteUser(ctx context.Context, id string) error {
	key := s.userKey(id)
	return s.watch(ctx, "delete user", func(tx *goredis.Tx) error {
		raw, err := tx.Get(ctx, key).Bytes()
		if errors.Is(err, goredis.Nil) {
			return fmt.Errorf("redis delete user %q: %w", id, store.ErrNotFound)
		}
		if err != nil {
			return err
		}
		var u store.User
		if err := json.Unmarshal(raw, &u); err != nil {
			return abort{fmt.Errorf("redis delete user: decode: %w", err)}
		}
		_, err = tx.TxPipelined(ctx, func(p goredis.Pipeliner) error {
			p.Del(ctx, key, s.userNameKey(u.Username))
			p.ZRem(ctx, s.userIdx(), id)
			return nil
		})
		return err
	}, key)
}
