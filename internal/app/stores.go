package app

import (
	"context"
	"fmt"
	"net"
	"net/url"
	"path/filepath"
	"slices"
	"strconv"
	"time"

	"github.com/authd-dev/authd/internal/config"
	"github.com/authd-dev/authd/store"
	"github.com/authd-dev/authd/store/bolt"
	"github.com/authd-dev/authd/store/redis"
)

// storeBackend is one --store choice, whole: its settings and their
// validation (registered with internal/config) and its constructor. A new
// backend is one more entry here and nothing elsewhere.
type storeBackend struct {
	config.StoreBackend
	open func(ctx context.Context, cfg config.Config, opts Options) (store.Store, error)
}

// storeBackends is the registry of --store names (Dex's storages map).
var storeBackends = []storeBackend{
	{
		StoreBackend: config.StoreBackend{
			Name:  "bolt",
			Usage: "embedded, in --data-dir",
			Validate: func(c *config.Config, _ any) error {
				if c.DataDir == "" {
					return config.Invalid("data-dir", "is required with --store bolt")
				}
				return nil
			},
		},
		open: func(ctx context.Context, cfg config.Config, opts Options) (store.Store, error) {
			return bolt.Open(filepath.Join(cfg.DataDir, "authd.db"), bolt.Options{Now: opts.Now, Logger: opts.Logger.With("component", "store")})
		},
	},
	{
		StoreBackend: config.StoreBackend{
			Name:       "redis",
			Usage:      "shared by many replicas",
			NewOptions: func() any { return &RedisSettings{} },
			Settings: []config.StoreSetting{
				{Name: "redis-url", Default: "redis://127.0.0.1:6379/0", Usage: "go-redis URL (redis://, rediss://) of a single Redis", Field: func(o any) any { return &o.(*RedisSettings).URL }},
				{Name: "redis-addrs", Usage: "comma-separated Redis addresses: Redis Cluster, or Sentinel with --redis-master-name", Field: func(o any) any { return &o.(*RedisSettings).Addrs }},
				{Name: "redis-master-name", Usage: "Redis Sentinel master name", Field: func(o any) any { return &o.(*RedisSettings).MasterName }},
				{Name: "redis-prefix", Default: "authd:", Usage: "prefix of every Redis key", Field: func(o any) any { return &o.(*RedisSettings).Prefix }},
				{Name: "redis-wait-replicas", Default: "auto", Usage: "replicas that must hold a login, rotation, revocation or denylist write before it is answered (Redis WAIT), so a failover keeps it: auto (1 with Sentinel or Cluster, off for a single Redis), off, or a number", Field: func(o any) any { return &o.(*RedisSettings).WaitReplicas }},
				{Name: "redis-wait-timeout", Default: "200ms", Usage: "how long such a write waits for the replicas before it answers 503 instead (1ms to 400ms)", Field: func(o any) any { return &o.(*RedisSettings).WaitTimeout }},
			},
			Validate: func(_ *config.Config, opts any) error { return opts.(*RedisSettings).validate() },
		},
		open: func(ctx context.Context, cfg config.Config, opts Options) (store.Store, error) {
			rs := cfg.StoreOptions().(*RedisSettings)
			return redis.Open(ctx, redis.Options{
				URL:        rs.URL,
				Addrs:      rs.Addrs,
				MasterName: rs.MasterName,
				Prefix:     rs.Prefix,
				// Feed retention covers the longest denial (config derives
				// it from --access-token-ttl).
				FeedRetention: cfg.RedisFeedRetention,
				// Durable writes (WAIT): on by default with Sentinel/Cluster.
				WaitReplicas: rs.durable,
				WaitTimeout:  rs.WaitTimeout,
				Now:          opts.Now,
				Logger:       opts.Logger.With("component", "store"),
			})
		},
	},
}

// RedisSettings are the Redis backend's settings (--redis-*), as
// config.Config.StoreOptions returns them with --store redis.
type RedisSettings struct {
	URL        string
	Addrs      []string
	MasterName string
	Prefix     string
	// WaitReplicas is --redis-wait-replicas as given: "auto", "off" or a
	// count; validation resolves it (DurableReplicas).
	WaitReplicas string
	// WaitTimeout bounds each WAIT for the replicas.
	WaitTimeout time.Duration
	durable     int
}

// DurableReplicas is how many replicas must acknowledge a family or
// denylist write before it is answered; 0 is off. auto is 1 with Sentinel
// or Cluster, 0 for a single Redis (WAIT could never succeed without
// replicas).
func (s *RedisSettings) DurableReplicas() int { return s.durable }

// maxRedisWaitTimeout keeps a WAIT inside the Redis client's 500 ms read
// timeout of the round trip it shares with its write
// (redis.MaxWaitTimeout).
const maxRedisWaitTimeout = 400 * time.Millisecond

func (s *RedisSettings) validate() error {
	if len(s.Addrs) == 0 {
		u, err := url.Parse(s.URL)
		if err != nil || !slices.Contains([]string{"redis", "rediss", "unix"}, u.Scheme) {
			return config.Invalid("redis-url", "must be a redis://, rediss:// or unix:// URL")
		}
	}
	for _, a := range s.Addrs {
		if _, _, err := net.SplitHostPort(a); err != nil {
			return config.Invalid("redis-addrs", "invalid address %q (want host:port)", a)
		}
	}
	if s.MasterName != "" && len(s.Addrs) == 0 {
		return config.Invalid("redis-master-name", "needs --redis-addrs (the Sentinel addresses)")
	}
	switch s.WaitReplicas {
	case "auto": // Sentinel, or several addresses (Cluster): replicas exist.
		s.durable = 0
		if s.MasterName != "" || len(s.Addrs) > 1 {
			s.durable = 1
		}
	case "off":
		s.durable = 0
	default:
		n, err := strconv.Atoi(s.WaitReplicas)
		if err != nil || n < 0 {
			return config.Invalid("redis-wait-replicas", "must be auto, off or a number ≥ 0, got %q", s.WaitReplicas)
		}
		s.durable = n
	}
	if s.durable > 0 && (s.WaitTimeout < time.Millisecond || s.WaitTimeout > maxRedisWaitTimeout) {
		return config.Invalid("redis-wait-timeout", "must be between 1ms and %v, got %v", maxRedisWaitTimeout, s.WaitTimeout)
	}
	return nil
}

func init() {
	for _, b := range storeBackends {
		config.RegisterStore(b.StoreBackend)
	}
}

func openStore(ctx context.Context, cfg config.Config, opts Options) (store.Store, error) {
	i := slices.IndexFunc(storeBackends, func(b storeBackend) bool { return b.Name == cfg.Store })
	if i < 0 { // config.Load rejects it first
		return nil, fmt.Errorf("--store: unknown store %q", cfg.Store)
	}
	st, err := storeBackends[i].open(ctx, cfg, opts)
	if err != nil {
		return nil, fmt.Errorf("open %s store: %w", cfg.Store, err)
	}
	return st, nil
}
