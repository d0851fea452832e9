package redis

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strconv"
	"time"

	goredis "github.com/redis/go-redis/v9"

	"github.com/authd-dev/authd/store"
)

// A family is one compact HASH at Pfam:{<id>} (hash-tagged by its ID, so
// a Cluster accepts the single-key scripts). Field names are one or two
// letters, digests are raw bytes, instants are Unix microseconds (the
// precision records keep; Lua numbers are exact up to 2^53 µs, year 2255),
// empty and zero fields are left out. The key expires (PEXPIRE) at
// min(IdleExpiresAt, ExpiresAt), measured from the Now of the operation
// that sets it, so a test clock and Redis agree on what is left.
const (
	fClient    = "c"
	fSubject   = "s"
	fScope     = "sc"
	fAudience  = "a" // JSON array
	fAuthTime  = "t"
	fCreated   = "cr"
	fExpires   = "x"
	fIdle      = "i"
	fCurrent   = "cu"
	fPrevious  = "p"
	fRotatedAt = "r"
	fSealed    = "sl"
	fRetries   = "n"
	fGen       = "g"
	fRevoked   = "v" // "1"
)

// luaExpired is shared by the family scripts: whether a family whose
// fields x and i (µs) were read is gone at now (µs).
const luaExpired = `
local function expired(x, i, now)
	return now >= x or (i ~= nil and now >= i)
end
`

// createFamilyScript stores a family unless a live one has the ID. KEYS:
// family. ARGV: now (µs), TTL (ms), then field/value pairs. Returns 1 if
// stored (or already expired and so not kept), 0 if the ID is taken.
var createFamilyScript = goredis.NewScript(luaExpired + `
local f = redis.call('HMGET', KEYS[1], 'x', 'i')
local x = tonumber(f[1])
if x then
	if not expired(x, tonumber(f[2]), tonumber(ARGV[1])) then
		return 0
	end
	redis.call('DEL', KEYS[1])
end
if tonumber(ARGV[2]) <= 0 then
	return 1
end
redis.call('HSET', KEYS[1], unpack(ARGV, 3))
redis.call('PEXPIRE', KEYS[1], ARGV[2])
return 1
`)

// revokeFamilyScript marks a live family revoked; its TTL stays. KEYS:
// family. ARGV: now (µs). Returns 1 if revoked, 0 if missing or expired.
var revokeFamilyScript = goredis.NewScript(luaExpired + `
local f = redis.call('HMGET', KEYS[1], 'x', 'i')
local x = tonumber(f[1])
if not x or expired(x, tonumber(f[2]), tonumber(ARGV[1])) then
	return 0
end
redis.call('HSET', KEYS[1], 'v', '1')
return 1
`)

// Outcomes of rotateScript.
const (
	rotOK = iota
	rotRetried
	rotNotFound
	rotRevoked
	rotReused
)

// rotateScript is RotateRefresh: every branch of the store contract in
// one EVALSHA. KEYS: family. ARGV:
//
//  1. Presented digest   2. Next digest   3. SealedNext
//  4. Now (µs, floor)    5. Now+IdleTTL (µs)
//  6. earliest RotatedAt that is still inside the leeway: ceil(Now-Leeway) µs
//  7. MaxRetries
//
// Returns {outcome} or {outcome, HGETALL of the family afterwards}.
// Numbers written back are the caller's strings or HINCRBY results, never
// Lua-formatted floats.
var rotateScript = goredis.NewScript(luaExpired + `
local k = KEYS[1]
local f = redis.call('HMGET', k, 'x', 'i', 'v', 'cu', 'p', 'r', 'n')
local x = tonumber(f[1])
local now = tonumber(ARGV[4])
if not x or expired(x, tonumber(f[2]), now) then
	return {2}
end
if f[3] then
	return {3, redis.call('HGETALL', k)}
end
if f[4] and ARGV[1] == f[4] then
	local idle = ARGV[5]
	if tonumber(idle) > x then
		idle = f[1]
	end
	redis.call('HSET', k, 'p', f[4], 'cu', ARGV[2], 'r', ARGV[4], 'i', idle)
	if ARGV[3] == '' then
		redis.call('HDEL', k, 'n', 'sl')
	else
		redis.call('HSET', k, 'sl', ARGV[3])
		redis.call('HDEL', k, 'n')
	end
	redis.call('HINCRBY', k, 'g', 1)
	redis.call('PEXPIRE', k, string.format('%.0f', math.ceil((tonumber(idle) - now) / 1000)))
	return {0, redis.call('HGETALL', k)}
end
if f[5] and ARGV[1] == f[5] and tonumber(f[6]) >= tonumber(ARGV[6])
	and (tonumber(f[7]) or 0) < tonumber(ARGV[7]) then
	redis.call('HINCRBY', k, 'n', 1)
	return {1, redis.call('HGETALL', k)}
end
redis.call('HSET', k, 'v', '1')
return {4, redis.call('HGETALL', k)}
`)

