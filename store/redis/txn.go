package redis

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"

	goredis "github.com/redis/go-redis/v9"

	"github.com/authd-dev/authd/store"
)

// maxTxAttempts bounds the optimistic retries of a WATCH/MULTI
// transaction. Each lost round means another writer committed, so this
// many writers would have to commit in between for an update to give up.
const maxTxAttempts = 100

// abort carries an error of the caller's update function out of the
// transaction, so it is returned unchanged.
type abort struct{ err error }

func (a abort) Error() string { return a.err.Error() }

// watch runs fn in an optimistic transaction on keys (WATCH … MULTI/EXEC),
// again whenever a watched key changed before EXEC.
func (s *Store) watch(ctx context.Context, op string, fn func(*goredis.Tx) error, keys ...string) error {
	for range maxTxAttempts {
		err := s.rdb.Watch(ctx, fn, keys...)
		if errors.Is(err, goredis.TxFailedErr) {
			continue
		}
		var a abort
		switch {
		case err == nil:
			return nil
		case errors.As(err, &a):
			return a.err
		case errors.Is(err, store.ErrNotFound):
			return err
		}
		return s.fail(op, err)
	}
	return fmt.Errorf("redis %s: %w: gave up after %d attempts", op, store.ErrConflict, maxTxAttempts)
}

// updateJSON is the body of UpdateClient and UpdateUser: read the JSON
// record at key, let update change it, write it back if nothing changed
// meanwhile.
func updateJSON[T any](ctx context.Context, s *Store, op, key string, update func(*T) error, fix func(old, upd *T)) (T, error) {
	var out T
	err := s.watch(ctx, op, func(tx *goredis.Tx) error {
		raw, err := tx.Get(ctx, key).Bytes()
		if errors.Is(err, goredis.Nil) {
			return fmt.Errorf("redis %s: %w", op, store.ErrNotFound)
		}
		if err != nil {
			return err
		}
		var rec T
		if err := json.Unmarshal(raw, &rec); err != nil {
			return abort{fmt.Errorf("redis %s: decode: %w", op, err)}
		}
		old := rec // shallow: fix reads only its immutable strings
		if err := update(&rec); err != nil {
			return abort{err}
		}
		fix(&old, &rec)
		b, err := json.Marshal(rec)
		if err != nil {
			return abort{fmt.Errorf("redis %s: encode: %w", op, err)}
		}
		if _, err := tx.TxPipelined(ctx, func(p goredis.Pipeliner) error {
			p.Set(ctx, key, b, 0)
			return nil
		}); err != nil {
			return err
		}
		out = rec
		return nil
	}, key)
	return out, err
}

// getJSON reads the JSON record at key; ErrNotFound if there is none.
func getJSON[T any](ctx context.Context, s *Store, op, key string) (T, error) {
	var rec T
	raw, err := s.rdb.Get(ctx, key).Bytes()
	if errors.Is(err, goredis.Nil) {
		return rec, fmt.Errorf("redis %s: %w", op, store.ErrNotFound)
	}
	if err != nil {
		return rec, s.fail(op, err)
	}
	if err := json.Unmarshal(raw, &rec); err != nil {
		return rec, fmt.Errorf("redis %s: decode: %w", op, err)
	}
	return rec, nil
}

// listJSON reads every record named in the sorted set idx (ID order), two
// round trips: ZRANGE, then one MGET of the records (same slot as idx).
// Records deleted in between are left out.
func listJSON[T any](ctx context.Context, s *Store, op, idx string, key func(string) string) ([]T, error) {
	ids, err := s.rdb.ZRange(ctx, idx, 0, -1).Result()
	if err != nil {
		return nil, s.fail(op, err)
	}
	if len(ids) == 0 {
		return nil, nil
	}
	keys := make([]string, len(ids))
	for i, id := range ids {
		keys[i] = key(id)
	}
	vals, err := s.rdb.MGet(ctx, keys...).Result()
	if err != nil {
		return nil, s.fail(op, err)
	}
	out := make([]T, 0, len(vals))
	for _, v := range vals {
		raw, ok := v.(string)
		if !ok {
			continue // deleted since ZRANGE
		}
		var rec T
		if err := json.Unmarshal([]byte(raw), &rec); err != nil {
			return nil, fmt.Errorf("redis %s: decode: %w", op, err)
		}
		out = append(out, rec)
	}
	return out, nil
}
