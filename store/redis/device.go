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

// Device authorizations (store.DeviceAuthStore, RFC 8628):
//
//	P{device}:d:<digest>   hash: rec (the record's fixed part, JSON),
//	                       client, state, exp, last, interval (µs), dec
//	                       (the decision's fields, JSON)
//	P{device}:u:<code>     the digest of the user code's record
//
// Both expire at DeviceAuth.PurgeAt (PXAT). The {device} hash tag keeps
// them in one Cluster slot, so that one script sees both. A consumed
// record's user-code key is left to expire: the code stays taken (a new
// request draws another) and finds no record.

func (s *Store) deviceKey(digest string) string { return s.prefix + "{device}:d:" + digest }
func (s *Store) deviceCodeKey(code string) string {
	return s.prefix + "{device}:u:" + code
}

var _ store.DeviceAuthStore = (*Store)(nil)

// createDeviceScript stores a new record unless its user code or digest
// is taken. KEYS: record, user code. ARGV: rec JSON, client, exp (µs),
// interval (µs), purge (ms), digest. Returns 1, or 0 when taken.
var createDeviceScript = goredis.NewScript(`
if redis.call('EXISTS', KEYS[1]) == 1 or redis.call('EXISTS', KEYS[2]) == 1 then return 0 end
redis.call('HSET', KEYS[1], 'rec', ARGV[1], 'client', ARGV[2], 'state', 'pending', 'exp', ARGV[3], 'interval', ARGV[4], 'last', '', 'dec', '')
redis.call('PEXPIREAT', KEYS[1], ARGV[5])
redis.call('SET', KEYS[2], ARGV[6], 'PXAT', ARGV[5])
return 1
`)

// decideDeviceScript is DeviceAuth.Decide, once. KEYS: user code, record.
// ARGV: digest, now (µs), state, decision JSON. Returns 1; 0 when there is
// no live record; -1 when it was decided already.
var decideDeviceScript = goredis.NewScript(`
if redis.call('GET', KEYS[1]) ~= ARGV[1] then return 0 end
local r = redis.call('HMGET', KEYS[2], 'state', 'exp')
if not r[1] or tonumber(ARGV[2]) >= tonumber(r[2]) then return 0 end
if r[1] ~= 'pending' then return -1 end
redis.call('HSET', KEYS[2], 'state', ARGV[3], 'dec', ARGV[4])
return 1
`)

// pollDeviceScript is DeviceAuth.ApplyPoll. KEYS: record. ARGV: client,
// now (µs), the slow_down step (µs). Returns nil when there is no record
// of that client, else {rec, state, last, interval, dec, flag} with flag
// "expired", "slow" or "ok", the record as the poll left it.
var pollDeviceScript = goredis.NewScript(`
local r = redis.call('HMGET', KEYS[1], 'rec', 'client', 'state', 'exp', 'last', 'interval', 'dec')
if not r[1] or r[2] ~= ARGV[1] then return nil end
local now = tonumber(ARGV[2])
if now >= tonumber(r[4]) then return {r[1], r[3], r[5], r[6], r[7], 'expired'} end
local last, iv, flag = tonumber(r[5]), tonumber(r[6]), 'ok'
if last and now - last < iv then
	iv = iv + tonumber(ARGV[3])
	flag = 'slow'
end
local nows, ivs = string.format('%.0f', now), string.format('%.0f', iv)
if r[3] == 'approved' then
	redis.call('DEL', KEYS[1])
else
	redis.call('HSET', KEYS[1], 'last', nows, 'interval', ivs)
end
return {r[1], r[3], nows, ivs, r[7], flag}
`)

// deviceFixed is the part of a record no operation changes.
type deviceFixed struct {
	DeviceDigest string    `json:"d"`
	UserCode     string    `json:"u"`
	ClientID     string    `json:"c"`
	Scope        string    `json:"s,omitempty"`
	Audience     []string  `json:"a,omitempty"`
	CreatedAt    time.Time `json:"t"`
	ExpiresAt    time.Time `json:"e"`
}

// deviceDecision is the part DecideDeviceAuth sets.
type deviceDecision struct {
	Subject   string    `json:"sub"`
	AuthTime  time.Time `json:"at"`
	SessionID string    `json:"sid,omitempty"`
	FamilyID  string    `json:"fid,omitempty"`
	AMR       []string  `json:"amr,omitempty"`
}

// CreateDeviceAuth stores a new record in one round trip.
func (s *Store) CreateDeviceAuth(ctx context.Context, a store.DeviceAuth) error {
	if a.DeviceDigest == "" || a.UserCode == "" || a.ClientID == "" || a.ExpiresAt.IsZero() {
		return errors.New("redis: create device authorization: empty field")
	}
	rec, err := json.Marshal(deviceFixed{a.DeviceDigest, a.UserCode, a.ClientID, a.Scope, a.Audience, a.CreatedAt, a.ExpiresAt})
	if err != nil {
		return err
	}
	n, err := createDeviceScript.Run(ctx, s.rdb, []string{s.deviceKey(a.DeviceDigest), s.deviceCodeKey(a.UserCode)},
		rec, a.ClientID, a.ExpiresAt.UnixMicro(), a.Interval.Microseconds(), a.PurgeAt().UnixMilli(), a.DeviceDigest).Int()
	if err != nil {
		return s.fail("create device authorization", err)
	}
	if n == 0 {
		return fmt.Errorf("redis: device authorization: %w", store.ErrExists)
	}
	return nil
}