// CreateFamily stores a new family; ErrExists if a live one has the ID. A
// family already expired by the store's clock is accepted and not kept.
func (s *Store) CreateFamily(ctx context.Context, f store.Family) error {
	if f.ExpiresAt.IsZero() {
		return fmt.Errorf("redis create family %q: no ExpiresAt", f.ID)
	}
	now := s.now()
	args := []any{micros(now), ttlMillis(familyExpiry(f), now)}
	args = append(args, encodeFamily(f)...)
	n, err := createFamilyScript.Run(ctx, s.rdb, []string{s.familyKey(f.ID)}, args...).Int()
	if err != nil {
		return s.fail("create family", err)
	}
	if n == 0 {
		return fmt.Errorf("redis create family %q: %w", f.ID, store.ErrExists)
	}
	return nil
}

// GetFamily returns a live family, revoked ones too; ErrNotFound if it is
// missing or expired by the store's clock.
func (s *Store) GetFamily(ctx context.Context, id string) (store.Family, error) {
	m, err := s.rdb.HGetAll(ctx, s.familyKey(id)).Result()
	if err != nil {
		return store.Family{}, s.fail("get family", err)
	}
	if len(m) == 0 {
		return store.Family{}, fmt.Errorf("redis get family: %w", store.ErrNotFound)
	}
	f, err := decodeFamily(id, m)
	if err != nil {
		return store.Family{}, err
	}
	if !s.now().Before(familyExpiry(f)) {
		return store.Family{}, fmt.Errorf("redis get family: %w", store.ErrNotFound)
	}
	return f, nil
}

// RotateRefresh rotates or detects reuse in one round trip (a Lua script
// run with EVALSHA), following the branches documented on
// store.FamilyStore. With ErrReused and ErrRevoked the result still holds
// the family as stored.
func (s *Store) RotateRefresh(ctx context.Context, r store.Rotation) (store.RotateResult, error) {
	res, err := rotateScript.Run(ctx, s.rdb, []string{s.familyKey(r.FamilyID)},
		r.Presented, r.Next, r.SealedNext,
		micros(r.Now), micros(r.Now.Add(r.IdleTTL)), ceilMicros(r.Now.Add(-r.Leeway)),
		r.MaxRetries,
	).Slice()
	if err != nil {
		return store.RotateResult{}, s.fail("rotate refresh", err)
	}
	outcome, ok := res[0].(int64)
	if !ok {
		return store.RotateResult{}, fmt.Errorf("redis rotate refresh: unexpected reply %v", res)
	}
	var out store.RotateResult
	if len(res) > 1 {
		pairs, _ := res[1].([]any)
		if out.Family, err = decodeFamily(r.FamilyID, pairsToMap(pairs)); err != nil {
			return store.RotateResult{}, err
		}
	}
	switch outcome {
	case rotOK:
		return out, nil
	case rotRetried:
		out.Retried = true
		return out, nil
	case rotNotFound:
		return out, fmt.Errorf("redis rotate refresh: %w", store.ErrNotFound)
	case rotRevoked:
		return out, fmt.Errorf("redis rotate refresh: %w", store.ErrRevoked)
	case rotReused:
		return out, fmt.Errorf("redis rotate refresh: %w", store.ErrReused)
	}
	return store.RotateResult{}, fmt.Errorf("redis rotate refresh: unexpected outcome %d", outcome)
}

// RevokeFamily marks the family revoked (its expiry stays); ErrNotFound if
// it is gone.
func (s *Store) RevokeFamily(ctx context.Context, id string) error {
	n, err := revokeFamilyScript.Run(ctx, s.rdb, []string{s.familyKey(id)}, micros(s.now())).Int()
	if err != nil {
		return s.fail("revoke family", err)
	}
	if n == 0 {
		return fmt.Errorf("redis revoke family %q: %w", id, store.ErrNotFound)
	}
	return nil
}

