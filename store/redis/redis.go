// Package redis is the Redis storage backend of authd: one Redis, a Redis
// Cluster or a Sentinel-managed primary shared by many authd replicas.
//
// Key layout (every key starts with Options.Prefix, written P below):
//
//	P{clients}:c:<id>     client, JSON          P{clients}:idx  sorted set of client IDs
//	P{users}:u:<id>       user, JSON            P{users}:idx    sorted set of user IDs
//	P{users}:n:<username> user ID               P{keys}:set     hash: v (version), k (JSON keys)
//	Pfam:{<family id>}    family, packed record Pdeny:<kind>:<value>  "<at ns>:<expires µs>"
//	Prevocations          stream: the revocation feed (see feed.go)
//	P{login}:<bucket>     login throttle bucket, GCRA time (see throttle.go)
//	Psess:{<id>}          SSO session, JSON   Pusess:{<user>}  its user's index (see sessions.go)
//	P{consent:<user>}:c   hash: client ID → consent JSON (see consents.go)
//	P{consent:<user>}:f:<client>  sorted set: the user's families with the client
//
// The hash tags ({clients}, {users}, {keys}, {<family id>}) keep every key
// that one script or transaction touches in one Cluster slot. Families and
// denylist entries carry a TTL and the feed stream is trimmed by time as
// it is appended to, so nothing needs sweeping. Multi-key steps
// run as Lua scripts (atomic on the server) or as WATCH/MULTI transactions.
//
// Redis 7.0 or later is required (the feed records its trim boundary with
// XSETID MAXDELETEDID and reads it back from XINFO STREAM).
package redis

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"time"

	goredis "github.com/redis/go-redis/v9"

	"github.com/authd-dev/authd/store"
)

// Default network timeouts: short, so that an outage answers 503 at once
// instead of piling up requests.
const (
	defaultDialTimeout = 500 * time.Millisecond
	defaultIOTimeout   = 500 * time.Millisecond
	defaultPoolTimeout = time.Second
)

// Options configure Open.
type Options struct {
	// URL is a go-redis URL (redis:// or rediss://) of a single node. With
	// Addrs it still supplies the username, password and TLS settings.
	URL string
	// Addrs, when it has two or more entries, names the seed nodes of a
	// Redis Cluster; with MasterName it names Sentinels.
	Addrs []string
	// MasterName selects Sentinel mode: the name of the monitored primary.
	MasterName string
	// Prefix starts every key, e.g. "authd:", so that several
	// installations (or tests) share one Redis.
	Prefix string
	// Now is the clock for expiry decisions (default time.Now). Rotations
	// use Rotation.Now instead.
	Now func() time.Time
	// Logger receives diagnostics (default slog.Default()).
	Logger *slog.Logger
	// FeedRetention is how long revocation-feed records are kept (by this
	// Store's clock; DefaultFeedRetention when zero). Denials (the feed's
	// snapshot) are read from the stream, so it must exceed the longest
	// denial, the access-token TTL plus a minute: authd derives it from
	// --access-token-ttl and validates it (--redis-feed-retention). A
	// follower whose cursor is older than what is kept gets
	// store.ErrCursorExpired.
	FeedRetention time.Duration
	// WaitReplicas, when > 0, makes family and denylist writes durable
	// across a failover: each is acknowledged only after WAIT saw this
	// many replicas hold it, within WaitTimeout (see durable.go). 0 is
	// off: right for a single Redis without replicas, where WAIT could
	// never succeed.
	WaitReplicas int
	// WaitTimeout bounds each WAIT (required, at most MaxWaitTimeout,
	// when WaitReplicas > 0); a WAIT that times out answers
	// store.ErrUnavailable.
	WaitTimeout time.Duration
}

// Store is a store.Store on Redis. It is safe for concurrent use.
type Store struct {
	rdb    goredis.UniversalClient
	prefix string
	now    func() time.Time
	log    *slog.Logger
	// feedRetention bounds the revocation feed stream.
	feedRetention time.Duration
	// waitReplicas and waitTimeout are Options.WaitReplicas/WaitTimeout.
	waitReplicas int
	waitTimeout  time.Duration
}

var _ store.Store = (*Store)(nil)

