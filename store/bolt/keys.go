package bolt

import (
	"context"
	"fmt"

	bbolt "go.etcd.io/bbolt"

	"github.com/authd-dev/authd/store"
)

// GetKeySet returns the stored key set; an empty set with Version 0 when
// none was stored yet.
func (s *Store) GetKeySet(ctx context.Context) (store.KeySet, error) {
	var ks store.KeySet
	err := s.view(ctx, "get key set", func(tx *bbolt.Tx) error {
		_, err := get(tx, bucketKeys, keySet, &ks)
		return err
	})
	if err != nil {
		return store.KeySet{}, err
	}
	return ks, nil
}

// SwapKeySet stores keys as version expect+1 if the stored version is
// still expect (compare-and-swap inside one write transaction);
// store.ErrConflict otherwise.
func (s *Store) SwapKeySet(ctx context.Context, expect uint64, keys []store.Key) (store.KeySet, error) {
	next := store.KeySet{Version: expect + 1, Keys: keys}
	err := s.update(ctx, "swap key set", func(tx *bbolt.Tx) error {
		var cur store.KeySet
		if _, err := get(tx, bucketKeys, keySet, &cur); err != nil {
			return err
		}
		if cur.Version != expect {
			return fmt.Errorf("key set is at version %d, not %d: %w", cur.Version, expect, store.ErrConflict)
		}
		return put(tx, bucketKeys, keySet, next)
	})
	if err != nil {
		return store.KeySet{}, err
	}
	return next, nil
}