// familyExpiry is when the family's record ends.
func familyExpiry(f store.Family) time.Time {
	if !f.IdleExpiresAt.IsZero() && f.IdleExpiresAt.Before(f.ExpiresAt) {
		return f.IdleExpiresAt
	}
	return f.ExpiresAt
}

// encodeFamily returns the field/value pairs of f (ID excluded: it is in
// the key); empty and zero fields are left out.
func encodeFamily(f store.Family) []any {
	kv := make([]any, 0, 30)
	str := func(k, v string) {
		if v != "" {
			kv = append(kv, k, v)
		}
	}
	raw := func(k string, v []byte) {
		if len(v) > 0 {
			kv = append(kv, k, v)
		}
	}
	tm := func(k string, t time.Time) {
		if !t.IsZero() {
			kv = append(kv, k, micros(t))
		}
	}
	num := func(k string, n int) {
		if n != 0 {
			kv = append(kv, k, n)
		}
	}
	str(fClient, f.ClientID)
	str(fSubject, f.Subject)
	str(fScope, f.Scope)
	if len(f.Audience) > 0 {
		b, _ := json.Marshal(f.Audience) // []string always marshals
		raw(fAudience, b)
	}
	tm(fAuthTime, f.AuthTime)
	tm(fCreated, f.CreatedAt)
	tm(fExpires, f.ExpiresAt)
	tm(fIdle, f.IdleExpiresAt)
	raw(fCurrent, f.Current)
	raw(fPrevious, f.Previous)
	tm(fRotatedAt, f.RotatedAt)
	raw(fSealed, f.SealedCurrent)
	num(fRetries, f.Retries)
	num(fGen, f.Generation)
	if f.Revoked {
		kv = append(kv, fRevoked, "1")
	}
	return kv
}

// decodeFamily is the inverse of encodeFamily.
func decodeFamily(id string, m map[string]string) (store.Family, error) {
	var errs []error
	tm := func(k string) time.Time {
		v, ok := m[k]
		if !ok {
			return time.Time{}
		}
		n, err := strconv.ParseInt(v, 10, 64)
		errs = append(errs, err)
		return time.UnixMicro(n).UTC()
	}
	num := func(k string) int {
		v, ok := m[k]
		if !ok {
			return 0
		}
		n, err := strconv.Atoi(v)
		errs = append(errs, err)
		return n
	}
	raw := func(k string) []byte {
		if v, ok := m[k]; ok {
			return []byte(v)
		}
		return nil
	}
	f := store.Family{
		ID:            id,
		ClientID:      m[fClient],
		Subject:       m[fSubject],
		Scope:         m[fScope],
		AuthTime:      tm(fAuthTime),
		CreatedAt:     tm(fCreated),
		ExpiresAt:     tm(fExpires),
		IdleExpiresAt: tm(fIdle),
		Current:       raw(fCurrent),
		Previous:      raw(fPrevious),
		RotatedAt:     tm(fRotatedAt),
		SealedCurrent: raw(fSealed),
		Retries:       num(fRetries),
		Generation:    num(fGen),
		Revoked:       m[fRevoked] == "1",
	}
	if a, ok := m[fAudience]; ok {
		errs = append(errs, json.Unmarshal([]byte(a), &f.Audience))
	}
	if err := errors.Join(errs...); err != nil {
		return store.Family{}, fmt.Errorf("redis: decode family %q: %w", id, err)
	}
	return f, nil
}

// pairsToMap turns a flat HGETALL reply from a script into a map.
func pairsToMap(pairs []any) map[string]string {
	m := make(map[string]string, len(pairs)/2)
	for i := 0; i+1 < len(pairs); i += 2 {
		k, _ := pairs[i].(string)
		v, _ := pairs[i+1].(string)
		m[k] = v
	}
	return m
}

// micros is t in Unix microseconds, rounded down.
func micros(t time.Time) int64 { return t.UnixMicro() }

// ceilMicros is t in Unix microseconds, rounded up.
func ceilMicros(t time.Time) int64 {
	m := t.UnixMicro()
	if t.Nanosecond()%1000 != 0 {
		m++
	}
	return m
}

// ttlMillis is the time from now until t in whole milliseconds, rounded
// up (so a key never outlives-by-less its record), ≤ 0 if t has passed.
func ttlMillis(t, now time.Time) int64 {
	d := t.Sub(now)
	if d <= 0 {
		return 0
	}
	return int64((d + time.Millisecond - 1) / time.Millisecond)
}
