package redis

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strconv"

	goredis "github.com/redis/go-redis/v9"

	"github.com/authd-dev/authd/store"
)

// swapKeySetScript is the compare-and-swap of the key set: the hash holds
// the version (v, decimal, compared as a string so no precision is lost)
// and the JSON of the keys (k). KEYS: set. ARGV: expected version, new
// version, JSON. Returns 1 if swapped, 0 on conflict.
var swapKeySetScript = goredis.NewScript(`
local v = redis.call('HGET', KEYS[1], 'v') or '0'
if v ~= ARGV[1] then
	return 0
end
redis.call('HSET', KEYS[1], 'v', ARGV[2], 'k', ARGV[3])
return 1
`)

// GetKeySet returns the current set; Version 0 and no keys if none was
// stored yet.
func (s *Store) GetKeySet(ctx context.Context) (store.KeySet, error) {
	vals, err := s.rdb.HMGet(ctx, s.keySetKey(), "v", "k").Result()
	if err != nil {
		return store.KeySet{}, s.fail("get key set", err)
	}
	v, _ := vals[0].(string)
	k, _ := vals[1].(string)
	if v == "" {
		return store.KeySet{}, nil
	}
	var ks store.KeySet
	if ks.Version, err = strconv.ParseUint(v, 10, 64); err != nil {
		return store.KeySet{}, fmt.Errorf("redis get key set: version: %w", err)
	}
	if err := json.Unmarshal([]byte(k), &ks.Keys); err != nil {
		return store.KeySet{}, fmt.Errorf("redis get key set: decode: %w", err)
	}
	return ks, nil
}

// SwapKeySet stores keys as version expect+1 if the stored version is
// still expect (one Lua script); ErrConflict otherwise.
func (s *Store) SwapKeySet(ctx context.Context, expect uint64, keys []store.Key) (store.KeySet, error) {
	if expect == ^uint64(0) {
		return store.KeySet{}, errors.New("redis swap key set: version overflow")
	}
	b, err := json.Marshal(keys)
	if err != nil {
		return store.KeySet{}, fmt.Errorf("redis swap key set: encode: %w", err)
	}
	next := expect + 1
	n, err := swapKeySetScript.Run(ctx, s.rdb, []string{s.keySetKey()},
		strconv.FormatUint(expect, 10), strconv.FormatUint(next, 10), b).Int()
	if err != nil {
		return store.KeySet{}, s.fail("swap key set", err)
	}
	if n == 0 {
		return store.KeySet{}, fmt.Errorf("redis swap key set from version %d: %w", expect, store.ErrConflict)
	}
	return store.KeySet{Version: next, Keys: keys}, nil
}
