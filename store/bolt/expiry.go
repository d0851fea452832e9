package bolt

import (
	"bytes"
	"context"
	"encoding/binary"
	"encoding/json"
	"fmt"
	"slices"
	"time"

	bbolt "go.etcd.io/bbolt"

	"github.com/authd-dev/authd/store"
)

// Types of records in the expiry index.
const (
	expFamily byte = 'f'
	expDenial byte = 'd'
)

// sweepBatch is how many leaves one sweep step may dirty: as many records
// when the due ones are sparse, more when several share a leaf. With the
// group commit, 4 moved the rotations' p99 by +0.6 to +1.2 ms while
// sweeping 100,000 + 100,000 records at 21,000-28,000 a second (8: +1.5
// to +2.9 ms; 16: +2.3 to +3.5 ms; BenchmarkSweepTail,
// docs/performance.md). Records expire as fast as they were written, and
// bolt writes at most ~10,000 expiring records a second (refresh at
// ~4,900 requests a second, two records a revocation).
const sweepBatch = 4

// sweepWindow is how many due index entries one pass of Sweep reads and
// sorts: at most ~50 MB (key bytes, offsets and order). A variable so
// that tests can shrink it.
var sweepWindow = 1 << 20

// sweepStepHook, when set (BenchmarkSweepTail only), is called before each
// step of Sweep.
var sweepStepHook func()

const (
	sweepMaxStep = 512  // records of a step at most
	sweepScan    = 8192 // index entries read by one read transaction
	sweepDense   = 4096 // fewer due records of a type are taken as one a leaf
)

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

// Sweep deletes the records that have expired by Options.Now and returns
// how many it deleted. The background sweeper calls it every
// Options.SweepInterval; it is exported for tests and tools.
//
// A sweep must not hold up concurrent writes (issue 13). Its steps join
// the group commit of concurrent writes (commit.go) instead of committing alone
// (a rotation arriving during a commit of its own waited for all of it),
// and what a step adds to the commit it joins is bounded in pages: a
// commit writes and fsyncs every page it dirtied (50–75 µs a random 4 KB
// page on this machine under load), and records have random keys, so
// records deleted in expiry order each dirty a leaf and, in a large
// bucket, a branch of their own. Sweep therefore reads up to sweepWindow
// due index entries, deletes their records in key order in steps that
// each dirty about sweepBatch leaves (many records a leaf when due
// records are dense, as in a backlog; one a leaf otherwise), then deletes
// the index entries in index order, about sweepBatch leaves of them a
// step. Each step reads and decodes its records in a read transaction
// first, beside the writer, so that its part of the write transaction
// (which every write of the batch waits for) only compares bytes and
// deletes.
func (s *Store) Sweep(ctx context.Context) (int, error) {
	total := 0
	for {
		now := s.now()
		w, full, err := s.dueWindow(ctx, now)
		if err != nil {
			return total, err
		}
		n, err := s.sweepDue(ctx, w, now)
		total += n
		if err != nil {
			return total, err
		}
		if !full {
			s.polls.prune(now)
			return total, nil
		}
	}
}

// due is a window of expiry index entries packed in one buffer (a million
// entries of ~40 bytes without a slice header each).
type due struct {
	buf []byte
	end []int // end[i] is where entry i ends in buf
}

func (d *due) len() int { return len(d.end) }

func (d *due) entry(i int) []byte {
	start := 0
	if i > 0 {
		start = d.end[i-1]
	}
	return d.buf[start:d.end[i]:d.end[i]]
}

func (d *due) add(k []byte) {
	d.buf = append(d.buf, k...)
	d.end = append(d.end, len(d.buf))
}

// dueWindow returns up to sweepWindow index entries due at now, in index
// order, read sweepScan at a time (a long read transaction would hold up
// a writer that must grow the memory map); full is true when there may be
// more.
func (s *Store) dueWindow(ctx context.Context, now time.Time) (w due, full bool, err error) {
	limit := now.UnixNano()
	var after []byte // the last entry read
	for done := false; !done; {
		err := s.view(ctx, "sweep", func(tx *bbolt.Tx) error {
			c := tx.Bucket(bucketExpiry).Cursor()
			k, _ := c.First()
			if after != nil {
				if k, _ = c.Seek(after); bytes.Equal(k, after) {
					k, _ = c.Next()
				}
			}
			for n := 0; ; k, _ = c.Next() {
				if k == nil || len(k) < 9 || int64(binary.BigEndian.Uint64(k)) > limit {
					done = true
					return nil
				}
				if w.len() == sweepWindow {
					done, full = true, true
					return nil
				}
				if n == sweepScan {
					return nil
				}
				w.add(k)
				n++
			}
		})
		if err != nil {
			return w, false, err
		}
		if w.len() > 0 {
			after = w.entry(w.len() - 1)
		}
	}
	return w, full, nil
}

