// Package redistest gives tests a Redis: the one `make test` provides on
// 127.0.0.1:6379 (scripts/ensure-redis.sh), or the one AUTHD_TEST_REDIS_URL
// names, under a key prefix of their own that is deleted afterwards; a
// throw-away three-node Redis Cluster started from the redis-server binary;
// private servers that can be stopped and started (Server); and a private
// Sentinel deployment — a primary, a replica and three redis-sentinel
// processes — whose primary a test can kill or partition (Sentinel).
//
// When Redis (or redis-server, for Cluster) is missing, tests are skipped
// on a developer machine but fail when CI=true: in CI a skipped Redis test
// would hide a broken backend.
package redistest

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"os"
	"testing"
	"time"

	goredis "github.com/redis/go-redis/v9"
)

// EnvURL names the environment variable that overrides DefaultURL.
const EnvURL = "AUTHD_TEST_REDIS_URL"

// DefaultURL is the Redis that `make test` makes sure of.
const DefaultURL = "redis://127.0.0.1:6379/0"

// Unavailable ends the test because something it needs is missing: a
// failure when the environment has CI=true, a skip otherwise.
func Unavailable(t testing.TB, format string, args ...any) {
	t.Helper()
	if os.Getenv("CI") == "true" {
		t.Fatalf("CI=true and "+format, args...)
	}
	t.Skipf(format+" (run `make redis`; with CI=true this fails)", args...)
}

// URL returns the test Redis URL after checking that it answers PING.
func URL(t testing.TB) string {
	t.Helper()
	u := os.Getenv(EnvURL)
	if u == "" {
		u = DefaultURL
	}
	opts, err := goredis.ParseURL(u)
	if err != nil {
		t.Fatalf("%s=%q: %v", EnvURL, u, err)
	}
	// One quick probe: a missing Redis must not cost every test seconds
	// of dial retries.
	opts.DialTimeout, opts.DialerRetries, opts.MaxRetries = time.Second, 1, -1
	rdb := goredis.NewClient(opts)
	defer rdb.Close()
	if err := rdb.Ping(context.Background()).Err(); err != nil {
		Unavailable(t, "no Redis at %s: %v", u, err)
	}
	return u
}

// Client returns a client of the test Redis, closed when the test ends.
func Client(t testing.TB) *goredis.Client {
	t.Helper()
	opts, err := goredis.ParseURL(URL(t))
	if err != nil {
		t.Fatal(err)
	}
	rdb := goredis.NewClient(opts)
	t.Cleanup(func() { _ = rdb.Close() })
	return rdb
}

// Prefix returns a fresh key prefix, "authdtest:<random>:", and deletes
// every key under it (SCAN, on every primary of a Cluster) when the test
// ends. rdb must stay open until then: create it before calling Prefix.
func Prefix(t testing.TB, rdb goredis.UniversalClient) string {
	t.Helper()
	var b [8]byte
	_, _ = rand.Read(b[:])
	prefix := "authdtest:" + hex.EncodeToString(b[:]) + ":"
	t.Cleanup(func() {
		ctx := context.Background()
		var err error
		if cc, ok := rdb.(*goredis.ClusterClient); ok {
			err = cc.ForEachMaster(ctx, func(ctx context.Context, c *goredis.Client) error {
				return deletePrefix(ctx, c, prefix)
			})
		} else {
			err = deletePrefix(ctx, rdb, prefix)
		}
		if err != nil {
			t.Errorf("redistest: delete keys under %q: %v", prefix, err)
		}
	})
	return prefix
}

// deletePrefix unlinks every key under prefix, one key per command so
// that keys of different Cluster slots never share a command.
func deletePrefix(ctx context.Context, c goredis.Cmdable, prefix string) error {
	iter := c.Scan(ctx, 0, prefix+"*", 1000).Iterator()
	var keys []string
	for iter.Next(ctx) {
		keys = append(keys, iter.Val())
	}
	if err := iter.Err(); err != nil {
		return err
	}
	if len(keys) == 0 {
		return nil
	}
	_, err := c.Pipelined(ctx, func(p goredis.Pipeliner) error {
		for _, k := range keys {
			p.Unlink(ctx, k)
		}
		return nil
	})
	return err
}
