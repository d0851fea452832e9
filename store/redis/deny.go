package redis

import (
	"context"
	"errors"
	"fmt"
	"math"
	"strconv"
	"strings"
	"time"

	goredis "github.com/redis/go-redis/v9"

	"github.com/authd-dev/authd/store"
)

// denyScript adds or extends one denylist entry: the later At and the
// later expiry win (an entry already expired at now counts as absent).
// The value is "<at ns>:<expires µs>"; the key expires with the entry.
// KEYS: entry. ARGV: At (Unix ns), ExpiresAt (µs), now (µs). At is
// compared as a decimal string (Lua numbers are not exact at nanosecond
// scale); every value is written back as the string given.
var denyScript = goredis.NewScript(`
local function gt(a, b)
	local na, nb = a:sub(1, 1) == '-', b:sub(1, 1) == '-'
	if na ~= nb then return nb end
	if na then a, b = b:sub(2), a:sub(2) end
	if #a ~= #b then return #a > #b end
	return a > b
end
local at, exp = ARGV[1], ARGV[2]
local cur = redis.call('GET', KEYS[1])
if cur then
	local cat, cexp = string.match(cur, '^(-?%d+):(-?%d+)$')
	if cat and tonumber(cexp) > tonumber(ARGV[3]) then
		if gt(cat, at) then at = cat end
		if tonumber(cexp) > tonumber(exp) then exp = cexp end
	end
end
local ttl = math.ceil((tonumber(exp) - tonumber(ARGV[3])) / 1000)
if ttl <= 0 then
	redis.call('DEL', KEYS[1])
	return 0
end
redis.call('SET', KEYS[1], at .. ':' .. exp, 'PX', string.format('%.0f', ttl))
return 1
`)

// Instants that UnixNano can represent.
var (
	minNano = time.Unix(0, math.MinInt64)
	maxNano = time.Unix(0, math.MaxInt64)
)

// Deny adds or extends an entry (one Lua script on its own key) and
// appends it to the revocation feed, both in one round trip (see the feed
// comment in feed.go for atomicity and partial failure). A denial already
// expired is neither written nor appended.
// At keeps its nanoseconds, so it must lie between the years 1678 and 2262.
func (s *Store) Deny(ctx context.Context, d store.Denial) error {
	if d.At.Before(minNano) || d.At.After(maxNano) {
		return fmt.Errorf("redis deny: At %v out of range", d.At)
	}
	now := s.now()
	denyKeys := []string{s.denyKey(d.Kind, d.Value)}
	denyArgs := []any{d.At.UnixNano(), ceilMicros(d.ExpiresAt), micros(now)}
	feedKeys, feedArgs := s.feedAppendArgs(d, now)
	if s.durable() {
		return s.denyDurable(ctx, denyKeys, denyArgs, feedKeys, feedArgs)
	}
	pipe := s.writePipeline()
	deny := denyScript.EvalSha(ctx, pipe, denyKeys, denyArgs...)
	feed := feedAppendScript.EvalSha(ctx, pipe, feedKeys, feedArgs...)
	_, _ = pipe.Exec(ctx) // errors are checked per command
	// A server that lost its script cache (restart, failover, SCRIPT
	// FLUSH) answers NOSCRIPT: run that script again with EVAL. Both
	// scripts are idempotent for readers.
	if isNoScript(deny.Err()) {
		deny = denyScript.Eval(ctx, s.rdb, denyKeys, denyArgs...)
	}
	if err := deny.Err(); err != nil {
		return s.fail("deny", err)
	}
	if isNoScript(feed.Err()) {
		feed = feedAppendScript.Eval(ctx, s.rdb, feedKeys, feedArgs...)
	}
	if err := feed.Err(); err != nil && !errors.Is(err, goredis.Nil) {
		return s.fail("append revocation feed", err)
	}
	return nil
}

// isNoScript reports a NOSCRIPT answer to EVALSHA.
func isNoScript(err error) bool {
	return errors.Is(err, goredis.ErrNoScript) || goredis.HasErrorPrefix(err, "NOSCRIPT")
}

// DenyState reads the entries of one token's identifiers in one pipelined
// round trip of GETs (a Cluster client sends one pipeline per node).
// Empty identifiers are not looked up.
func (s *Store) DenyState(ctx context.Context, q store.DenyQuery) (store.DenyState, error) {
	var st store.DenyState
	lookups := []struct {
		kind, value string
		at          *time.Time
	}{
		{store.DenyJTI, q.JTI, &st.JTI},
		{store.DenySID, q.SID, &st.SID},
		{store.DenySubject, q.Subject, &st.Subject},
		{store.DenyClient, q.ClientID, &st.Client},
	}
	pipe := s.rdb.Pipeline()
	cmds := make([]*goredis.StringCmd, len(lookups))
	for i, l := range lookups {
		if l.value != "" {
			cmds[i] = pipe.Get(ctx, s.denyKey(l.kind, l.value))
		}
	}
	if pipe.Len() == 0 {
		return st, nil
	}
	_, _ = pipe.Exec(ctx) // errors are checked per command
	now := micros(s.now())
	for i, cmd := range cmds {
		if cmd == nil {
			continue
		}
		v, err := cmd.Result()
		if errors.Is(err, goredis.Nil) {
			continue
		}
		if err != nil {
			return store.DenyState{}, s.fail("deny state", err)
		}
		at, exp, err := parseDenial(v)
		if err != nil {
			return store.DenyState{}, fmt.Errorf("redis deny state: %w", err)
		}
		if exp > now {
			*lookups[i].at = time.Unix(0, at).UTC()
		}
	}
	return st, nil
}

func parseDenial(v string) (at, exp int64, err error) {
	a, e, ok := strings.Cut(v, ":")
	if !ok {
		return 0, 0, fmt.Errorf("malformed denylist entry %q", v)
	}
	if at, err = strconv.ParseInt(a, 10, 64); err != nil {
		return 0, 0, err
	}
	if exp, err = strconv.ParseInt(e, 10, 64); err != nil {
		return 0, 0, err
	}
	return at, exp, nil
}
