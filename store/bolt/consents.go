package bolt

import (
	"bytes"
	"context"
	"encoding/binary"
	"encoding/json"
	"fmt"
	"time"

	bbolt "go.etcd.io/bbolt"

	"github.com/authd-dev/authd/store"
)

// Consent buckets. bucketConsents: user ID NUL client ID → store.Consent.
// bucketUserFamilies: user ID NUL client ID NUL family ID → big-endian
// Family.ExpiresAt (Unix nanoseconds), the index DeleteConsent reads.
var (
	bucketConsents     = []byte("consents")
	bucketUserFamilies = []byte("user_families")
)

func consentKey(userID, clientID string) []byte {
	return []byte(userID + "\x00" + clientID + "\x00")
}

// GetConsent returns the user's consent for the client; store.ErrNotFound
// if there is none.
func (s *Store) GetConsent(ctx context.Context, userID, clientID string) (store.Consent, error) {
	var c store.Consent
	err := s.view(ctx, "get consent", func(tx *bbolt.Tx) error {
		ok, err := get(tx, bucketConsents, consentKey(userID, clientID), &c)
		if err == nil && !ok {
			err = fmt.Errorf("consent of %q for %q: %w", userID, clientID, store.ErrNotFound)
		}
		return err
	})
	if err != nil {
		return store.Consent{}, err
	}
	return c, nil
}

// GrantConsent merges scope into the stored consent in one write
// transaction (a group commit).
func (s *Store) GrantConsent(ctx context.Context, userID, clientID, scope string, at, since time.Time) (store.Consent, error) {
	if userID == "" || clientID == "" {
		return store.Consent{}, errEmptyID
	}
	var c store.Consent
	err := s.batch(ctx, "grant consent", func(tx *bbolt.Tx) error {
		key := consentKey(userID, clientID)
		c = store.Consent{}
		if _, err := get(tx, bucketConsents, key, &c); err != nil {
			return err
		}
		if c.GrantedAt.Before(since) {
			c.Scope = "" // given to an earlier client of the same ID
		}
		c = store.Consent{UserID: userID, ClientID: clientID, Scope: store.ConsentScope(c.Scope, scope), GrantedAt: at}
		return put(tx, bucketConsents, key, c)
	})
	if err != nil {
		return store.Consent{}, err
	}
	return c, nil
}

// ListConsents returns the user's consents ordered by client ID (the
// order of the keys).
func (s *Store) ListConsents(ctx context.Context, userID string) ([]store.Consent, error) {
	out := []store.Consent{}
	err := s.view(ctx, "list consents", func(tx *bbolt.Tx) error {
		prefix := []byte(userID + "\x00")
		cur := tx.Bucket(bucketConsents).Cursor()
		for k, v := cur.Seek(prefix); k != nil && bytes.HasPrefix(k, prefix); k, v = cur.Next() {
			var c store.Consent
			if err := json.Unmarshal(v, &c); err != nil {
				return fmt.Errorf("decode consent %q: %w", k, err)
			}
			out = append(out, c)
		}
		return nil
	})
	if err != nil {
		return nil, err
	}
	return out, nil
}

// DeleteConsent removes the consent and the pair's family index in one
// write transaction and returns the indexed family IDs.
func (s *Store) DeleteConsent(ctx context.Context, userID, clientID string) ([]string, error) {
	var fams []string
	err := s.update(ctx, "delete consent", func(tx *bbolt.Tx) error {
		fams = nil
		key := consentKey(userID, clientID)
		consents := tx.Bucket(bucketConsents)
		found := consents.Get(key) != nil
		if found {
			if err := consents.Delete(key); err != nil {
				return err
			}
		}
		idx := tx.Bucket(bucketUserFamilies)
		var keys [][]byte
		cur := idx.Cursor()
		for k, _ := cur.Seek(key); k != nil && bytes.HasPrefix(k, key); k, _ = cur.Next() {
			keys = append(keys, bytes.Clone(k))
			fams = append(fams, string(k[len(key):]))
		}
		for _, k := range keys {
			if err := idx.Delete(k); err != nil {
				return err
			}
		}
		if !found && len(fams) == 0 {
			return fmt.Errorf("consent of %q for %q: %w", userID, clientID, store.ErrNotFound)
		}
		return nil
	})
	if err != nil {
		return nil, err
	}
	return fams, nil
}

// indexUserFamily adds f to the family index of its subject and client
// (inside CreateFamily's transaction) and drops the pair's entries that
// have expired, so the index holds about as many entries as live logins.
func indexUserFamily(tx *bbolt.Tx, f store.Family, now time.Time) error {
	if f.Subject == "" || f.ClientID == "" {
		return nil
	}
	prefix := consentKey(f.Subject, f.ClientID)
	idx := tx.Bucket(bucketUserFamilies)
	var stale [][]byte
	cur := idx.Cursor()
	for k, v := cur.Seek(prefix); k != nil && bytes.HasPrefix(k, prefix); k, v = cur.Next() {
		if len(v) == 8 && int64(binary.BigEndian.Uint64(v)) < now.UnixNano() {
			stale = append(stale, bytes.Clone(k))
		}
	}
	for _, k := range stale {
		if err := idx.Delete(k); err != nil {
			return err
		}
	}
	exp := make([]byte, 8)
	binary.BigEndian.PutUint64(exp, uint64(f.ExpiresAt.UnixNano()))
	return idx.Put(append(prefix, f.ID...), exp)
}

// UserFamilies returns the live entries of the pair's family index.
func (s *Store) UserFamilies(ctx context.Context, userID, clientID string) ([]string, error) {
	now := s.now().UnixNano()
	out := []string{}
	err := s.view(ctx, "user families", func(tx *bbolt.Tx) error {
		prefix := consentKey(userID, clientID)
		cur := tx.Bucket(bucketUserFamilies).Cursor()
		for k, v := cur.Seek(prefix); k != nil && bytes.HasPrefix(k, prefix); k, v = cur.Next() {
			if len(v) == 8 && int64(binary.BigEndian.Uint64(v)) >= now {
				out = append(out, string(k[len(prefix):]))
			}
		}
		return nil
	})
	if err != nil {
		return nil, err
	}
	return out, nil
}
