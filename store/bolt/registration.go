package bolt

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"strings"
	"time"

	bbolt "go.etcd.io/bbolt"

	"github.com/authd-dev/authd/store"
)

// bucketRegTokens holds initial access tokens (store.RegistrationTokens):
// digest → store.RegistrationToken as JSON. Created on first use, so a
// database written by an older version needs no migration.
var bucketRegTokens = []byte("registration-tokens")

// expRegToken marks registration tokens in the expiry index.
const expRegToken byte = 'i'

var _ store.RegistrationTokens = (*Store)(nil)

// CreateRegistrationToken implements store.RegistrationTokens. An expired
// record under the same digest (not swept yet) is replaced.
func (s *Store) CreateRegistrationToken(ctx context.Context, t store.RegistrationToken) error {
	if len(t.Digest) == 0 || t.Uses < 1 {
		return errors.New("bolt: create registration token: empty digest or uses < 1")
	}
	now := s.now()
	if !t.ExpiresAt.After(now) {
		return fmt.Errorf("bolt: create registration token: expiresAt %s is not in the future", t.ExpiresAt)
	}
	v, err := json.Marshal(t)
	if err != nil {
		return err
	}
	return s.update(ctx, "create registration token", func(tx *bbolt.Tx) error {
		b, err := tx.CreateBucketIfNotExists(bucketRegTokens)
		if err != nil {
			return err
		}
		var old time.Time
		if prev, ok, err := regToken(b, t.Digest); err != nil {
			return err
		} else if ok {
			if !expired(prev.ExpiresAt, now) {
				return fmt.Errorf("bolt: create registration token: %w", store.ErrExists)
			}
			old = prev.ExpiresAt
		}
		if err := b.Put(t.Digest, v); err != nil {
			return err
		}
		return reindex(tx, expRegToken, t.Digest, old, t.ExpiresAt)
	})
}

// UseRegistrationToken implements store.RegistrationTokens in one write
// transaction (bbolt has one writer at a time): read, check, decrement,
// and delete with the last use.
func (s *Store) UseRegistrationToken(ctx context.Context, digest []byte) error {
	now := s.now()
	return s.update(ctx, "use registration token", func(tx *bbolt.Tx) error {
		b := tx.Bucket(bucketRegTokens)
		if b == nil {
			return fmt.Errorf("bolt: use registration token: %w", store.ErrNotFound)
		}
		t, ok, err := regToken(b, digest)
		if err != nil {
			return err
		}
		if !ok || expired(t.ExpiresAt, now) || t.Uses < 1 {
			return fmt.Errorf("bolt: use registration token: %w", store.ErrNotFound)
		}
		t.Uses--
		if t.Uses == 0 {
			if err := b.Delete(digest); err != nil {
				return err
			}
			return reindex(tx, expRegToken, digest, t.ExpiresAt, time.Time{})
		}
		v, err := json.Marshal(t)
		if err != nil {
			return err
		}
		return b.Put(digest, v)
	})
}

// regToken reads one token record; ok is false if there is none.
func regToken(b *bbolt.Bucket, digest []byte) (t store.RegistrationToken, ok bool, err error) {
	v := b.Get(digest)
	if v == nil {
		return t, false, nil
	}
	if err := json.Unmarshal(v, &t); err != nil {
		return t, false, fmt.Errorf("decode registration token: %w", err)
	}
	return t, true, nil
}

// sweepRegToken deletes the token named by an expiry-index entry if it
// has expired by now.
func sweepRegToken(tx *bbolt.Tx, key []byte, now time.Time) (bool, error) {
	b := tx.Bucket(bucketRegTokens)
	if b == nil {
		return false, nil
	}
	t, ok, err := regToken(b, key)
	if err != nil || !ok || !expired(t.ExpiresAt, now) {
		return false, err
	}
	return true, b.Delete(key)
}

// ListRegistrationTokens implements store.RegistrationTokens: one read
// transaction over the bucket (live tokens are few: an operator issues
// them by hand).
func (s *Store) ListRegistrationTokens(ctx context.Context) ([]store.RegistrationToken, error) {
	now := s.now()
	var out []store.RegistrationToken
	err := s.view(ctx, "list registration tokens", func(tx *bbolt.Tx) error {
		b := tx.Bucket(bucketRegTokens)
		if b == nil {
			return nil
		}
		return b.ForEach(func(k, v []byte) error {
			var t store.RegistrationToken
			if err := json.Unmarshal(v, &t); err != nil {
				return fmt.Errorf("decode registration token: %w", err)
			}
			if expired(t.ExpiresAt, now) || t.Uses < 1 {
				return nil
			}
			t.Digest = bytes.Clone(k)
			t.ID = store.RegistrationTokenID(t.Digest)
			out = append(out, t)
			return nil
		})
	})
	if err != nil {
		return nil, err
	}
	slices.SortFunc(out, func(a, b store.RegistrationToken) int {
		if c := a.CreatedAt.Compare(b.CreatedAt); c != 0 {
			return c
		}
		return strings.Compare(a.ID, b.ID)
	})
	return out, nil
}

// DeleteRegistrationToken implements store.RegistrationTokens in one
// write transaction: find the token by ID, delete it and its expiry
// index entry.
func (s *Store) DeleteRegistrationToken(ctx context.Context, id string) error {
	now := s.now()
	return s.update(ctx, "delete registration token", func(tx *bbolt.Tx) error {
		b := tx.Bucket(bucketRegTokens)
		if b == nil {
			return fmt.Errorf("bolt: delete registration token: %w", store.ErrNotFound)
		}
		var found []byte
		var exp time.Time
		err := b.ForEach(func(k, v []byte) error {
			if found != nil || store.RegistrationTokenID(k) != id {
				return nil
			}
			var t store.RegistrationToken
			if err := json.Unmarshal(v, &t); err != nil {
				return fmt.Errorf("decode registration token: %w", err)
			}
			if !expired(t.ExpiresAt, now) && t.Uses >= 1 {
				found, exp = bytes.Clone(k), t.ExpiresAt
			}
			return nil
		})
		if err != nil {
			return err
		}
		if found == nil {
			return fmt.Errorf("bolt: delete registration token: %w", store.ErrNotFound)
		}
		if err := b.Delete(found); err != nil {
			return err
		}
		return reindex(tx, expRegToken, found, exp, time.Time{})
	})
}

// CheckRegistrationToken implements store.RegistrationTokens in one read
// transaction.
func (s *Store) CheckRegistrationToken(ctx context.Context, digest []byte) error {
	now := s.now()
	return s.view(ctx, "check registration token", func(tx *bbolt.Tx) error {
		b := tx.Bucket(bucketRegTokens)
		if b == nil {
			return fmt.Errorf("bolt: check registration token: %w", store.ErrNotFound)
		}
		t, ok, err := regToken(b, digest)
		if err != nil {
			return err
		}
		if !ok || expired(t.ExpiresAt, now) || t.Uses < 1 {
			return fmt.Errorf("bolt: check registration token: %w", store.ErrNotFound)
		}
		return nil
	})
}
