package bolt

import (
	"bytes"
	"cmp"
	"context"
	"encoding/json"
	"fmt"
	"slices"
	"time"

	bbolt "go.etcd.io/bbolt"

	"github.com/authd-dev/authd/store"
)

// expSession marks sessions in the expiry index.
const expSession byte = 's'

// bucketSessions holds SSO sessions: session ID → JSON.
// bucketUserSessions indexes them by user: user ID NUL session ID → empty.
// bucketSessionFamilies holds each session's families apart (session ID →
// JSON list), so that the record every authorization reads stays small.
// Both are created on first use; the sweeper deletes expired sessions and
// their index entries.
var (
	bucketSessions        = []byte("sessions")
	bucketUserSessions    = []byte("user_sessions")
	bucketSessionFamilies = []byte("session_families")
)

var _ store.SessionStore = (*Store)(nil)

func userSessionKey(user, id string) []byte {
	return append(append([]byte(user), 0), id...)
}

// sessionBuckets returns the two buckets, creating them in a write
// transaction; in a read transaction they may be nil.
func sessionBuckets(tx *bbolt.Tx) (sess, idx *bbolt.Bucket, err error) {
	if !tx.Writable() {
		return tx.Bucket(bucketSessions), tx.Bucket(bucketUserSessions), nil
	}
	if sess, err = tx.CreateBucketIfNotExists(bucketSessions); err != nil {
		return nil, nil, err
	}
	if _, err = tx.CreateBucketIfNotExists(bucketSessionFamilies); err != nil {
		return nil, nil, err
	}
	idx, err = tx.CreateBucketIfNotExists(bucketUserSessions)
	return sess, idx, err
}

func readFamilies(tx *bbolt.Tx, id string) ([]string, error) {
	b := tx.Bucket(bucketSessionFamilies)
	if b == nil {
		return nil, nil
	}
	raw := b.Get([]byte(id))
	if raw == nil {
		return nil, nil
	}
	var out []string
	if err := json.Unmarshal(raw, &out); err != nil {
		return nil, fmt.Errorf("decode families of session %q: %w", id, err)
	}
	return out, nil
}

func writeFamilies(tx *bbolt.Tx, id string, fams []string) error {
	b := tx.Bucket(bucketSessionFamilies)
	if len(fams) == 0 {
		return b.Delete([]byte(id))
	}
	if n := len(fams) - store.MaxSessionFamilies; n > 0 {
		fams = fams[n:]
	}
	raw, err := json.Marshal(fams)
	if err != nil {
		return err
	}
	return b.Put([]byte(id), raw)
}

func readSession(b *bbolt.Bucket, id string) (store.Session, bool, error) {
	if b == nil {
		return store.Session{}, false, nil
	}
	raw := b.Get([]byte(id))
	if raw == nil {
		return store.Session{}, false, nil
	}
	var s store.Session
	if err := json.Unmarshal(raw, &s); err != nil {
		return store.Session{}, false, fmt.Errorf("decode session %q: %w", id, err)
	}
	return s, true, nil
}

func writeSession(tx *bbolt.Tx, b *bbolt.Bucket, s store.Session, oldExp time.Time) error {
	s.Families = nil // in bucketSessionFamilies
	raw, err := json.Marshal(s)
	if err != nil {
		return fmt.Errorf("encode session %q: %w", s.ID, err)
	}
	if err := b.Put([]byte(s.ID), raw); err != nil {
		return err
	}
	return reindex(tx, expSession, []byte(s.ID), oldExp, s.LiveUntil())
}

// removeSession deletes s and its index entries.
func removeSession(tx *bbolt.Tx, sess, idx *bbolt.Bucket, s store.Session) error {
	if err := sess.Delete([]byte(s.ID)); err != nil {
		return err
	}
	if err := idx.Delete(userSessionKey(s.UserID, s.ID)); err != nil {
		return err
	}
	if err := tx.Bucket(bucketSessionFamilies).Delete([]byte(s.ID)); err != nil {
		return err
	}
	return reindex(tx, expSession, []byte(s.ID), s.LiveUntil(), time.Time{})
}

