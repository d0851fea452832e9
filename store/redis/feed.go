package redis

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"time"

	goredis "github.com/redis/go-redis/v9"

	"github.com/authd-dev/authd/store"
)

// The revocation feed is one Redis stream, "<prefix>revocations". Deny
// appends to it after writing the entry; stream IDs are the cursors. Each
// append trims the stream by time (MINID, approximate) to FeedRetention,
// which exceeds the life of every denylist entry (at most the access-token
// TTL plus a minute), so the stream holds the live denylist and no more.
//
// The entry and its stream record are two commands: in a Cluster they live
// in different slots, which no script or transaction may span. If the
// append fails, Deny returns the error and the caller retries; both writes
// are idempotent for readers (entries merge by kind and value).

// DefaultFeedRetention is how long feed records are kept.
const DefaultFeedRetention = 2 * time.Hour

var _ store.RevocationFeed = (*Store)(nil)

// feedBlockSlice bounds one blocking read of the stream.
const feedBlockSlice = 250 * time.Millisecond

func (s *Store) feedKey() string { return s.prefix + "revocations" }

// appendFeed adds d to the stream, trimming what is past retention.
func (s *Store) appendFeed(ctx context.Context, d store.Denial) error {
	minID := strconv.FormatInt(s.now().Add(-s.feedRetention).UnixMilli(), 10)
	err := s.rdb.XAdd(ctx, &goredis.XAddArgs{
		Stream: s.feedKey(),
		MinID:  minID,
		Approx: true,
		Values: []any{"k", d.Kind, "v", d.Value, "a", strconv.FormatInt(d.At.UnixNano(), 10), "e", strconv.FormatInt(ceilMicros(d.ExpiresAt), 10)},
	}).Err()
	if err != nil {
		return s.fail("append revocation feed", err)
	}
	return nil
}

// feedEntry decodes one stream record.
func feedEntry(m goredis.XMessage) (store.FeedEntry, bool) {
	str := func(k string) string { v, _ := m.Values[k].(string); return v }
	at, err1 := strconv.ParseInt(str("a"), 10, 64)
	exp, err2 := strconv.ParseInt(str("e"), 10, 64)
	if err1 != nil || err2 != nil || str("k") == "" {
		return store.FeedEntry{}, false
	}
	return store.FeedEntry{Cursor: m.ID, Denial: store.Denial{
		Kind: str("k"), Value: str("v"), At: time.Unix(0, at).UTC(), ExpiresAt: time.UnixMicro(exp).UTC(),
	}}, true
}

// Denials returns the live denylist merged by kind and value (later At,
// later expiry), read from the stream in pages, and the newest cursor.
func (s *Store) Denials(ctx context.Context) ([]store.Denial, string, error) {
	now := s.now()
	merged := map[string]int{}
	var out []store.Denial
	cursor, start := "", "-"
	for {
		msgs, err := s.rdb.XRangeN(ctx, s.feedKey(), start, "+", 1000).Result()
		if err != nil {
			return nil, "", s.fail("read revocation feed", err)
		}
		for _, m := range msgs {
			cursor = m.ID
			e, ok := feedEntry(m)
			if !ok || !now.Before(e.Denial.ExpiresAt) {
				continue
			}
			key := e.Denial.Kind + "\x00" + e.Denial.Value
			if i, seen := merged[key]; seen {
				if e.Denial.At.After(out[i].At) {
					out[i].At = e.Denial.At
				}
				if e.Denial.ExpiresAt.After(out[i].ExpiresAt) {
					out[i].ExpiresAt = e.Denial.ExpiresAt
				}
				continue
			}
			merged[key] = len(out)
			out = append(out, e.Denial)
		}
		if len(msgs) < 1000 {
			return out, cursor, nil
		}
		start = "(" + cursor
	}
}

// validStreamID reports whether id has the form <ms>-<seq>.
func validStreamID(id string) bool {
	ms, seq, ok := strings.Cut(id, "-")
	if !ok {
		return false
	}
	_, err1 := strconv.ParseUint(ms, 10, 64)
	_, err2 := strconv.ParseUint(seq, 10, 64)
	return err1 == nil && err2 == nil
}

// DenialsAfter reads the stream after cursor, blocking up to wait (XREAD
// BLOCK; go-redis extends the read deadline of a blocking read by the
// block time). Trimming only drops records past retention, which have all
// expired, so an old cursor loses nothing live; a malformed cursor, or
// one ahead of the stream, is ErrCursorExpired.
func (s *Store) DenialsAfter(ctx context.Context, cursor string, wait time.Duration) ([]store.FeedEntry, error) {
	if cursor == "" {
		cursor = "0-0"
	}
	if !validStreamID(cursor) {
		return nil, fmt.Errorf("redis feed cursor %q: %w", cursor, store.ErrCursorExpired)
	}
	if err := s.checkNotAhead(ctx, cursor); err != nil {
		return nil, err
	}
	deadline := time.Now().Add(wait)
	var res []goredis.XStream
	for {
		// Block in slices: go-redis does not interrupt a blocked read when
		// ctx is cancelled, so each slice is short and ctx is checked
		// between them (a new record still returns at once).
		block := time.Duration(-1) // no BLOCK argument
		if left := time.Until(deadline); wait > 0 && left > 0 {
			block = min(left, feedBlockSlice)
			if d, ok := ctx.Deadline(); ok {
				block = max(min(block, time.Until(d)), time.Millisecond)
			}
		}
		var err error
		res, err = s.rdb.XRead(ctx, &goredis.XReadArgs{Streams: []string{s.feedKey(), cursor}, Count: 1000, Block: block}).Result()
		if ctx.Err() != nil {
			return nil, ctx.Err()
		}
		if errors.Is(err, goredis.Nil) {
			if block < 0 || time.Until(deadline) <= 0 {
				return nil, nil
			}
			continue
		}
		if err != nil {
			return nil, s.fail("follow revocation feed", err)
		}
		break
	}
	now := s.now()
	var out []store.FeedEntry
	for _, st := range res {
		for _, m := range st.Messages {
			if e, ok := feedEntry(m); ok && now.Before(e.Denial.ExpiresAt) {
				out = append(out, e)
			}
		}
	}
	return out, nil
}

// checkNotAhead fails with ErrCursorExpired when cursor lies beyond the
// newest record of the stream (a cursor from another store or a reset
// one); an empty stream accepts only the start.
func (s *Store) checkNotAhead(ctx context.Context, cursor string) error {
	if cursor == "0-0" {
		return nil
	}
	last, err := s.rdb.XRevRangeN(ctx, s.feedKey(), "+", "-", 1).Result()
	if err != nil {
		return s.fail("read revocation feed", err)
	}
	if len(last) == 0 || compareStreamIDs(cursor, last[0].ID) > 0 {
		return fmt.Errorf("redis feed cursor %q is ahead of the stream: %w", cursor, store.ErrCursorExpired)
	}
	return nil
}

// compareStreamIDs orders two valid stream IDs.
func compareStreamIDs(a, b string) int {
	am, as, _ := strings.Cut(a, "-")
	bm, bs, _ := strings.Cut(b, "-")
	an, _ := strconv.ParseUint(am, 10, 64)
	bn, _ := strconv.ParseUint(bm, 10, 64)
	if an != bn {
		if an < bn {
			return -1
		}
		return 1
	}
	asq, _ := strconv.ParseUint(as, 10, 64)
	bsq, _ := strconv.ParseUint(bs, 10, 64)
	switch {
	case asq < bsq:
		return -1
	case asq > bsq:
		return 1
	}
	return 0
}
