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

// expPushed marks pushed authorization requests in the expiry index.
const expPushed byte = 'p'

// bucketPushed holds pushed authorization requests (store.PushedRequests):
// id → big-endian expiry (Unix ns) followed by the request. It is created
// on first use, so a database written by an older version needs no
// migration; the sweeper deletes expired records.
var bucketPushed = []byte("pushed_requests")

var _ store.PushedRequests = (*Store)(nil)

// PutPushedRequest stores req under id until expiresAt
// (store.PushedRequests), indexed for the expiry sweep.
func (s *Store) PutPushedRequest(ctx context.Context, id string, req []byte, expiresAt time.Time) error {
	now := s.now()
	if id == "" {
		return errors.New("bolt: put pushed request: empty id")
	}
	if !expiresAt.After(now) {
		return fmt.Errorf("bolt: put pushed request: expiresAt %s is not in the future", expiresAt)
	}
	k := []byte(id)
	var taken bool // a live record holds id: the outcome, nothing written
	err := s.batch(ctx, "put pushed request", func(tx *bbolt.Tx) error {
		taken = false
		b, err := tx.CreateBucketIfNotExists(bucketPushed)
		if err != nil {
			return err
		}
		var oldExp time.Time
		if exp, _, ok := decodePushed(b.Get(k)); ok {
			if !expired(exp, now) {
				taken = true
				return nil
			}
			oldExp = exp
		}
		v := make([]byte, 8+len(req))
		binary.BigEndian.PutUint64(v, uint64(expiresAt.UnixNano()))
		copy(v[8:], req)
		if err := b.Put(k, v); err != nil {
			return err
		}
		return reindex(tx, expPushed, k, oldExp, expiresAt)
	})
	if err == nil && taken {
		err = fmt.Errorf("bolt: put pushed request: %w", store.ErrExists)
	}
	return err
}

// TakePushedRequest returns and deletes the request under id
// (store.PushedRequests) in one write transaction (a group commit), which
// is what makes it single use; an expired record is deleted and reported
// ErrNotFound.
func (s *Store) TakePushedRequest(ctx context.Context, id string) ([]byte, error) {
	now := s.now()
	k := []byte(id)
	var out []byte
	err := s.batch(ctx, "take pushed request", func(tx *bbolt.Tx) error {
		out = nil
		b := tx.Bucket(bucketPushed)
		if b == nil {
			return nil // not found
		}
		exp, req, ok := decodePushed(b.Get(k))
		if !ok {
			return nil // not found
		}
		if err := b.Delete(k); err != nil {
			return err
		}
		if err := reindex(tx, expPushed, k, exp, time.Time{}); err != nil {
			return err
		}
		if expired(exp, now) {
			return nil
		}
		out = append([]byte{}, req...)
		return nil
	})
	if err != nil {
		return nil, err
	}
	if out == nil {
		return nil, fmt.Errorf("bolt: take pushed request: %w", store.ErrNotFound)
	}
	return out, nil
}

// decodePushed splits a stored record; false when there is none.
func decodePushed(v []byte) (exp time.Time, req []byte, ok bool) {
	if len(v) < 8 {
		return time.Time{}, nil, false
	}
	return time.Unix(0, int64(binary.BigEndian.Uint64(v))), v[8:], true
}

// pushedExpiry is the expiry of the pushed request at key, for the sweep
// (zero when there is none).
func pushedExpiry(tx *bbolt.Tx, key []byte) time.Time {
	b := tx.Bucket(bucketPushed)
	if b == nil {
		return time.Time{}
	}
	exp, _, _ := decodePushed(b.Get(key))
	return exp
}
