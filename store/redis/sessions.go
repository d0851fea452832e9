package redis

import (
	"cmp"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"strconv"

	goredis "github.com/redis/go-redis/v9"

	"github.com/authd-dev/authd/store"
)

// SSO sessions (store.SessionStore):
//
//	Psess:{<id>}     session, JSON, expiring at its LiveUntil (PXAT)
//	Pusess:{<user>}  sorted set of the user's session IDs, scored by their
//	                 absolute ExpiresAt (ms); it expires with the last one
//
// The two are in different Cluster slots and written one after the other:
// a listing skips (and unindexes) members whose record is gone.

var _ store.SessionStore = (*Store)(nil)

func (s *Store) sessionKey(id string) string        { return s.prefix + "sess:{" + id + "}" }
func (s *Store) userSessionsKey(user string) string { return s.prefix + "usess:{" + user + "}" }

// indexSessionScript adds a session to its user's index, drops members
// past their absolute end and lets the index expire with its last member.
// KEYS: index. ARGV: session ID, its ExpiresAt (ms), now (ms).
var indexSessionScript = goredis.NewScript(`
redis.call('ZADD', KEYS[1], ARGV[2], ARGV[1])
redis.call('ZREMRANGEBYSCORE', KEYS[1], '-inf', '(' .. ARGV[3])
local last = redis.call('ZRANGE', KEYS[1], -1, -1, 'WITHSCORES')
if last[2] then
	redis.call('PEXPIREAT', KEYS[1], last[2])
end
return 1
`)

// CreateSession stores a new session (SET NX PXAT), then indexes it.
func (s *Store) CreateSession(ctx context.Context, rec store.Session) error {
	if err := rec.Check(); err != nil {
		return err
	}
	if rec.ExpiredAt(s.now()) {
		return nil // stored and gone at once
	}
	b, err := json.Marshal(rec)
	if err != nil {
		return fmt.Errorf("redis create session: encode: %w", err)
	}
	err = s.rdb.SetArgs(ctx, s.sessionKey(rec.ID), b, goredis.SetArgs{Mode: "NX", ExpireAt: rec.LiveUntil()}).Err()
	if errors.Is(err, goredis.Nil) {
		return fmt.Errorf("redis create session: %w", store.ErrExists)
	}
	if err != nil {
		return s.fail("create session", err)
	}
	err = indexSessionScript.Run(ctx, s.rdb, []string{s.userSessionsKey(rec.UserID)},
		rec.ID, rec.ExpiresAt.UnixMilli(), s.now().UnixMilli()).Err()
	if err != nil {
		return s.fail("index session", err)
	}
	return nil
}

// GetSession returns a live session (one GET).
func (s *Store) GetSession(ctx context.Context, id string) (store.Session, error) {
	rec, err := getJSON[store.Session](ctx, s, "get session", s.sessionKey(id))
	if err == nil && rec.ExpiredAt(s.now()) {
		err = fmt.Errorf("redis get session: %w", store.ErrNotFound)
	}
	if err != nil {
		return store.Session{}, err
	}
	return rec, nil
}

// TouchSession applies t in an optimistic transaction on the record.
func (s *Store) TouchSession(ctx context.Context, id string, t store.SessionTouch) (store.Session, error) {
	key := s.sessionKey(id)
	var out store.Session
	err := s.watch(ctx, "touch session", func(tx *goredis.Tx) error {
		raw, err := tx.Get(ctx, key).Bytes()
		if errors.Is(err, goredis.Nil) {
			return fmt.Errorf("redis touch session: %w", store.ErrNotFound)
		}
		if err != nil {
			return err
		}
		var rec store.Session
		if err := json.Unmarshal(raw, &rec); err != nil {
			return abort{fmt.Errorf("redis touch session: decode: %w", err)}
		}
		if rec.ExpiredAt(t.Now) {
			return fmt.Errorf("redis touch session: %w", store.ErrNotFound)
		}
		t.Apply(&rec)
		b, err := json.Marshal(rec)
		if err != nil {
			return abort{fmt.Errorf("redis touch session: encode: %w", err)}
		}
		if _, err := tx.TxPipelined(ctx, func(p goredis.Pipeliner) error {
			p.SetArgs(ctx, key, b, goredis.SetArgs{ExpireAt: rec.LiveUntil()})
			return nil
		}); err != nil {
			return err
		}
		out = rec
		return nil
	}, key)
	if err != nil {
		return store.Session{}, err
	}
	return out, nil
}

// ListSessions reads the user's index, then each record (pipelined).
func (s *Store) ListSessions(ctx context.Context, userID string) ([]store.Session, error) {
	idx := s.userSessionsKey(userID)
	ids, err := s.rdb.ZRangeByScore(ctx, idx, &goredis.ZRangeBy{Min: strconv.FormatInt(s.now().UnixMilli(), 10), Max: "+inf"}).Result()
	if err != nil {
		return nil, s.fail("list sessions", err)
	}
	if len(ids) == 0 {
		return nil, nil
	}
	cmds := make([]*goredis.StringCmd, len(ids))
	_, err = s.rdb.Pipelined(ctx, func(p goredis.Pipeliner) error {
		for i, id := range ids {
			cmds[i] = p.Get(ctx, s.sessionKey(id))
		}
		return nil
	})
	if err != nil && !errors.Is(err, goredis.Nil) {
		return nil, s.fail("list sessions", err)
	}
	now := s.now()
	var out []store.Session
	var stale []any
	for i, c := range cmds {
		raw, err := c.Bytes()
		if errors.Is(err, goredis.Nil) {
			stale = append(stale, ids[i])
			continue
		}
		if err != nil {
			return nil, s.fail("list sessions", err)
		}
		var rec store.Session
		if err := json.Unmarshal(raw, &rec); err != nil {
			return nil, fmt.Errorf("redis list sessions: decode: %w", err)
		}
		if rec.UserID == userID && !rec.ExpiredAt(now) {
			out = append(out, rec)
		}
	}
	if len(stale) > 0 {
		// Best effort: an index member whose record expired by idleness.
		_ = s.rdb.ZRem(ctx, idx, stale...).Err()
	}
	slices.SortFunc(out, func(a, b store.Session) int {
		return cmp.Or(a.CreatedAt.Compare(b.CreatedAt), cmp.Compare(a.ID, b.ID))
	})
	return out, nil
}

// DeleteSession removes the record (GETDEL), then its index entry.
func (s *Store) DeleteSession(ctx context.Context, id string) (store.Session, error) {
	raw, err := s.rdb.GetDel(ctx, s.sessionKey(id)).Bytes()
	if errors.Is(err, goredis.Nil) {
		return store.Session{}, fmt.Errorf("redis delete session: %w", store.ErrNotFound)
	}
	if err != nil {
		return store.Session{}, s.fail("delete session", err)
	}
	var rec store.Session
	if err := json.Unmarshal(raw, &rec); err != nil {
		return store.Session{}, fmt.Errorf("redis delete session: decode: %w", err)
	}
	if err := s.rdb.ZRem(ctx, s.userSessionsKey(rec.UserID), id).Err(); err != nil {
		return store.Session{}, s.fail("unindex session", err)
	}
	if rec.ExpiredAt(s.now()) {
		return store.Session{}, fmt.Errorf("redis delete session: %w", store.ErrNotFound)
	}
	return rec, nil
}