// GetDeviceAuthByUserCode reads the record of a user code (two reads: the
// index, then the record).
func (s *Store) GetDeviceAuthByUserCode(ctx context.Context, userCode string) (store.DeviceAuth, error) {
	digest, err := s.rdb.Get(ctx, s.deviceCodeKey(userCode)).Result()
	if errors.Is(err, goredis.Nil) {
		return store.DeviceAuth{}, fmt.Errorf("redis: device authorization: %w", store.ErrNotFound)
	} else if err != nil {
		return store.DeviceAuth{}, s.fail("get device authorization", err)
	}
	h, err := s.rdb.HMGet(ctx, s.deviceKey(digest), "rec", "state", "last", "interval", "dec").Result()
	if err != nil {
		return store.DeviceAuth{}, s.fail("get device authorization", err)
	}
	vals := make([]string, len(h))
	for i, v := range h {
		if v == nil {
			if i == 0 {
				return store.DeviceAuth{}, fmt.Errorf("redis: device authorization: %w", store.ErrNotFound)
			}
			continue
		}
		vals[i], _ = v.(string)
	}
	return decodeDevice(vals)
}

// decodeDevice rebuilds a record from {rec, state, last, interval, dec}.
func decodeDevice(v []string) (store.DeviceAuth, error) {
	if len(v) < 5 {
		return store.DeviceAuth{}, errors.New("redis: device authorization: short record")
	}
	var f deviceFixed
	if err := json.Unmarshal([]byte(v[0]), &f); err != nil {
		return store.DeviceAuth{}, fmt.Errorf("redis: decode device authorization: %w", err)
	}
	a := store.DeviceAuth{DeviceDigest: f.DeviceDigest, UserCode: f.UserCode, ClientID: f.ClientID, Scope: f.Scope,
		Audience: f.Audience, CreatedAt: f.CreatedAt, ExpiresAt: f.ExpiresAt, State: store.DeviceState(v[1])}
	if last, err := strconv.ParseInt(v[2], 10, 64); err == nil {
		a.LastPollAt = time.UnixMicro(last).UTC()
	}
	if iv, err := strconv.ParseInt(v[3], 10, 64); err == nil {
		a.Interval = time.Duration(iv) * time.Microsecond
	}
	if v[4] != "" {
		var d deviceDecision
		if err := json.Unmarshal([]byte(v[4]), &d); err != nil {
			return store.DeviceAuth{}, fmt.Errorf("redis: decode device decision: %w", err)
		}
		a.Subject, a.AuthTime, a.SessionID, a.FamilyID, a.AMR = d.Subject, d.AuthTime, d.SessionID, d.FamilyID, d.AMR
	}
	return a, nil
}

// DecideDeviceAuth records the decision: one read of the index, then one
// script that checks and writes atomically.
func (s *Store) DecideDeviceAuth(ctx context.Context, userCode string, d store.DeviceDecision) (store.DeviceAuth, error) {
	digest, err := s.rdb.Get(ctx, s.deviceCodeKey(userCode)).Result()
	if errors.Is(err, goredis.Nil) {
		return store.DeviceAuth{}, fmt.Errorf("redis: device authorization: %w", store.ErrNotFound)
	} else if err != nil {
		return store.DeviceAuth{}, s.fail("decide device authorization", err)
	}
	state, dec := store.DeviceDenied, []byte("")
	if d.Approve {
		state = store.DeviceApproved
		if dec, err = json.Marshal(deviceDecision{d.Subject, d.AuthTime, d.SessionID, d.FamilyID, d.AMR}); err != nil {
			return store.DeviceAuth{}, err
		}
	}
	n, err := decideDeviceScript.Run(ctx, s.rdb, []string{s.deviceCodeKey(userCode), s.deviceKey(digest)},
		digest, d.Now.UnixMicro(), string(state), dec).Int()
	switch {
	case err != nil:
		return store.DeviceAuth{}, s.fail("decide device authorization", err)
	case n == 0:
		return store.DeviceAuth{}, fmt.Errorf("redis: device authorization: %w", store.ErrNotFound)
	case n < 0:
		return store.DeviceAuth{}, fmt.Errorf("redis: device authorization decided already: %w", store.ErrConflict)
	}
	return s.GetDeviceAuthByUserCode(ctx, userCode)
}

// PollDeviceAuth applies a poll in one round trip (one script).
func (s *Store) PollDeviceAuth(ctx context.Context, p store.DevicePoll) (store.DevicePollResult, error) {
	reply, err := pollDeviceScript.Run(ctx, s.rdb, []string{s.deviceKey(p.DeviceDigest)},
		p.ClientID, p.Now.UnixMicro(), store.DeviceSlowDownStep.Microseconds()).StringSlice()
	switch {
	case errors.Is(err, goredis.Nil):
		return store.DevicePollResult{}, fmt.Errorf("redis: device authorization: %w", store.ErrNotFound)
	case err != nil:
		return store.DevicePollResult{}, s.fail("poll device authorization", err)
	case len(reply) != 6:
		return store.DevicePollResult{}, fmt.Errorf("redis: poll device authorization: reply of %d values", len(reply))
	}
	a, err := decodeDevice(reply[:5])
	if err != nil {
		return store.DevicePollResult{}, err
	}
	return store.DevicePollResult{Auth: a, SlowDown: reply[5] == "slow", Expired: reply[5] == "expired"}, nil
}
