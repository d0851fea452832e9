package bolt

import (
	"bytes"
	"context"
	"errors"
	"slices"
	"strings"
	"time"

	bbolt "go.etcd.io/bbolt"

	"github.com/authd-dev/authd/store"
)

// prefillChunk is how many records one Prefill transaction writes: large
// enough that the fsyncs do not count, small enough that bbolt's dirty
// pages of one transaction stay in the tens of megabytes. bbolt splits
// nodes only at commit, so a key inserted in the middle of a node moves
// the rest of it: each chunk is written in key order, which appends.
const prefillChunk = 50_000

// Prefill bulk-loads families and denylist entries (benchmarks of the
// cost of a full store, issue 13), in a few large write transactions
// instead of one per record. It keeps what the per-record operations
// keep for the hot paths (the records and their expiry index, so the
// sweeper deletes them), and skips what only other paths read: the
// user→family index and the revocation feed. Existing records with the
// same keys are overwritten. It is not part of store.Store.
func (s *Store) Prefill(ctx context.Context, families []store.Family, denials []store.Denial) error {
	for len(families) > 0 || len(denials) > 0 {
		if err := ctx.Err(); err != nil {
			return err
		}
		nf := min(len(families), prefillChunk)
		nd := min(len(denials), prefillChunk-nf)
		fs, ds := slices.Clone(families[:nf]), slices.Clone(denials[:nd])
		families, denials = families[nf:], denials[nd:]
		slices.SortFunc(fs, func(a, b store.Family) int { return strings.Compare(a.ID, b.ID) })
		slices.SortFunc(ds, func(a, b store.Denial) int {
			return bytes.Compare(denialKey(a.Kind, a.Value), denialKey(b.Kind, b.Value))
		})
		err := s.update(ctx, "prefill", func(tx *bbolt.Tx) error {
			for _, f := range fs {
				if f.ID == "" {
					return errEmptyID
				}
				key := []byte(f.ID)
				if err := reindex(tx, expFamily, key, time.Time{}, f.LiveUntil()); err != nil {
					return err
				}
				if err := put(tx, bucketFamilies, key, f); err != nil {
					return err
				}
			}
			for _, d := range ds {
				if d.Value == "" || d.ExpiresAt.IsZero() {
					return errors.New("bolt: prefill: denial without Value or ExpiresAt")
				}
				key := denialKey(d.Kind, d.Value)
				if err := reindex(tx, expDenial, key, time.Time{}, d.ExpiresAt); err != nil {
					return err
				}
				if err := put(tx, bucketDenials, key, denialRecord{At: d.At, ExpiresAt: d.ExpiresAt}); err != nil {
					return err
				}
			}
			return nil
		})
		if err != nil {
			return err
		}
	}
	return nil
}
