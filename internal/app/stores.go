package app

import (
	"context"
	"fmt"
	"path/filepath"
	"slices"
	"strings"

	"github.com/authd-dev/authd/internal/config"
	"github.com/authd-dev/authd/store"
	"github.com/authd-dev/authd/store/bolt"
	"github.com/authd-dev/authd/store/redis"
)

// storeOpeners maps --store names to constructors.
var storeOpeners = map[string]func(ctx context.Context, cfg config.Config, opts Options) (store.Store, error){
	"bolt": func(ctx context.Context, cfg config.Config, opts Options) (store.Store, error) {
		return bolt.Open(filepath.Join(cfg.DataDir, "authd.db"), bolt.Options{Now: opts.Now, Logger: opts.Logger.With("component", "store")})
	},
	"redis": func(ctx context.Context, cfg config.Config, opts Options) (store.Store, error) {
		return redis.Open(ctx, redis.Options{
			URL:        cfg.RedisURL,
			Addrs:      cfg.RedisAddrs,
			MasterName: cfg.RedisMasterName,
			Prefix:     cfg.RedisPrefix,
			// Feed retention covers the longest denial (config derives it).
			FeedRetention: cfg.RedisFeedRetention,
			// Durable writes (WAIT): on by default with Sentinel/Cluster.
			WaitReplicas: cfg.RedisDurableReplicas,
			WaitTimeout:  cfg.RedisWaitTimeout,
			Now:          opts.Now,
			Logger:       opts.Logger.With("component", "store"),
		})
	},
}

func openStore(ctx context.Context, cfg config.Config, opts Options) (store.Store, error) {
	open, ok := storeOpeners[cfg.Store]
	if !ok {
		names := make([]string, 0, len(storeOpeners))
		for n := range storeOpeners {
			names = append(names, n)
		}
		slices.Sort(names)
		return nil, fmt.Errorf("--store: unknown store %q (one of %s)", cfg.Store, strings.Join(names, ", "))
	}
	st, err := open(ctx, cfg, opts)
	if err != nil {
		return nil, fmt.Errorf("open %s store: %w", cfg.Store, err)
	}
	return st, nil
}
