package bolt

import (
	"context"
	"errors"
	"fmt"
	"time"

	bbolt "go.etcd.io/bbolt"

	"github.com/authd-dev/authd/store"
)

// denialRecord is the stored value of one denylist entry.
type denialRecord struct {
	At        time.Time `json:"at"`
	ExpiresAt time.Time `json:"exp"`
}

// denialKey is the key of a denylist entry: kind NUL value.
func denialKey(kind, value string) []byte {
	k := make([]byte, 0, len(kind)+1+len(value))
	k = append(k, kind...)
	k = append(k, 0)
	return append(k, value...)
}

// Deny adds or extends an entry: each of At and ExpiresAt keeps the later
// of the stored and the given value. An entry that has expired by
// Options.Now counts as absent; one whose ExpiresAt has already passed is
// not stored.
func (s *Store) Deny(ctx context.Context, d store.Denial) error {
	switch d.Kind {
	case store.DenyJTI, store.DenySID, store.DenySubject, store.DenyClient:
	default:
		return fmt.Errorf("bolt: deny: unknown kind %q", d.Kind)
	}
	if d.Value == "" || d.ExpiresAt.IsZero() {
		return errors.New("bolt: deny: Value and ExpiresAt are required")
	}
	now := s.now()
	key := denialKey(d.Kind, d.Value)
	appended := false
	err := s.batch(ctx, "deny", func(tx *bbolt.Tx) error { // a group commit
		appended = false
		var old denialRecord
		exists, err := get(tx, bucketDenials, key, &old)
		if err != nil {
			return err
		}
		rec := denialRecord{At: d.At, ExpiresAt: d.ExpiresAt}
		if exists && !expired(old.ExpiresAt, now) {
			if old.At.After(rec.At) {
				rec.At = old.At
			}
			if old.ExpiresAt.After(rec.ExpiresAt) {
				rec.ExpiresAt = old.ExpiresAt
			}
			if rec.At.Equal(old.At) && rec.ExpiresAt.Equal(old.ExpiresAt) {
				return nil // nothing new
			}
		} else if expired(rec.ExpiresAt, now) {
			return nil // dead on arrival; an expired old record is the sweeper's
		}
		var oldExp time.Time
		if exists {
			oldExp = old.ExpiresAt
		}
		if err := reindex(tx, expDenial, key, oldExp, rec.ExpiresAt); err != nil {
			return err
		}
		if err := put(tx, bucketDenials, key, rec); err != nil {
			return err
		}
		appended = true
		return appendFeed(tx, store.Denial{Kind: d.Kind, Value: d.Value, At: rec.At, ExpiresAt: rec.ExpiresAt})
	})
	if err == nil && appended {
		s.wakeFeed()
	}
	return err
}

// DenyState reads the live entries for the token's identifiers in one
// read transaction; empty identifiers are not looked up.
func (s *Store) DenyState(ctx context.Context, q store.DenyQuery) (store.DenyState, error) {
	now := s.now()
	var st store.DenyState
	err := s.view(ctx, "deny state", func(tx *bbolt.Tx) error {
		for _, e := range []struct {
			kind, value string
			at          *time.Time
		}{
			{store.DenyJTI, q.JTI, &st.JTI},
			{store.DenySID, q.SID, &st.SID},
			{store.DenySubject, q.Subject, &st.Subject},
			{store.DenyClient, q.ClientID, &st.Client},
		} {
			if e.value == "" {
				continue
			}
			var rec denialRecord
			ok, err := get(tx, bucketDenials, denialKey(e.kind, e.value), &rec)
			if err != nil {
				return err
			}
			if ok && !expired(rec.ExpiresAt, now) {
				*e.at = rec.At
			}
		}
		return nil
	})
	if err != nil {
		return store.DenyState{}, err
	}
	return st, nil
}