// sweepDue deletes the records of the index entries of w that have
// expired by now, then the entries, and returns how many records it
// deleted.
func (s *Store) sweepDue(ctx context.Context, w due, now time.Time) (int, error) {
	if w.len() == 0 {
		return 0, nil
	}
	perLeaf, idxPerLeaf, err := s.density(ctx, w)
	if err != nil {
		return 0, err
	}
	// Records in key order (type, then key): consecutive ones share leaves.
	order := make([]int, w.len())
	for i := range order {
		order[i] = i
	}
	slices.SortFunc(order, func(a, b int) int { return bytes.Compare(w.entry(a)[8:], w.entry(b)[8:]) })
	deleted := 0
	for i := 0; i < len(order); {
		typ := w.entry(order[i])[8]
		step := min(sweepMaxStep, max(sweepBatch, int(float64(sweepBatch)*perLeaf[typ])))
		j := i + 1
		for j < len(order) && j-i < step && w.entry(order[j])[8] == typ {
			j++
		}
		part := order[i:j]
		if sweepStepHook != nil {
			sweepStepHook()
		}
		checked, err := s.checkDue(ctx, w, part, now)
		if err != nil {
			return deleted, err
		}
		n := 0
		err = s.batch(ctx, "sweep", func(tx *bbolt.Tx) error { // may run twice: it starts afresh
			n = 0
			for _, c := range checked {
				gone, err := c.delete(tx, now)
				if err != nil {
					return err
				}
				if gone {
					n++
				}
			}
			return nil
		})
		deleted += n
		if err != nil {
			return deleted, err
		}
		i = j
	}
	// The index entries, in index order. A record deleted above has no
	// other entry; one that was not (it had not expired, its entry was
	// stale) has its own entry at its real expiry, as reindex keeps it.
	step := min(sweepMaxStep*4, max(sweepBatch, int(float64(sweepBatch)*idxPerLeaf)))
	for i := 0; i < w.len(); i += step {
		j := min(i+step, w.len())
		if sweepStepHook != nil {
			sweepStepHook()
		}
		err := s.batch(ctx, "sweep", func(tx *bbolt.Tx) error {
			idx := tx.Bucket(bucketExpiry)
			for e := i; e < j; e++ {
				if err := idx.Delete(w.entry(e)); err != nil {
					return err
				}
			}
			return nil
		})
		if err != nil {
			return deleted, err
		}
	}
	return deleted, nil
}

// checked is a due record as a read transaction found it.
type checked struct {
	typ     byte
	key     []byte
	bucket  []byte // of a plain type (plainBucket); nil for others
	raw     []byte // its encoding then (nil: there was none)
	expired bool   // whether it had expired by now
}

// checkDue reads and decodes the records of the entries part of w in a
// read transaction.
func (s *Store) checkDue(ctx context.Context, w due, part []int, now time.Time) ([]checked, error) {
	out := make([]checked, len(part))
	err := s.view(ctx, "sweep", func(tx *bbolt.Tx) error {
		for i, e := range part {
			k := w.entry(e)
			c := checked{typ: k[8], key: k[9:], bucket: plainBucket(k[8])}
			if c.bucket != nil {
				raw, exp, err := plainRecord(tx, c.bucket, c.typ, c.key)
				if err != nil {
					return err
				}
				c.raw, c.expired = slices.Clone(raw), expired(exp, now)
			}
			out[i] = c
		}
		return nil
	})
	return out, err
}

