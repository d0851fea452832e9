package redis

import (
	"cmp"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"strconv"
	"strings"

	goredis "github.com/redis/go-redis/v9"

	"github.com/authd-dev/authd/store"
)

// SSO sessions (store.SessionStore):
//
//	Psess:{<id>}     session, JSON (sessionRecord) without its families,
//	                 expiring at its LiveUntil (PXAT)
//	Psess:{<id>}:f   list of the families begun in it, same expiry (the
//	                 same slot: the scripts write both)
//	Pusess:{<user>}  sorted set of the user's session IDs, scored by their
//	                 absolute ExpiresAt (ms); it expires with the last one
//
// The two are in different Cluster slots and written one after the other:
// a listing skips (and unindexes) members whose record is gone.

var _ store.SessionStore = (*Store)(nil)

func (s *Store) sessionKey(id string) string         { return s.prefix + "sess:{" + id + "}" }
func (s *Store) userSessionsKey(user string) string  { return s.prefix + "usess:{" + user + "}" }
func (s *Store) sessionFamiliesKey(id string) string { return s.prefix + "sess:{" + id + "}:f" }

// sessionRecord is a session as stored: its JSON plus the two ends in
// Unix microseconds (as strings: Lua's cjson writes numbers with 14
// digits), which the touch script compares.
type sessionRecord struct {
	store.Session
	Exp  int64 `json:"x_exp,string"`
	Idle int64 `json:"x_idle,string"`
	Last int64 `json:"x_last,string"` // LastActiveAt, for SessionTouch.Slack
}

func encodeSession(s store.Session) ([]byte, error) {
	s.Families = nil // kept in their own list
	r := sessionRecord{Session: s, Exp: s.ExpiresAt.UnixMicro(), Idle: s.ExpiresAt.UnixMicro(), Last: s.LastActiveAt.UnixMicro()}
	if !s.IdleExpiresAt.IsZero() {
		r.Idle = s.IdleExpiresAt.UnixMicro()
	}
	return json.Marshal(r)
}

// touchSessionScript is SessionTouch.Apply on the stored record, in one
// round trip. KEYS: session, its families. ARGV: now (µs), now+IdleTTL (µs), the JSON
// strings of now and now+IdleTTL, client ID, family ID, the most families
// kept, Slack (µs). Within Slack (SessionTouch.Apply) the record is left
// as it is and only the family added. Returns the record as stored, or
// nil if the session is gone at now.
var touchSessionScript = goredis.NewScript(`
local raw = redis.call('GET', KEYS[1])
if not raw then return false end
local s = cjson.decode(raw)
local now, exp, idle = tonumber(ARGV[1]), tonumber(s.x_exp), tonumber(s.x_idle)
if now >= math.min(exp, idle) then return false end
local function has(list, v)
	for _, x in ipairs(list or {}) do
		if x == v then return true end
	end
	return false
end
local slack, last = tonumber(ARGV[8]), tonumber(s.x_last or '')
local out, at
if slack > 0 and last and now >= last and now - last < slack and (ARGV[5] == '' or has(s.clients, ARGV[5])) then
	out, at = raw, math.floor(math.min(exp, idle) / 1000) + 1
else
	s.last_active_at, s.x_last = ARGV[3], ARGV[1]
	local nidle = tonumber(ARGV[2])
	if nidle > exp then
		s.idle_expires_at, s.x_idle, nidle = s.expires_at, s.x_exp, exp
	else
		s.idle_expires_at, s.x_idle = ARGV[4], ARGV[2]
	end
	if ARGV[5] ~= '' and not has(s.clients, ARGV[5]) then
		s.clients = s.clients or {}
		table.insert(s.clients, ARGV[5])
	end
	out = cjson.encode(s)
	at = math.floor(math.min(exp, nidle) / 1000) + 1
	redis.call('SET', KEYS[1], out, 'PXAT', at)
end
if ARGV[6] ~= '' and not redis.call('LPOS', KEYS[2], ARGV[6]) then
	redis.call('RPUSH', KEYS[2], ARGV[6])
	redis.call('LTRIM', KEYS[2], -tonumber(ARGV[7]), -1)
end
redis.call('PEXPIREAT', KEYS[2], at)
return out
`)