// CreateSession stores a new session; store.ErrExists if a live one has
// the ID (an expired one is replaced).
func (s *Store) CreateSession(ctx context.Context, rec store.Session) error {
	if err := rec.Check(); err != nil {
		return err
	}
	now := s.now()
	var taken bool // a live session holds the ID: nothing written
	err := s.batch(ctx, "create session", func(tx *bbolt.Tx) error {
		taken = false
		sess, idx, err := sessionBuckets(tx)
		if err != nil {
			return err
		}
		old, exists, err := readSession(sess, rec.ID)
		if err != nil {
			return err
		}
		if exists {
			if !old.ExpiredAt(now) {
				taken = true
				return nil
			}
			if err := removeSession(tx, sess, idx, old); err != nil {
				return err
			}
		}
		if err := idx.Put(userSessionKey(rec.UserID, rec.ID), nil); err != nil {
			return err
		}
		if err := writeFamilies(tx, rec.ID, rec.Families); err != nil {
			return err
		}
		return writeSession(tx, sess, rec, time.Time{})
	})
	if err == nil && taken {
		err = fmt.Errorf("session: %w", store.ErrExists)
	}
	return err
}

// GetSession returns a live session; store.ErrNotFound if it is missing
// or expired by Options.Now.
func (s *Store) GetSession(ctx context.Context, id string) (store.Session, error) {
	now := s.now()
	var out store.Session
	err := s.view(ctx, "get session", func(tx *bbolt.Tx) error {
		sess, _, _ := sessionBuckets(tx)
		rec, ok, err := readSession(sess, id)
		if err == nil && (!ok || rec.ExpiredAt(now)) {
			err = fmt.Errorf("session: %w", store.ErrNotFound)
		}
		out = rec
		return err
	})
	if err != nil {
		return store.Session{}, err
	}
	return out, nil
}

// TouchSession applies t in one write transaction, a group commit shared
// with concurrent writes (commit.go; a lone silent authorization commits at
// once). The family is appended to the stored JSON list without decoding
// it (addFamily) while the list has room.
func (s *Store) TouchSession(ctx context.Context, id string, t store.SessionTouch) (store.Session, error) {
	var out store.Session
	var gone bool
	err := s.batch(ctx, "touch session", func(tx *bbolt.Tx) error {
		gone, out = false, store.Session{}
		sess, _, err := sessionBuckets(tx)
		if err != nil {
			return err
		}
		rec, ok, err := readSession(sess, id)
		if err != nil {
			return err
		}
		if !ok || rec.ExpiredAt(t.Now) {
			gone = true
			return nil
		}
		oldExp := rec.LiveUntil()
		fid := t.FamilyID
		t.FamilyID = ""
		changed := t.Apply(&rec)
		if err := addFamily(tx, id, fid); err != nil {
			return err
		}
		out = rec
		if !changed { // within SessionTouch.Slack
			return nil
		}
		return writeSession(tx, sess, rec, oldExp)
	})
	if err == nil && gone {
		err = fmt.Errorf("session: %w", store.ErrNotFound)
	}
	if err != nil {
		return store.Session{}, err
	}
	return out, nil
}

// addFamily adds fid to the session's families as SessionTouch.Apply
// does (once, the oldest dropped past store.MaxSessionFamilies). Below
// the bound the stored list (json.Marshal of a []string) is extended in
// place: an element starts right after '[' or ',' (a quote inside a
// string is escaped, so `,"` and `["` occur nowhere else) and ends at its
// first unescaped quote, so the encoded fid found after one of them is an
// element equal to fid, and `","` occurs only as the separators (the
// first one ends the oldest element).
func addFamily(tx *bbolt.Tx, id, fid string) error {
	if fid == "" {
		return nil
	}
	b := tx.Bucket(bucketSessionFamilies)
	raw := b.Get([]byte(id))
	tok, err := json.Marshal(fid)
	if err != nil {
		return err
	}
	if len(raw) <= len("[]") {
		return b.Put([]byte(id), slices.Concat([]byte("["), tok, []byte("]")))
	}
	if bytes.Contains(raw, slices.Concat([]byte("["), tok)) || bytes.Contains(raw, slices.Concat([]byte(","), tok)) {
		return nil
	}
	sep := []byte(`","`)
	switch n := bytes.Count(raw, sep) + 1; {
	case n < store.MaxSessionFamilies:
		return b.Put([]byte(id), slices.Concat(raw[:len(raw)-1], []byte(","), tok, []byte("]")))
	case n == store.MaxSessionFamilies:
		// At the bound: the oldest goes, up to the first separator.
		first := bytes.Index(raw, sep)
		return b.Put([]byte(id), slices.Concat([]byte("["), raw[first+2:len(raw)-1], []byte(","), tok, []byte("]")))
	}
	fams, err := readFamilies(tx, id)
	if err != nil {
		return err
	}
	return writeFamilies(tx, id, append(fams, fid))
}

