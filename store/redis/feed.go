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

// The revocation feed is one Redis stream, "<prefix>revocations"; stream
// IDs are the cursors. Each record carries the denial as given to Deny
// (k kind, v value, a At in Unix ns, e ExpiresAt in Unix µs); readers drop
// expired records and Denials merges records per kind and value.
//
// Deny runs the denylist script and feedAppendScript in one round trip:
// inside MULTI/EXEC on a single node or Sentinel primary (atomic), as a
// plain pipeline on a Cluster, where the entry key and the stream key sit
// in different slots (often on different nodes) that no script or
// transaction may span. There the two writes are not atomic: if one fails
// Deny returns the error and the caller retries; a retry re-merges the
// entry and appends a second record, which readers merge. A record whose
// entry write failed makes feed readers deny a token DenyState does not
// (until the retry), never the reverse.
//
// Trimming: each append removes, exactly, the records older than
// FeedRetention (XTRIM MINID, by the Store's clock, never the record just
// added) and stores the newest removed ID as the stream's
// max-deleted-entry-id (XSETID MAXDELETEDID; Redis 7.0 or later). A cursor
// below that ID has lost records after it: ErrCursorExpired. A cursor
// equal to it or newer lost nothing, so a follower on a quiet feed keeps
// its cursor across trims. Exact rather than approximate (~) trimming is
// what makes the boundary known; the stream is small (only records within
// FeedRetention), so the cost is one O(log N) lookup per append.

// DefaultFeedRetention is how long feed records are kept when
// Options.FeedRetention is zero (authd itself always sets it from the
// access-token TTL).
const DefaultFeedRetention = 2 * time.Hour

var _ store.RevocationFeed = (*Store)(nil)

const (
	// feedBlockSlice bounds one blocking read of the stream (see
	// DenialsAfter).
	feedBlockSlice = 250 * time.Millisecond
	// feedPage is the COUNT of one stream read.
	feedPage = 1000
)

// feedAppendScript appends one record and trims the stream.
// KEYS: stream. ARGV: kind, value, At (Unix ns), ExpiresAt (µs), now (µs),
// trim floor (Unix ms). Returns the new ID, or nil (nothing written) when
// the denial has already expired at now, as the denylist script decides.
//
// The trim boundary is "<floor>-0", or the new record's own ID when the
// floor lies beyond it (this Store's clock runs ahead of the server's,
// which stamps the IDs): every earlier record goes, the new one stays. It
// must be the full ID, not "<its ms>-0": records appended earlier within
// the same millisecond sort below the new one and are older than the
// floor too (keeping them was TestFeedTrim's intermittent failure).
var feedAppendScript = goredis.NewScript(`
if tonumber(ARGV[4]) <= tonumber(ARGV[5]) then return false end
local id = redis.call('XADD', KEYS[1], '*', 'k', ARGV[1], 'v', ARGV[2], 'a', ARGV[3], 'e', ARGV[4])
local ms = tonumber(string.match(id, '^(%d+)-'))
local floor = tonumber(ARGV[6])
local minid
if floor > ms then
	minid = id
elseif floor > 0 then
	minid = ARGV[6] .. '-0'
else
	return id
end
local gone = redis.call('XREVRANGE', KEYS[1], '(' .. minid, '-', 'COUNT', 1)
if #gone > 0 then
	redis.call('XTRIM', KEYS[1], 'MINID', minid)
	redis.call('XSETID', KEYS[1], id, 'MAXDELETEDID', gone[1][1])
end
return id
`)

func (s *Store) feedKey() string { return s.prefix + "revocations" }

// feedAppendArgs gives the keys and arguments of feedAppendScript for d,
// trimming by the clock reading now.
func (s *Store) feedAppendArgs(d store.Denial, now time.Time) ([]string, []any) {
	floor := now.Add(-s.feedRetention).UnixMilli()
	return []string{s.feedKey()}, []any{d.Kind, d.Value, d.At.UnixNano(), ceilMicros(d.ExpiresAt), micros(now), floor}
}

