package bolt

import (
	"context"
	"encoding/binary"
	"fmt"
	"time"

	bbolt "go.etcd.io/bbolt"

	"github.com/authd-dev/authd/store"
)

// Types of records in the expiry index.
const (
	expFamily byte = 'f'
	expDenial byte = 'd'
)

// sweepBatch bounds how many records one sweep step deletes. Each step
// joins the bbolt batch of concurrent writes (rotations) instead of
// committing on its own: a commit costs two fsyncs (~7 ms on a slow
// disk), and a rotation arriving during a separate sweep commit waited
// for all of it, which moved the p99 of rotations by ~20 ms during a
// sweep (BenchmarkSweepTail). A step of 100 records adds about a
// millisecond of decoding to the batch it joins.
const sweepBatch = 100

// sweepStepHook, when set (BenchmarkSweepTail only), is called before each
// step of Sweep.
var sweepStepHook func()

// expired reports whether a record that ends at exp (zero: never) is gone
// at now.
func expired(exp, now time.Time) bool {
	return !exp.IsZero() && !now.Before(exp)
}

// expiryKey is the index key of a record of type typ at key ending at exp.
func expiryKey(exp time.Time, typ byte, key []byte) []byte {
	ns := exp.UnixNano()
	if ns < 0 {
		ns = 0
	}
	k := make([]byte, 9+len(key))
	binary.BigEndian.PutUint64(k, uint64(ns))
	k[8] = typ
	copy(k[9:], key)
	return k
}

// reindex moves the index entry of a record from oldExp to newExp (either
// zero: no entry).
func reindex(tx *bbolt.Tx, typ byte, key []byte, oldExp, newExp time.Time) error {
	if oldExp.Equal(newExp) {
		return nil
	}
	idx := tx.Bucket(bucketExpiry)
	if !oldExp.IsZero() {
		if err := idx.Delete(expiryKey(oldExp, typ, key)); err != nil {
			return err
		}
	}
	if newExp.IsZero() {
		return nil
	}
	return idx.Put(expiryKey(newExp, typ, key), nil)
}

// Sweep deletes the families and denylist entries that have expired by
// Options.Now, in steps of at most sweepBatch records that share their
// commits with concurrent writes (bbolt Batch), and returns how many it
// deleted. The background sweeper calls it every
// Options.SweepInterval; it is exported for tests and tools.
func (s *Store) Sweep(ctx context.Context) (int, error) {
	total := 0
	for {
		now := s.now()
		n, more := 0, false
		if sweepStepHook != nil {
			sweepStepHook()
		}
		err := s.batch(ctx, "sweep", func(tx *bbolt.Tx) error { // may run twice: it starts afresh
			n, more = 0, false
			var err error
			n, more, err = sweepOnce(tx, now)
			return err
		})
		if err != nil {
			return total, err
		}
		total += n
		if !more {
			s.polls.prune(now)
			return total, nil
		}
	}
}

// sweepOnce deletes up to sweepBatch expired records; more is true when
// the batch was full.
func sweepOnce(tx *bbolt.Tx, now time.Time) (deleted int, more bool, err error) {
	limit := now.UnixNano()
	var due [][]byte
	c := tx.Bucket(bucketExpiry).Cursor()
	for k, _ := c.First(); k != nil && len(due) < sweepBatch; k, _ = c.Next() {
		if len(k) < 9 || int64(binary.BigEndian.Uint64(k)) > limit {
			break
		}
		due = append(due, append([]byte(nil), k...))
	}
	idx := tx.Bucket(bucketExpiry)
	for _, k := range due {
		if err := idx.Delete(k); err != nil {
			return deleted, false, err
		}
		gone, err := deleteIfExpired(tx, k[8], k[9:], now)
		if err != nil {
			return deleted, false, err
		}
		if gone {
			deleted++
		}
	}
	return deleted, len(due) == sweepBatch, nil
}

// deleteIfExpired deletes the record named by an index entry if it has
// indeed expired (a stale index entry is just dropped).
func deleteIfExpired(tx *bbolt.Tx, typ byte, key []byte, now time.Time) (bool, error) {
	var bucket []byte
	var exp time.Time
	switch typ {
	case expFamily:
		bucket = bucketFamilies
		var f store.Family
		ok, err := get(tx, bucket, key, &f)
		if err != nil || !ok {
			return false, err
		}
		exp = f.LiveUntil()
	case expDenial:
		bucket = bucketDenials
		var d denialRecord
		ok, err := get(tx, bucket, key, &d)
		if err != nil || !ok {
			return false, err
		}
		exp = d.ExpiresAt
	case expFeed:
		bucket = bucketFeed
		var r feedRecord
		ok, err := get(tx, bucket, key, &r)
		if err != nil || !ok {
			return false, err
		}
		exp = r.ExpiresAt
	case expSession:
		return sweepSession(tx, key, now)
	case expPushed:
		if exp = pushedExpiry(tx, key); exp.IsZero() || !expired(exp, now) {
			return false, nil
		}
		return true, tx.Bucket(bucketPushed).Delete(key)
	case expRegToken:
		return sweepRegToken(tx, key, now)
	case expDevice:
		return sweepDevice(tx, key, now)
	case expThrottle:
		var b *bbolt.Bucket
		if exp, b = throttleExpiry(tx, key); b == nil || exp.IsZero() || !expired(exp, now) {
			return false, nil
		}
		return true, b.Delete(key)
	default:
		return false, fmt.Errorf("expiry index entry of unknown type %q", typ)
	}
	if !expired(exp, now) {
		return false, nil
	}
	return true, tx.Bucket(bucket).Delete(key)
}

// sweepLoop runs Sweep every interval until ctx ends.
func (s *Store) sweepLoop(ctx context.Context, interval time.Duration) {
	defer close(s.sweeperDone)
	tick := time.NewTicker(interval)
	defer tick.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-tick.C:
		}
		n, err := s.Sweep(ctx)
		switch {
		case err != nil && ctx.Err() == nil:
			s.log.Warn("bolt: sweep expired records", "err", err, "deleted", n)
		case n > 0:
			s.log.Debug("bolt: swept expired records", "deleted", n)
		}
	}
}