// ListSessions returns the user's live sessions, oldest first.
func (s *Store) ListSessions(ctx context.Context, userID string) ([]store.Session, error) {
	now := s.now()
	var out []store.Session
	err := s.view(ctx, "list sessions", func(tx *bbolt.Tx) error {
		sess, idx := tx.Bucket(bucketSessions), tx.Bucket(bucketUserSessions)
		if idx == nil {
			return nil
		}
		prefix := userSessionKey(userID, "")
		c := idx.Cursor()
		for k, _ := c.Seek(prefix); k != nil && bytes.HasPrefix(k, prefix); k, _ = c.Next() {
			rec, ok, err := readSession(sess, string(k[len(prefix):]))
			if err != nil {
				return err
			}
			if ok && !rec.ExpiredAt(now) && rec.UserID == userID {
				out = append(out, rec)
			}
		}
		return nil
	})
	slices.SortFunc(out, func(a, b store.Session) int {
		return cmp.Or(a.CreatedAt.Compare(b.CreatedAt), cmp.Compare(a.ID, b.ID))
	})
	return out, err
}

// DeleteSession removes a live session and returns it.
func (s *Store) DeleteSession(ctx context.Context, id string) (store.Session, error) {
	now := s.now()
	var out store.Session
	gone := false
	err := s.batch(ctx, "delete session", func(tx *bbolt.Tx) error {
		gone, out = false, store.Session{}
		sess, idx, err := sessionBuckets(tx)
		if err != nil {
			return err
		}
		rec, ok, err := readSession(sess, id)
		if err != nil {
			return err
		}
		if !ok {
			gone = true
			return nil
		}
		if rec.Families, err = readFamilies(tx, id); err != nil {
			return err
		}
		if err := removeSession(tx, sess, idx, rec); err != nil {
			return err
		}
		gone, out = rec.ExpiredAt(now), rec
		return nil
	})
	if err == nil && gone {
		err = fmt.Errorf("session: %w", store.ErrNotFound)
	}
	if err != nil {
		return store.Session{}, err
	}
	return out, nil
}

// sweepSession deletes an expired session named by the expiry index.
func sweepSession(tx *bbolt.Tx, key []byte, now time.Time) (bool, error) {
	sess, idx := tx.Bucket(bucketSessions), tx.Bucket(bucketUserSessions)
	rec, ok, err := readSession(sess, string(key))
	if err != nil || !ok || !rec.ExpiredAt(now) {
		return false, err
	}
	if err := sess.Delete(key); err != nil {
		return false, err
	}
	if b := tx.Bucket(bucketSessionFamilies); b != nil {
		if err := b.Delete(key); err != nil {
			return false, err
		}
	}
	return true, idx.Delete(userSessionKey(rec.UserID, rec.ID))
}

// SessionFamilies returns the families of a live session.
func (s *Store) SessionFamilies(ctx context.Context, id string) ([]string, error) {
	now := s.now()
	var out []string
	err := s.view(ctx, "session families", func(tx *bbolt.Tx) error {
		sess, _, _ := sessionBuckets(tx)
		rec, ok, err := readSession(sess, id)
		if err == nil && (!ok || rec.ExpiredAt(now)) {
			err = fmt.Errorf("session: %w", store.ErrNotFound)
		}
		if err != nil {
			return err
		}
		out, err = readFamilies(tx, id)
		return err
	})
	if err != nil {
		return nil, err
	}
	return out, nil
}