// writePipeline returns a MULTI/EXEC pipeline, or a plain one on a Cluster
// (whose transactions cannot span slots).
func (s *Store) writePipeline() goredis.Pipeliner {
	if _, cluster := s.rdb.(*goredis.ClusterClient); cluster {
		return s.rdb.Pipeline()
	}
	return s.rdb.TxPipeline()
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

// liveEntries decodes msgs, leaving out records expired at now.
func liveEntries(msgs []goredis.XMessage, now time.Time) []store.FeedEntry {
	var out []store.FeedEntry
	for _, m := range msgs {
		if e, ok := feedEntry(m); ok && now.Before(e.Denial.ExpiresAt) {
			out = append(out, e)
		}
	}
	return out
}

// Denials returns the live denylist merged by kind and value (later At,
// later expiry), read from the stream in pages (XRANGE; the stream holds
// only FeedRetention's worth of records), and the newest cursor.
func (s *Store) Denials(ctx context.Context) ([]store.Denial, string, error) {
	now := s.now()
	merged := map[string]int{}
	var out []store.Denial
	cursor, start := "", "-"
	for {
		msgs, err := s.rdb.XRangeN(ctx, s.feedKey(), start, "+", feedPage).Result()
		if err != nil {
			return nil, "", s.fail("read revocation feed", err)
		}
		if len(msgs) > 0 {
			cursor = msgs[len(msgs)-1].ID
		}
		for _, e := range liveEntries(msgs, now) {
			key := e.Denial.Kind + "\x00" + e.Denial.Value
			i, seen := merged[key]
			if !seen {
				merged[key] = len(out)
				out = append(out, e.Denial)
				continue
			}
			if e.Denial.At.After(out[i].At) {
				out[i].At = e.Denial.At
			}
			if e.Denial.ExpiresAt.After(out[i].ExpiresAt) {
				out[i].ExpiresAt = e.Denial.ExpiresAt
			}
		}
		if len(msgs) < feedPage {
			return out, cursor, nil
		}
		start = "(" + cursor
	}
}

// DenialsAfter returns the live records after cursor, blocking up to wait
// for the first. The first read and the cursor check (XINFO STREAM:
// last-generated-id, max-deleted-entry-id) run in one MULTI/EXEC on the
// stream's node, so no trim can slip between them. A malformed cursor, one
// ahead of the stream or one below the newest trimmed record is
// ErrCursorExpired.
//
// Waiting is XREAD BLOCK in slices of at most 250 ms on pooled
// connections: go-redis sets the read deadline of a blocking read to its
// block time plus 10 s (so the client's 500 ms ReadTimeout does not cut
// it; see blockArg for why the block is never 0), but
// does not interrupt a blocked read when ctx ends; short slices bound how
// late a cancellation is seen, while a new record still returns at once.
// The alternative, a second client with ContextTimeoutEnabled, would close
// the connection on every cancelled wait. Each waiting call holds one
// pooled connection, so callers should follow the feed from one goroutine
// per process (feed.Hub does).
//
// Records that have expired are skipped and the read goes on after them,
// so a batch of only expired records does not end the wait early.
func (s *Store) DenialsAfter(ctx context.Context, cursor string, wait time.Duration) ([]store.FeedEntry, error) {
	start := cursor
	switch {
	case cursor == "" || cursor == "0-0":
		start = "0-0"
	case !validStreamID(cursor):
		return nil, fmt.Errorf("redis feed cursor %q: %w", cursor, store.ErrCursorExpired)
	}
	deadline := time.Now().Add(wait)
	msgs, err := s.checkedRead(ctx, start)
	if err != nil {
		return nil, err
	}
	for {
		if out := liveEntries(msgs, s.now()); len(out) > 0 {
			return out, nil
		}
		block := time.Duration(-1) // no BLOCK argument
		if len(msgs) > 0 {
			start = msgs[len(msgs)-1].ID
		}
		if len(msgs) < feedPage {
			left := time.Until(deadline)
			if wait <= 0 || left <= 0 {
				return nil, nil
			}
			block = min(left, feedBlockSlice)
			if d, ok := ctx.Deadline(); ok {
				block = min(block, time.Until(d))
			}
			block = blockArg(block)
		}
		msgs, err = s.readFeed(ctx, start, block)
		if ctx.Err() != nil {
			return nil, ctx.Err()
		}
		if err != nil {
			return nil, err
		}
	}
}

// blockArg turns a wait into XREAD's BLOCK argument: whole milliseconds
// (go-redis truncates) and at least one, because BLOCK 0 means "forever".
// A sub-millisecond wait used to become BLOCK 0 on a quiet feed: Redis
// never answered and the client cut the read after its 10 s margin, which
// feed.Hub logged as "follow revocation feed: i/o timeout".
func blockArg(d time.Duration) time.Duration {
	return max(d+time.Millisecond-1, time.Millisecond).Truncate(time.Millisecond)
}

// checkedRead reads the records after start (no blocking) and checks
// start against the stream in the same transaction.
func (s *Store) checkedRead(ctx context.Context, start string) ([]goredis.XMessage, error) {
	pipe := s.rdb.TxPipeline() // one key: one slot, fine on a Cluster
	read := pipe.XRead(ctx, &goredis.XReadArgs{Streams: []string{s.feedKey(), start}, Count: feedPage, Block: -1})
	info := pipe.XInfoStream(ctx, s.feedKey())
	_, _ = pipe.Exec(ctx) // errors are checked per command
	st, err := info.Result()
	switch {
	case err != nil && isNoSuchKey(err):
		if start != "0-0" {
			return nil, fmt.Errorf("redis feed cursor %q: no feed stream: %w", start, store.ErrCursorExpired)
		}
	case err != nil:
		return nil, s.fail("check revocation feed cursor", err)
	case start == "0-0":
	case compareStreamIDs(start, st.LastGeneratedID) > 0:
		return nil, fmt.Errorf("redis feed cursor %q is ahead of the stream (%s): %w", start, st.LastGeneratedID, store.ErrCursorExpired)
	case validStreamID(st.MaxDeletedEntryID) && compareStreamIDs(start, st.MaxDeletedEntryID) < 0:
		return nil, fmt.Errorf("redis feed cursor %q is older than the trimmed %s: %w", start, st.MaxDeletedEntryID, store.ErrCursorExpired)
	}
	msgs, err := streamMessages(read.Result())
	if err != nil {
		return nil, s.fail("follow revocation feed", err)
	}
	return msgs, nil
}

// readFeed reads the records after start, blocking up to block (none if
// negative).
func (s *Store) readFeed(ctx context.Context, start string, block time.Duration) ([]goredis.XMessage, error) {
	msgs, err := streamMessages(s.rdb.XRead(ctx, &goredis.XReadArgs{
		Streams: []string{s.feedKey(), start}, Count: feedPage, Block: block,
	}).Result())
	if err != nil {
		return nil, s.fail("follow revocation feed", err)
	}
	return msgs, nil
}

// streamMessages takes the messages of the one stream of an XREAD reply;
// no records (a nil reply) is not an error.
func streamMessages(res []goredis.XStream, err error) ([]goredis.XMessage, error) {
	if errors.Is(err, goredis.Nil) {
		return nil, nil
	}
	if err != nil {
		return nil, err
	}
	var msgs []goredis.XMessage
	for _, st := range res {
		msgs = append(msgs, st.Messages...)
	}
	return msgs, nil
}

// isNoSuchKey reports the XINFO STREAM error for a missing stream.
func isNoSuchKey(err error) bool { return goredis.HasErrorPrefix(err, "no such key") }

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