// createSessionScript stores a session and its families unless the ID
// is taken. KEYS: session, its families. ARGV: JSON, expiry (ms),
// families... Returns 1 if stored, 0 if taken.
var createSessionScript = goredis.NewScript(`
if redis.call('EXISTS', KEYS[1]) == 1 then
	return 0
end
redis.call('SET', KEYS[1], ARGV[1], 'PXAT', ARGV[2])
redis.call('DEL', KEYS[2])
if #ARGV > 2 then
	redis.call('RPUSH', KEYS[2], unpack(ARGV, 3))
	redis.call('PEXPIREAT', KEYS[2], ARGV[2])
end
return 1
`)

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
	b, err := encodeSession(rec)
	if err != nil {
		return fmt.Errorf("redis create session: encode: %w", err)
	}
	fams := rec.Families
	if n := len(fams) - store.MaxSessionFamilies; n > 0 {
		fams = fams[n:]
	}
	args := make([]any, 0, 2+len(fams))
	args = append(args, b, rec.LiveUntil().UnixMilli()+1)
	for _, f := range fams {
		args = append(args, f)
	}
	reply, wait, err := s.script(ctx, createSessionScript, []string{s.sessionKey(rec.ID), s.sessionFamiliesKey(rec.ID)}, args...)
	if err != nil {
		return s.fail("create session", err)
	}
	n, err := reply.Int()
	if err != nil {
		return s.fail("create session", err)
	}
	if n == 0 {
		return fmt.Errorf("redis create session: %w", store.ErrExists)
	}
	if err := s.checkReplicated("create session", wait); err != nil {
		return err
	}
	// The index is durable too: admin listing and ending a user's
	// sessions read it.
	reply, wait, err = s.script(ctx, indexSessionScript, []string{s.userSessionsKey(rec.UserID)},
		rec.ID, rec.ExpiresAt.UnixMilli(), s.now().UnixMilli())
	if err == nil {
		err = reply.Err()
	}
	if err != nil {
		return s.fail("index session", err)
	}
	return s.checkReplicated("index session", wait)
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