// delete deletes the record of c if it has expired by now: judged by the
// read transaction if the record has not changed since, afresh otherwise.
func (c checked) delete(tx *bbolt.Tx, now time.Time) (bool, error) {
	if c.bucket == nil {
		return deleteIfExpired(tx, c.typ, c.key, now)
	}
	b := tx.Bucket(c.bucket)
	switch cur := b.Get(c.key); {
	case !bytes.Equal(cur, c.raw):
		return deleteIfExpired(tx, c.typ, c.key, now)
	case cur == nil || !c.expired:
		return false, nil
	}
	return true, b.Delete(c.key)
}

// plainBucket is the bucket of the records of type typ that are deleted
// alone, without other entries to update (nil for other types).
func plainBucket(typ byte) []byte {
	switch typ {
	case expFamily:
		return bucketFamilies
	case expDenial:
		return bucketDenials
	case expFeed:
		return bucketFeed
	}
	return nil
}

// plainRecord reads the record at key of a plain type's bucket: its
// encoding (nil if there is none) and when it expires.
func plainRecord(tx *bbolt.Tx, bucket []byte, typ byte, key []byte) (raw []byte, exp time.Time, err error) {
	if raw = tx.Bucket(bucket).Get(key); raw == nil {
		return nil, time.Time{}, nil
	}
	switch typ {
	case expFamily:
		var f store.Family
		err = json.Unmarshal(raw, &f)
		exp = f.LiveUntil()
	case expDenial:
		var d denialRecord
		err = json.Unmarshal(raw, &d)
		exp = d.ExpiresAt
	case expFeed:
		var r feedRecord
		err = json.Unmarshal(raw, &r)
		exp = r.ExpiresAt
	}
	if err != nil {
		return nil, time.Time{}, fmt.Errorf("decode %s/%s: %w", bucket, key, err)
	}
	return raw, exp, nil
}

// density estimates, for each type of record in w, how many of them one
// leaf of its bucket holds (the due records of a type, spread over its
// bucket's leaves since keys are random; at least 1), and how many index
// entries one leaf of the index holds. A small window is taken as sparse
// (one record a leaf) without walking the buckets for their statistics.
func (s *Store) density(ctx context.Context, w due) (perLeaf [256]float64, idxPerLeaf float64, err error) {
	for i := range perLeaf {
		perLeaf[i] = 1
	}
	idxPerLeaf = 1
	if w.len() < sweepDense {
		return perLeaf, idxPerLeaf, nil
	}
	var count [256]int
	for i := range w.len() {
		count[w.entry(i)[8]]++
	}
	err = s.view(ctx, "sweep", func(tx *bbolt.Tx) error {
		for typ, bucket := range map[byte][]byte{expFamily: bucketFamilies, expDenial: bucketDenials} {
			if count[typ] < sweepDense {
				continue
			}
			if st := tx.Bucket(bucket).Stats(); st.LeafPageN > 0 {
				perLeaf[typ] = max(1, float64(count[typ])/float64(st.LeafPageN))
			}
		}
		if st := tx.Bucket(bucketExpiry).Stats(); st.LeafPageN > 0 {
			idxPerLeaf = max(1, float64(st.KeyN)/float64(st.LeafPageN))
		}
		return nil
	})
	return perLeaf, idxPerLeaf, err
}

// deleteIfExpired deletes the record named by an index entry if it has
// indeed expired (a stale index entry is just dropped).
func deleteIfExpired(tx *bbolt.Tx, typ byte, key []byte, now time.Time) (bool, error) {
	if bucket := plainBucket(typ); bucket != nil {
		raw, exp, err := plainRecord(tx, bucket, typ, key)
		if err != nil || raw == nil || !expired(exp, now) {
			return false, err
		}
		return true, tx.Bucket(bucket).Delete(key)
	}
	switch typ {
	case expSession:
		return sweepSession(tx, key, now)
	case expPushed:
		exp := pushedExpiry(tx, key)
		if exp.IsZero() || !expired(exp, now) {
			return false, nil
		}
		return true, tx.Bucket(bucketPushed).Delete(key)
	case expRegToken:
		return sweepRegToken(tx, key, now)
	case expDevice:
		return sweepDevice(tx, key, now)
	case expThrottle:
		exp, b := throttleExpiry(tx, key)
		if b == nil || exp.IsZero() || !expired(exp, now) {
			return false, nil
		}
		return true, b.Delete(key)
	default:
		return false, fmt.Errorf("expiry index entry of unknown type %q", typ)
	}
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
