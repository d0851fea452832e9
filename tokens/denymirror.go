package tokens

import (
	"context"
	"errors"
	"log/slog"
	"sync"
	"sync/atomic"
	"time"

	"github.com/authd-dev/authd/store"
)

// DenyFeed is the revocation feed the denylist mirror follows
// (store.RevocationFeed).
type DenyFeed interface {
	Denials(ctx context.Context) ([]store.Denial, string, error)
	DenialsAfter(ctx context.Context, cursor string, wait time.Duration) ([]store.FeedEntry, error)
}

// denyMirror is a local copy of the denylist, so that introspection on a
// shared store (Redis) needs no round trip (issue 13). It follows the
// revocation feed and knows how fresh it is: an empty answer of the feed
// to a read sent at t proves that the mirror holds every entry committed
// before t (a Deny appends to the feed before it returns), so t is the
// mirror's freshness. It answers only while that freshness is within
// staleness of now; otherwise (starting up, feed slow or down, a steady
// stream of revocations that never lets a read come back empty) the
// caller reads the store as before. A revocation committed on any replica
// is therefore reflected here within staleness, and at once when it was
// made here (record).
type denyMirror struct {
	feed      DenyFeed
	staleness time.Duration
	// poll is the pause after a read that found nothing. Reads never
	// block in the store: a blocking XREAD of a few milliseconds came
	// back after ~17 ms on the loaded test machine (Redis times blocked
	// clients out coarsely), which left the mirror stale most of the time.
	poll time.Duration
	now  func() time.Time
	log  *slog.Logger

	// fresh is the monotonic instant (mono) of the last read the feed
	// answered empty; 0: never (not usable).
	fresh atomic.Int64
	// mono is a monotonic clock in ns, never 0 (a field for tests).
	mono func() int64

	mu      sync.RWMutex
	entries map[denyKey]denyVal
}

type denyKey struct{ kind, value string }

// denyVal is an entry's At and ExpiresAt in Unix nanoseconds.
type denyVal struct{ at, exp int64 }

func newDenyMirror(feed DenyFeed, staleness time.Duration, now func() time.Time, log *slog.Logger) *denyMirror {
	base := time.Now()
	return &denyMirror{feed: feed, staleness: staleness, poll: staleness / 4, now: now, log: log,
		mono: func() int64 { return int64(time.Since(base)) + 1 }, entries: map[denyKey]denyVal{}}
}

// state answers q from the mirror; ok is false when the mirror is not
// fresh enough and the store must be read.
func (m *denyMirror) state(q store.DenyQuery) (st store.DenyState, ok bool) {
	f := m.fresh.Load()
	if f == 0 || m.mono()-f > int64(m.staleness) {
		return st, false
	}
	now := m.now().UnixNano()
	m.mu.RLock()
	defer m.mu.RUnlock()
	get := func(kind, value string) time.Time {
		if value == "" {
			return time.Time{}
		}
		if v, ok := m.entries[denyKey{kind, value}]; ok && v.exp > now {
			return time.Unix(0, v.at).UTC()
		}
		return time.Time{}
	}
	return store.DenyState{JTI: get(store.DenyJTI, q.JTI), SID: get(store.DenySID, q.SID),
		Subject: get(store.DenySubject, q.Subject), Client: get(store.DenyClient, q.ClientID)}, true
}

// record merges d (later At and later ExpiresAt win, as in the store).
func (m *denyMirror) record(ds ...store.Denial) {
	m.mu.Lock()
	defer m.mu.Unlock()
	for _, d := range ds {
		k := denyKey{d.Kind, d.Value}
		v := denyVal{at: d.At.UnixNano(), exp: d.ExpiresAt.UnixNano()}
		if old, ok := m.entries[k]; ok {
			v.at, v.exp = max(v.at, old.at), max(v.exp, old.exp)
		}
		m.entries[k] = v
	}
}

// prune drops expired entries.
func (m *denyMirror) prune() {
	now := m.now().UnixNano()
	m.mu.Lock()
	defer m.mu.Unlock()
	for k, v := range m.entries {
		if v.exp <= now {
			delete(m.entries, k)
		}
	}
}

// run follows the feed until ctx ends: a snapshot, then reads after its
// cursor; a cursor the feed no longer has starts again from a snapshot.
func (m *denyMirror) run(ctx context.Context) {
	const backoff = 100 * time.Millisecond
	lastPrune := time.Now()
	for ctx.Err() == nil {
		sent := m.mono()
		list, cursor, err := m.feed.Denials(ctx)
		if err != nil {
			m.fresh.Store(0)
			m.log.WarnContext(ctx, "denylist mirror: snapshot failed; introspection reads the store", "err", err)
			sleep(ctx, backoff)
			continue
		}
		m.mu.Lock()
		clear(m.entries)
		m.mu.Unlock()
		m.record(list...)
		m.fresh.Store(sent)
		for ctx.Err() == nil {
			sent := m.mono()
			es, err := m.feed.DenialsAfter(ctx, cursor, 0)
			if errors.Is(err, store.ErrCursorExpired) {
				break
			}
			if err != nil {
				if ctx.Err() == nil {
					m.log.WarnContext(ctx, "denylist mirror: feed read failed; introspection reads the store until it resumes", "err", err)
					sleep(ctx, backoff)
				}
				continue
			}
			if len(es) == 0 {
				m.fresh.Store(sent) // nothing was pending when this read was sent
				sleep(ctx, m.poll)
			} else {
				ds := make([]store.Denial, len(es))
				for i, e := range es {
					ds[i] = e.Denial
				}
				m.record(ds...)
				cursor = es[len(es)-1].Cursor // more may be pending: read again at once
			}
			if time.Since(lastPrune) > time.Minute {
				m.prune()
				lastPrune = time.Now()
			}
		}
	}
}

func sleep(ctx context.Context, d time.Duration) {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
	case <-ctx.Done():
	}
}

// mirroredDeny records every local denial in the mirror once the store
// has it, so this replica's own revocations are reflected at once.
type mirroredDeny struct {
	DenyWriter
	m *denyMirror
}

func (d mirroredDeny) Deny(ctx context.Context, den store.Denial) error {
	if err := d.DenyWriter.Deny(ctx, den); err != nil {
		return err
	}
	d.m.record(den)
	return nil
}

// RunDenyMirror follows the revocation feed into the local denylist
// mirror until ctx ends; without DenyMirrorStaleness it returns at once.
func (s *Service) RunDenyMirror(ctx context.Context) {
	if s.mirror != nil {
		s.mirror.run(ctx)
	}
}