// TouchSession applies t in one script (touchSessionScript).
func (s *Store) TouchSession(ctx context.Context, id string, t store.SessionTouch) (store.Session, error) {
	now := t.Now
	idle := now.Add(t.IdleTTL)
	nowJSON, err := json.Marshal(now)
	if err != nil {
		return store.Session{}, fmt.Errorf("redis touch session: %w", err)
	}
	idleJSON, err := json.Marshal(idle)
	if err != nil {
		return store.Session{}, fmt.Errorf("redis touch session: %w", err)
	}
	keys := []string{s.sessionKey(id), s.sessionFamiliesKey(id)}
	args := []any{now.UnixMicro(), idle.UnixMicro(), strings.Trim(string(nowJSON), `"`), strings.Trim(string(idleJSON), `"`),
		t.ClientID, t.FamilyID, store.MaxSessionFamilies, t.Slack.Microseconds()}
	var reply *goredis.Cmd
	var wait waitReply
	if t.FamilyID != "" {
		// A login entering the session is durable (durable.go): lost in a
		// failover, logging the session out would not end that login.
		reply, wait, err = s.script(ctx, touchSessionScript, keys, args...)
		if err != nil {
			return store.Session{}, s.fail("touch session", err)
		}
	} else {
		reply = touchSessionScript.Run(ctx, s.rdb, keys, args...)
	}
	raw, err := reply.Text()
	if errors.Is(err, goredis.Nil) {
		return store.Session{}, fmt.Errorf("redis touch session: %w", store.ErrNotFound)
	}
	if err != nil {
		return store.Session{}, s.fail("touch session", err)
	}
	if err := s.checkReplicated("touch session", wait); err != nil {
		return store.Session{}, err
	}
	var rec store.Session
	if err := json.Unmarshal([]byte(raw), &rec); err != nil {
		return store.Session{}, fmt.Errorf("redis touch session: decode: %w", err)
	}
	return rec, nil
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

// DeleteSession removes the record and its families (one MULTI on their
// slot), then its index entry. On a durable store the MULTI is followed
// by WAIT on its connection (durable.go: a logout a failover undid would
// sign the browser in again); a short WAIT answers ErrUnavailable, and
// the record deleted is returned with it, so that the caller can still
// notify the session's clients (the delete stands on the primary; a
// retry finds the session gone).
func (s *Store) DeleteSession(ctx context.Context, id string) (store.Session, error) {
	var get *goredis.StringCmd
	var fams *goredis.StringSliceCmd
	var wait *goredis.Cmd
	tx := func(p goredis.Pipeliner) error {
		get = p.GetDel(ctx, s.sessionKey(id))
		fams = p.LRange(ctx, s.sessionFamiliesKey(id), 0, -1)
		p.Del(ctx, s.sessionFamiliesKey(id))
		return nil
	}
	var err error
	if s.durable() {
		conn, cerr := s.primaryConn(ctx, s.sessionKey(id))
		if cerr != nil {
			return store.Session{}, s.fail("delete session", cerr)
		}
		_, err = conn.TxPipelined(ctx, tx)
		if err == nil || errors.Is(err, goredis.Nil) {
			wait = conn.Do(ctx, "WAIT", s.waitReplicas, s.waitTimeout.Milliseconds())
		}
		conn.Close()
	} else {
		_, err = s.rdb.TxPipelined(ctx, tx)
	}
	if err != nil && !errors.Is(err, goredis.Nil) {
		return store.Session{}, s.fail("delete session", err)
	}
	raw, err := get.Bytes()
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
	rec.Families = fams.Val()
	// A stale index entry is harmless (ListSessions skips and drops
	// members whose record is gone), so this one is not waited for.
	if err := s.rdb.ZRem(ctx, s.userSessionsKey(rec.UserID), id).Err(); err != nil {
		return store.Session{}, s.fail("unindex session", err)
	}
	if rec.ExpiredAt(s.now()) {
		return store.Session{}, fmt.Errorf("redis delete session: %w", store.ErrNotFound)
	}
	if wait != nil {
		if err := s.replicated("delete session", wait); err != nil {
			return rec, err
		}
	}
	return rec, nil
}

// SessionFamilies reads the families list of a live session (one MULTI:
// the record's existence and the list).
func (s *Store) SessionFamilies(ctx context.Context, id string) ([]string, error) {
	var get *goredis.StringCmd
	var fams *goredis.StringSliceCmd
	_, err := s.rdb.TxPipelined(ctx, func(p goredis.Pipeliner) error {
		get = p.Get(ctx, s.sessionKey(id))
		fams = p.LRange(ctx, s.sessionFamiliesKey(id), 0, -1)
		return nil
	})
	if err != nil && !errors.Is(err, goredis.Nil) {
		return nil, s.fail("session families", err)
	}
	raw, err := get.Bytes()
	if errors.Is(err, goredis.Nil) {
		return nil, fmt.Errorf("redis session families: %w", store.ErrNotFound)
	}
	if err != nil {
		return nil, s.fail("session families", err)
	}
	var rec store.Session
	if err := json.Unmarshal(raw, &rec); err != nil {
		return nil, fmt.Errorf("redis session families: decode: %w", err)
	}
	if rec.ExpiredAt(s.now()) {
		return nil, fmt.Errorf("redis session families: %w", store.ErrNotFound)
	}
	return fams.Val(), nil
}
