package bolt

import (
	"context"
	"crypto/subtle"
	"errors"
	"fmt"
	"time"

	bbolt "go.etcd.io/bbolt"

	"github.com/authd-dev/authd/store"
)

// CreateFamily stores a new family; store.ErrExists if a live family has
// the ID (an expired one is replaced).
func (s *Store) CreateFamily(ctx context.Context, f store.Family) error {
	if f.ID == "" {
		return errEmptyID
	}
	now := s.now()
	// A group commit (commit.go): a taken ID is this call's outcome, not
	// an error of the shared transaction, so it costs the others no rerun.
	var taken bool
	err := s.batch(ctx, "create family", func(tx *bbolt.Tx) error {
		taken = false
		key := []byte(f.ID)
		var old store.Family
		exists, err := get(tx, bucketFamilies, key, &old)
		if err != nil {
			return err
		}
		var oldExp time.Time // zero: no index entry
		if exists {
			if oldExp = old.LiveUntil(); !old.ExpiredAt(now) {
				taken = true
				return nil // nothing written
			}
		}
		if err := reindex(tx, expFamily, key, oldExp, f.LiveUntil()); err != nil {
			return err
		}
		if err := indexUserFamily(tx, f, now); err != nil { // consents.go
			return err
		}
		return put(tx, bucketFamilies, key, f)
	})
	if err == nil && taken {
		err = fmt.Errorf("family %q: %w", f.ID, store.ErrExists)
	}
	return err
}

// GetFamily returns a live family, revoked ones too; store.ErrNotFound if
// it is missing or expired by Options.Now.
func (s *Store) GetFamily(ctx context.Context, id string) (store.Family, error) {
	now := s.now()
	var f store.Family
	err := s.view(ctx, "get family", func(tx *bbolt.Tx) error {
		ok, err := get(tx, bucketFamilies, []byte(id), &f)
		if err == nil && (!ok || f.ExpiredAt(now)) {
			err = fmt.Errorf("family %q: %w", id, store.ErrNotFound)
		}
		return err
	})
	if err != nil {
		return store.Family{}, err
	}
	return f, nil
}

// RotateRefresh is the rotate-or-detect-reuse step of store.FamilyStore,
// in one write transaction, judged at r.Now (Options.Now if zero). Reuse
// commits the revocation and returns store.ErrReused. A previous token is
// accepted again only with a positive Leeway: a zero leeway means no
// retry window at all, even within the same instant or under clock skew.
func (s *Store) RotateRefresh(ctx context.Context, r store.Rotation) (store.RotateResult, error) {
	if len(r.Presented) == 0 {
		return store.RotateResult{}, errors.New("bolt: rotate refresh token: empty presented digest")
	}
	now := r.Now
	if now.IsZero() {
		now = s.now()
	}
	key := []byte(r.FamilyID)
	var res store.RotateResult
	// outcome is this call's own verdict (ErrNotFound, ErrRevoked,
	// ErrReused). It is never returned from inside the group commit: a
	// failing function rolls the shared transaction back and the others
	// rerun without it, so one dead refresh token would cost every
	// concurrent rotation a second run. Only a failure of the transaction
	// itself (decode, encode, index) is returned there.
	var outcome error
	// A group commit (commit.go): concurrent rotations share one commit
	// (and its fsyncs). The function may still run more than once (after
	// another function's transaction error); it starts from a clean result.
	err := s.batch(ctx, "rotate refresh token", func(tx *bbolt.Tx) error {
		if s.rotateRun != nil {
			s.rotateRun()
		}
		res, outcome = store.RotateResult{}, nil
		var f store.Family
		ok, err := get(tx, bucketFamilies, key, &f)
		if err != nil {
			return err
		}
		oldExp := f.LiveUntil()
		switch {
		case !ok || f.ExpiredAt(now):
			outcome = fmt.Errorf("family %q: %w", r.FamilyID, store.ErrNotFound)
			return nil // nothing to write
		case f.Revoked:
			outcome = fmt.Errorf("family %q: %w", r.FamilyID, store.ErrRevoked)
			return nil // nothing to write
		case equal(r.Presented, f.Current):
			f.Previous, f.Current, f.SealedCurrent = f.Current, r.Next, r.SealedNext
			f.RotatedAt, f.Retries, f.Generation = now, 0, f.Generation+1
			f.IdleExpiresAt = now.Add(r.IdleTTL)
			if !f.ExpiresAt.IsZero() && f.ExpiresAt.Before(f.IdleExpiresAt) {
				f.IdleExpiresAt = f.ExpiresAt
			}
			if r.BindJKT != "" {
				f.JKT = r.BindJKT
			}
		case equal(r.Presented, f.Previous) && r.Leeway > 0 &&
			now.Sub(f.RotatedAt) <= r.Leeway && f.Retries < r.MaxRetries:
			f.Retries++
			res.Retried = true
		default:
			// Reuse: the revocation commits with the batch.
			f.Revoked = true
			outcome = fmt.Errorf("family %q: %w", r.FamilyID, store.ErrReused)
		}
		if err := reindex(tx, expFamily, key, oldExp, f.LiveUntil()); err != nil {
			return err
		}
		res.Family = f
		return put(tx, bucketFamilies, key, f)
	})
	if err != nil {
		return store.RotateResult{}, err
	}
	if outcome != nil {
		return store.RotateResult{}, outcome
	}
	return res, nil
}

// equal compares two digests in constant time; an empty stored digest
// never matches.
func equal(presented, stored []byte) bool {
	return len(stored) > 0 && subtle.ConstantTimeCompare(presented, stored) == 1
}

// RevokeFamily marks the family revoked; store.ErrNotFound if it is
// missing or expired by Options.Now. Revoking twice is not an error.
func (s *Store) RevokeFamily(ctx context.Context, id string) error {
	now := s.now()
	var missing bool
	err := s.batch(ctx, "revoke family", func(tx *bbolt.Tx) error {
		missing = false
		var f store.Family
		ok, err := get(tx, bucketFamilies, []byte(id), &f)
		if err != nil {
			return err
		}
		if !ok || f.ExpiredAt(now) {
			missing = true
			return nil
		}
		if f.Revoked {
			return nil
		}
		f.Revoked = true
		return put(tx, bucketFamilies, []byte(id), f)
	})
	if err == nil && missing {
		err = fmt.Errorf("family %q: %w", id, store.ErrNotFound)
	}
	return err
}