// Open connects to Redis as opts say and pings it. A Redis that cannot be
// reached gives an error wrapping store.ErrUnavailable.
//
// Commands are never retried by the client (MaxRetries -1): a retried
// rotation script whose first run did commit would see its own token as
// a replay and revoke the login. The caller answers 503 instead and the
// OAuth client retries inside the reuse leeway.
func Open(ctx context.Context, opts Options) (*Store, error) {
	if opts.WaitReplicas < 0 {
		return nil, fmt.Errorf("redis: WaitReplicas %d is negative", opts.WaitReplicas)
	}
	if opts.WaitReplicas > 0 && (opts.WaitTimeout < time.Millisecond || opts.WaitTimeout > MaxWaitTimeout) {
		return nil, fmt.Errorf("redis: WaitTimeout %v must be between 1ms and %v", opts.WaitTimeout, MaxWaitTimeout)
	}
	rdb, err := newClient(opts)
	if err != nil {
		return nil, err
	}
	s := &Store{rdb: rdb, prefix: opts.Prefix, now: opts.Now, log: opts.Logger, feedRetention: opts.FeedRetention,
		waitReplicas: opts.WaitReplicas, waitTimeout: opts.WaitTimeout}
	if s.feedRetention <= 0 {
		s.feedRetention = DefaultFeedRetention
	}
	if s.now == nil {
		s.now = time.Now
	}
	if s.log == nil {
		s.log = slog.Default()
	}
	if err := s.Ping(ctx); err != nil {
		_ = rdb.Close()
		return nil, err
	}
	return s, nil
}

// newClient builds the go-redis client: single node from URL, Cluster from
// several Addrs, Sentinel with MasterName.
func newClient(opts Options) (goredis.UniversalClient, error) {
	if len(opts.Addrs) == 0 {
		if opts.URL == "" {
			return nil, errors.New("redis: neither URL nor Addrs given")
		}
		o, err := goredis.ParseURL(opts.URL)
		if err != nil {
			return nil, fmt.Errorf("redis: URL: %w", err)
		}
		o.DialTimeout = orDefault(o.DialTimeout, defaultDialTimeout)
		o.ReadTimeout = orDefault(o.ReadTimeout, defaultIOTimeout)
		o.WriteTimeout = orDefault(o.WriteTimeout, defaultIOTimeout)
		o.PoolTimeout = orDefault(o.PoolTimeout, defaultPoolTimeout)
		o.MaxRetries = -1
		return goredis.NewClient(o), nil
	}
	u := &goredis.UniversalOptions{
		Addrs:        opts.Addrs,
		MasterName:   opts.MasterName,
		DialTimeout:  defaultDialTimeout,
		ReadTimeout:  defaultIOTimeout,
		WriteTimeout: defaultIOTimeout,
		PoolTimeout:  defaultPoolTimeout,
		MaxRetries:   -1,
	}
	if opts.URL != "" {
		o, err := goredis.ParseURL(opts.URL)
		if err != nil {
			return nil, fmt.Errorf("redis: URL: %w", err)
		}
		u.Username, u.Password, u.TLSConfig = o.Username, o.Password, o.TLSConfig
		if opts.MasterName != "" {
			u.DB = o.DB // Cluster has database 0 only
		}
	}
	return goredis.NewUniversalClient(u), nil
}

func orDefault(d, def time.Duration) time.Duration {
	if d == 0 {
		return def
	}
	return d
}

// Ping reports whether Redis answers (PING).
func (s *Store) Ping(ctx context.Context) error {
	if err := s.rdb.Ping(ctx).Err(); err != nil {
		return s.fail("ping", err)
	}
	return nil
}

// Close closes the connections.
func (s *Store) Close() error { return s.rdb.Close() }

// fail wraps a go-redis error for operation op. Connection failures,
// timeouts and the transient server states (LOADING, READONLY, MASTERDOWN,
// CLUSTERDOWN, TRYAGAIN, max clients, BUSY) wrap store.ErrUnavailable and
// keep the cause; a cancelled context and other server errors do not.
func (s *Store) fail(op string, err error) error {
	if errors.Is(err, context.Canceled) || !unavailable(err) {
		return fmt.Errorf("redis %s: %w", op, err)
	}
	s.log.Debug("redis unavailable", "op", op, "err", err)
	return fmt.Errorf("redis %s: %w: %w", op, store.ErrUnavailable, err)
}

func unavailable(err error) bool {
	var rerr goredis.Error
	if !errors.As(err, &rerr) {
		return true // network, timeout, pool exhausted, closed client
	}
	return goredis.IsLoadingError(err) || goredis.IsReadOnlyError(err) ||
		goredis.IsMasterDownError(err) || goredis.IsClusterDownError(err) ||
		goredis.IsTryAgainError(err) || goredis.IsMaxClientsError(err) ||
		goredis.IsNoReplicasError(err) || goredis.HasErrorPrefix(err, "BUSY")
}

// Key names. See the package comment for the layout.
func (s *Store) clientKey(id string) string     { return s.prefix + "{clients}:c:" + id }
func (s *Store) clientIdx() string              { return s.prefix + "{clients}:idx" }
func (s *Store) userKey(id string) string       { return s.prefix + "{users}:u:" + id }
func (s *Store) userNameKey(name string) string { return s.prefix + "{users}:n:" + name }
func (s *Store) userIdx() string                { return s.prefix + "{users}:idx" }
func (s *Store) keySetKey() string              { return s.prefix + "{keys}:set" }
func (s *Store) familyKey(id string) string     { return s.prefix + "fam:{" + id + "}" }
func (s *Store) denyKey(kind, value string) string {
	return s.prefix + "deny:" + kind + ":" + value
}
