package redis

import (
	"context"
	"strconv"
	"time"

	goredis "github.com/redis/go-redis/v9"

	"github.com/authd-dev/authd/store"
)

// The login throttle keeps one string per bucket that is not full:
//
//	P{login}:<bucket key>   theoretical arrival time, Unix µs (GCRA)
//
// Each key expires when its bucket is full again. The {login} hash tag
// keeps every bucket in one Cluster slot, so that one script takes the
// username's and the address's attempt together.

// takeAttemptScript is store.Bucket.Take on every key, all or nothing.
// KEYS: buckets. ARGV: now (µs), then every (µs) and burst per key.
// Returns 0 when taken, else the wait in µs. Times stay below 2^53 µs, so
// Lua's doubles hold them exactly.
var takeAttemptScript = goredis.NewScript(`
local now = tonumber(ARGV[1])
local nexts, wait = {}, 0
for i = 1, #KEYS do
	local every, burst = tonumber(ARGV[2*i]), tonumber(ARGV[2*i+1])
	local tat = tonumber(redis.call('GET', KEYS[i]) or '')
	if tat == nil or tat < now then tat = now end
	local nx = tat + every
	local over = nx - now - burst * every
	if over > wait then wait = over end
	nexts[i] = nx
end
if wait > 0 then return math.ceil(wait) end
for i = 1, #KEYS do
	redis.call('SET', KEYS[i], string.format('%.0f', nexts[i]), 'PX', string.format('%.0f', math.ceil((nexts[i] - now) / 1000)))
end
return 0
`)

// returnAttemptScript is store.Bucket.Return on every key.
// KEYS: buckets. ARGV: now (µs), then every (µs) per key.
var returnAttemptScript = goredis.NewScript(`
local now = tonumber(ARGV[1])
for i = 1, #KEYS do
	local tat = tonumber(redis.call('GET', KEYS[i]) or '')
	if tat then
		local nx = tat - tonumber(ARGV[i+1])
		if nx <= now then
			redis.call('DEL', KEYS[i])
		else
			redis.call('SET', KEYS[i], string.format('%.0f', nx), 'PX', string.format('%.0f', math.ceil((nx - now) / 1000)))
		end
	end
end
return 0
`)

var _ store.ThrottleStore = (*Store)(nil)

func (s *Store) throttleKey(key string) string { return s.prefix + "{login}:" + key }

// TakeAttempt implements store.ThrottleStore in one round trip (a Lua
// script, atomic on the server).
func (s *Store) TakeAttempt(ctx context.Context, now time.Time, buckets []store.Bucket) (time.Duration, error) {
	keys := make([]string, len(buckets))
	args := make([]any, 1, 1+2*len(buckets))
	args[0] = now.UnixMicro()
	for i, b := range buckets {
		if err := b.Check(); err != nil {
			return 0, err
		}
		keys[i] = s.throttleKey(b.Key)
		args = append(args, b.Every.Microseconds(), b.Burst)
	}
	if len(keys) == 0 {
		return 0, nil
	}
	wait, err := takeAttemptScript.Run(ctx, s.rdb, keys, args...).Int64()
	if err != nil {
		return 0, s.fail("take attempt", err)
	}
	return time.Duration(wait) * time.Microsecond, nil
}

// ReturnAttempt implements store.ThrottleStore in one round trip.
func (s *Store) ReturnAttempt(ctx context.Context, now time.Time, buckets []store.Bucket) error {
	keys := make([]string, len(buckets))
	args := make([]any, 1, 1+len(buckets))
	args[0] = now.UnixMicro()
	for i, b := range buckets {
		if err := b.Check(); err != nil {
			return err
		}
		keys[i] = s.throttleKey(b.Key)
		args = append(args, strconv.FormatInt(b.Every.Microseconds(), 10))
	}
	if len(keys) == 0 {
		return nil
	}
	if err := returnAttemptScript.Run(ctx, s.rdb, keys, args...).Err(); err != nil {
		return s.fail("return attempt", err)
	}
	return nil
}
