package bolt

import (
	"context"
	"encoding/binary"
	"fmt"
	"time"

	bbolt "go.etcd.io/bbolt"

	"github.com/authd-dev/authd/store"
)

// expThrottle marks throttle buckets in the expiry index.
const expThrottle byte = 't'

// bucketThrottle holds the login throttle: bucket key → the big-endian
// theoretical arrival time in Unix nanoseconds (store.Bucket.Take). A
// record is indexed for the sweeper at that instant, when the bucket is
// full again and the record holds nothing. The bucket is created on first
// use.
var bucketThrottle = []byte("throttle")

var _ store.ThrottleStore = (*Store)(nil)

// readTAT returns the stored arrival time of key (zero: none).
func readTAT(b *bbolt.Bucket, key []byte) time.Time {
	raw := b.Get(key)
	if len(raw) != 8 {
		return time.Time{}
	}
	return time.Unix(0, int64(binary.BigEndian.Uint64(raw)))
}

// writeTAT stores (or, for a zero next, deletes) key's arrival time and
// moves its expiry index entry.
func writeTAT(tx *bbolt.Tx, b *bbolt.Bucket, key []byte, old, next time.Time) error {
	if next.IsZero() {
		if err := b.Delete(key); err != nil {
			return err
		}
	} else {
		var v [8]byte
		binary.BigEndian.PutUint64(v[:], uint64(next.UnixNano()))
		if err := b.Put(key, v[:]); err != nil {
			return err
		}
	}
	return reindex(tx, expThrottle, key, old, next)
}

func checkBuckets(buckets []store.Bucket) error {
	for _, b := range buckets {
		if err := b.Check(); err != nil {
			return err
		}
	}
	return nil
}

// TakeAttempt implements store.ThrottleStore in one write transaction
// (a group commit shared with concurrent callers; a rerun recomputes from
// the rolled back state, so it stays exact).
func (s *Store) TakeAttempt(ctx context.Context, now time.Time, buckets []store.Bucket) (time.Duration, error) {
	if err := checkBuckets(buckets); err != nil {
		return 0, err
	}
	var wait time.Duration
	err := s.batch(ctx, "take attempt", func(tx *bbolt.Tx) error {
		wait = 0
		b, err := tx.CreateBucketIfNotExists(bucketThrottle)
		if err != nil {
			return err
		}
		olds := make([]time.Time, len(buckets))
		nexts := make([]time.Time, len(buckets))
		for i, bk := range buckets {
			olds[i] = readTAT(b, []byte(bk.Key))
			next, w, ok := bk.Take(olds[i], now)
			if !ok {
				wait = max(wait, w)
			}
			nexts[i] = next
		}
		if wait > 0 {
			return nil // refused: nothing is spent
		}
		for i, bk := range buckets {
			if err := writeTAT(tx, b, []byte(bk.Key), olds[i], nexts[i]); err != nil {
				return fmt.Errorf("bucket %q: %w", bk.Key, err)
			}
		}
		return nil
	})
	if err != nil {
		return 0, err
	}
	return wait, nil
}

// ReturnAttempt implements store.ThrottleStore in one write transaction
// (a group commit).
func (s *Store) ReturnAttempt(ctx context.Context, now time.Time, buckets []store.Bucket) error {
	if err := checkBuckets(buckets); err != nil {
		return err
	}
	return s.batch(ctx, "return attempt", func(tx *bbolt.Tx) error {
		b, err := tx.CreateBucketIfNotExists(bucketThrottle)
		if err != nil {
			return err
		}
		for _, bk := range buckets {
			old := readTAT(b, []byte(bk.Key))
			if old.IsZero() {
				continue // already full
			}
			if err := writeTAT(tx, b, []byte(bk.Key), old, bk.Return(old, now)); err != nil {
				return fmt.Errorf("bucket %q: %w", bk.Key, err)
			}
		}
		return nil
	})
}

// throttleExpiry is when a stored bucket is full again (zero: no record).
func throttleExpiry(tx *bbolt.Tx, key []byte) (time.Time, *bbolt.Bucket) {
	b := tx.Bucket(bucketThrottle)
	if b == nil {
		return time.Time{}, nil
	}
	return readTAT(b, key), b
}
