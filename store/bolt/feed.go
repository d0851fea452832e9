package bolt

import (
	"context"
	"encoding/binary"
	"encoding/json"
	"fmt"
	"strconv"
	"time"

	bbolt "go.etcd.io/bbolt"

	"github.com/authd-dev/authd/store"
)

// The revocation feed is a log bucket: every Deny that changes the
// denylist appends an entry in the same write transaction, keyed by the
// bucket's sequence (8 bytes, big-endian, so keys sort by it). The cursor
// is that sequence in decimal. Entries are swept with the denylist once
// they expire, so the log holds only live entries. Readers blocked in
// DenialsAfter are woken in-process when an entry is appended: bolt is a
// one-node store.

var bucketFeed = []byte("feed")

// expFeed marks feed entries in the expiry index.
const expFeed byte = 'r'

var _ store.RevocationFeed = (*Store)(nil)

// feedRecord is one entry of the feed log.
type feedRecord struct {
	Kind      string    `json:"kind"`
	Value     string    `json:"value"`
	At        time.Time `json:"at"`
	ExpiresAt time.Time `json:"exp"`
}

func seqKey(seq uint64) []byte {
	k := make([]byte, 8)
	binary.BigEndian.PutUint64(k, seq)
	return k
}

// appendFeed logs d in tx; the caller wakes readers after the commit.
func appendFeed(tx *bbolt.Tx, d store.Denial) error {
	b := tx.Bucket(bucketFeed)
	seq, err := b.NextSequence()
	if err != nil {
		return err
	}
	key := seqKey(seq)
	if err := reindex(tx, expFeed, key, time.Time{}, d.ExpiresAt); err != nil {
		return err
	}
	return put(tx, bucketFeed, key, feedRecord{Kind: d.Kind, Value: d.Value, At: d.At, ExpiresAt: d.ExpiresAt})
}

// feedWaiter returns a channel closed at the next append.
func (s *Store) feedWaiter() <-chan struct{} {
	s.feedMu.Lock()
	defer s.feedMu.Unlock()
	return s.feedWake
}

// wakeFeed wakes every reader waiting for an append.
func (s *Store) wakeFeed() {
	s.feedMu.Lock()
	close(s.feedWake)
	s.feedWake = make(chan struct{})
	s.feedMu.Unlock()
}

// Denials returns every live denylist entry and the cursor of the newest
// feed entry ("" when the feed has none).
func (s *Store) Denials(ctx context.Context) ([]store.Denial, string, error) {
	now := s.now()
	var out []store.Denial
	cursor := ""
	err := s.view(ctx, "denials", func(tx *bbolt.Tx) error {
		c := tx.Bucket(bucketDenials).Cursor()
		for k, v := c.First(); k != nil; k, v = c.Next() {
			var rec denialRecord
			if err := json.Unmarshal(v, &rec); err != nil {
				return fmt.Errorf("decode denial %q: %w", k, err)
			}
			if expired(rec.ExpiresAt, now) {
				continue
			}
			kind, value, ok := splitDenialKey(k)
			if !ok {
				continue
			}
			out = append(out, store.Denial{Kind: kind, Value: value, At: rec.At, ExpiresAt: rec.ExpiresAt})
		}
		if seq := tx.Bucket(bucketFeed).Sequence(); seq > 0 {
			cursor = strconv.FormatUint(seq, 10)
		}
		return nil
	})
	if err != nil {
		return nil, "", err
	}
	return out, cursor, nil
}

// DenialsAfter returns the live feed entries after cursor, waiting up to
// wait for the first. Sweeping removes only expired entries, so every live
// entry after any cursor is still there; a cursor that is not a number or
// lies ahead of the log is ErrCursorExpired.
func (s *Store) DenialsAfter(ctx context.Context, cursor string, wait time.Duration) ([]store.FeedEntry, error) {
	var after uint64
	if cursor != "" {
		n, err := strconv.ParseUint(cursor, 10, 64)
		if err != nil {
			return nil, fmt.Errorf("bolt: feed cursor %q: %w", cursor, store.ErrCursorExpired)
		}
		after = n
	}
	var timer <-chan time.Time
	for {
		wake := s.feedWaiter() // before reading, so no append is missed
		entries, err := s.readFeed(ctx, after)
		if err != nil || len(entries) > 0 || wait <= 0 {
			return entries, err
		}
		if timer == nil {
			t := time.NewTimer(wait)
			defer t.Stop()
			timer = t.C
		}
		select {
		case <-wake:
		case <-timer:
			return nil, nil
		case <-ctx.Done():
			return nil, ctx.Err()
		}
	}
}

// maxFeedBatch bounds one read of the feed.
const maxFeedBatch = 1000

func (s *Store) readFeed(ctx context.Context, after uint64) ([]store.FeedEntry, error) {
	now := s.now()
	var out []store.FeedEntry
	err := s.view(ctx, "feed", func(tx *bbolt.Tx) error {
		b := tx.Bucket(bucketFeed)
		if after > b.Sequence() {
			return fmt.Errorf("bolt: feed cursor %d is ahead of the log: %w", after, store.ErrCursorExpired)
		}
		c := b.Cursor()
		for k, v := c.Seek(seqKey(after + 1)); k != nil && len(out) < maxFeedBatch; k, v = c.Next() {
			var rec feedRecord
			if err := json.Unmarshal(v, &rec); err != nil {
				return fmt.Errorf("decode feed entry: %w", err)
			}
			if expired(rec.ExpiresAt, now) {
				continue
			}
			out = append(out, store.FeedEntry{
				Cursor: strconv.FormatUint(binary.BigEndian.Uint64(k), 10),
				Denial: store.Denial{Kind: rec.Kind, Value: rec.Value, At: rec.At, ExpiresAt: rec.ExpiresAt},
			})
		}
		return nil
	})
	return out, err
}

// splitDenialKey reverses denialKey.
func splitDenialKey(k []byte) (kind, value string, ok bool) {
	for i, c := range k {
		if c == 0 {
			return string(k[:i]), string(k[i+1:]), true
		}
	}
	return "", "", false
}
