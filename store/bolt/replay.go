package bolt

import (
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"time"

	bbolt "go.etcd.io/bbolt"

	"github.com/authd-dev/authd/store"
)

// Buckets of the replay record (store.ReplayCache). They are created on
// first use, so a database written by an older version needs no migration.
var (
	bucketReplay = []byte("replay") // key → big-endian expiry (Unix ns)
	// bucketReplayExp orders the entries by expiry for pruning: big-endian
	// expiry, then the key; the value is empty.
	bucketReplayExp = []byte("replay-exp")
)

// replayPrune is how many expired entries each MarkUsed deletes. More than
// one per insert, so the expired entries shrink faster than they grow, and
// few enough that the write transaction stays short.
const replayPrune = 16

var _ store.ReplayCache = (*Store)(nil)

// MarkUsed records key as used until expiresAt (store.ReplayCache). It
// runs in one bbolt write transaction, which is what makes the
// first-writer-wins check atomic; each call also deletes up to 16 expired
// entries, oldest first, so the record is bounded by the entries live in
// the last expiry window.
//
// The mark must survive a restart within the proof window (a replayed
// DPoP proof would otherwise pass after a crash), so it is committed —
// fsynced — before MarkUsed returns: that fsync is the whole cost of a
// DPoP proof on bolt (about 3–4 ms on a VM disk, against microseconds for
// the rest). It goes through the group commit (commit.go), which lets
// concurrent MarkUsed calls (and other hot writes) share one commit: a
// lone call commits at once, and under load the cost per proof falls with
// the number of requests in flight (BenchmarkMarkUsed in
// replay_bench_test.go measures both). A replayed key is the call's
// outcome, not an error of the shared transaction, so a burst of replays
// costs the concurrent writes no rerun. A single
// process owns a bolt file (bbolt's exclusive lock), so there is no
// cheaper cross-process alternative to weigh; an in-memory record flushed
// later would forget the marks of the last interval on a crash.
func (s *Store) MarkUsed(ctx context.Context, key string, expiresAt time.Time) error {
	now := s.now()
	if key == "" {
		return errors.New("bolt: mark used: empty key")
	}
	if !expiresAt.After(now) {
		return fmt.Errorf("bolt: mark used: expiresAt %s is not in the future", expiresAt)
	}
	var replayed bool
	err := s.batch(ctx, "mark used", markUsedTx([]byte(key), expiresAt, now, &replayed))
	if err == nil && replayed {
		err = fmt.Errorf("bolt: mark used: %w", store.ErrExists)
	}
	return err
}

// markUsedTx is the write of MarkUsed: refuse a live key (setting
// *replayed and writing nothing), prune, record.
func markUsedTx(k []byte, expiresAt, now time.Time, replayed *bool) func(*bbolt.Tx) error {
	return func(tx *bbolt.Tx) error {
		*replayed = false
		used, err := tx.CreateBucketIfNotExists(bucketReplay)
		if err != nil {
			return err
		}
		idx, err := tx.CreateBucketIfNotExists(bucketReplayExp)
		if err != nil {
			return err
		}
		var oldExp time.Time // zero: no entry
		if old := used.Get(k); len(old) == 8 {
			oldExp = time.Unix(0, int64(binary.BigEndian.Uint64(old)))
			if now.Before(oldExp) {
				*replayed = true
				return nil
			}
		}
		if err := pruneReplay(used, idx, now); err != nil {
			return err
		}
		if !oldExp.IsZero() { // expired; the prune may have deleted it already
			if err := idx.Delete(replayIndexKey(oldExp, k)); err != nil {
				return err
			}
		}
		v := make([]byte, 8)
		binary.BigEndian.PutUint64(v, uint64(expiresAt.UnixNano()))
		if err := used.Put(k, v); err != nil {
			return err
		}
		return idx.Put(replayIndexKey(expiresAt, k), nil)
	}
}

func replayIndexKey(exp time.Time, key []byte) []byte {
	ns := max(exp.UnixNano(), 0)
	k := make([]byte, 8+len(key))
	binary.BigEndian.PutUint64(k, uint64(ns))
	copy(k[8:], key)
	return k
}

// pruneReplay deletes up to replayPrune entries that expired by now.
func pruneReplay(used, idx *bbolt.Bucket, now time.Time) error {
	limit := now.UnixNano()
	var due [][]byte
	c := idx.Cursor()
	for k, _ := c.First(); k != nil && len(due) < replayPrune; k, _ = c.Next() {
		if len(k) < 8 || int64(binary.BigEndian.Uint64(k)) > limit {
			break
		}
		due = append(due, append([]byte(nil), k...))
	}
	for _, k := range due {
		if err := idx.Delete(k); err != nil {
			return err
		}
		if err := used.Delete(k[8:]); err != nil {
			return err
		}
	}
	return nil
}
