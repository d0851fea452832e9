package verifier

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"math/rand/v2"
	"mime"
	"net/http"
	"net/url"
	"sync"
	"time"
)

const (
	// feedReadyWait is how long Verify waits for the feed's first snapshot.
	feedReadyWait = 2 * time.Second
	// feedIdle ends a connection that has sent nothing (not even the
	// 15-second ping) for this long.
	feedIdle = 45 * time.Second
	// feedMinBackoff and feedMaxBackoff bound the reconnection delay.
	feedMinBackoff = 100 * time.Millisecond
	feedMaxBackoff = 30 * time.Second
)

// feedClient follows the issuer's revocation feed (Server-Sent Events) into
// a denylist. One goroutine runs it; only that goroutine touches cursor.
type feedClient struct {
	url          string
	clientID     string
	clientSecret string
	client       *http.Client // without Timeout: the stream is long-lived
	now          func() time.Time
	log          *slog.Logger
	list         *denylist

	ready     chan struct{} // closed at the first snapshot
	readyOnce sync.Once

	cursor string // Last-Event-ID for the next connection

	// maxStale bounds how long after a disconnect the denylist counts
	// as current; failClosed makes Verify fail past it.
	maxStale   time.Duration
	failClosed bool

	mu        sync.Mutex
	connected bool      // a stream is up
	downSince time.Time // while !connected: when the last stream ended
	lastWarn  time.Time // last "denylist is stale" warning
}

// staleWarnEvery rate-limits the warning that the denylist is stale.
const staleWarnEvery = time.Minute

// setConnected records whether a stream is up, and at a disconnect since
// when revocations may have been missed.
func (f *feedClient) setConnected(up bool) {
	now := f.now()
	f.mu.Lock()
	defer f.mu.Unlock()
	f.connected = up
	if !up {
		f.downSince = now
	}
}

// status reports the connection and how long the denylist has not been
// known to be current (0 while connected).
func (f *feedClient) status(now time.Time) (connected bool, lag time.Duration) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.connected {
		return true, 0
	}
	return false, max(now.Sub(f.downSince), 0)
}

// current enforces the staleness bound: past it Verify fails with
// ErrFeedStale if failClosed, otherwise a warning is logged at most once
// per staleWarnEvery.
func (f *feedClient) current(now time.Time) error {
	_, lag := f.status(now)
	if lag <= f.maxStale {
		return nil
	}
	if f.failClosed {
		return fmt.Errorf("%w: for %s (bound %s)", ErrFeedStale, lag.Round(time.Second), f.maxStale)
	}
	f.mu.Lock()
	warn := f.lastWarn.IsZero() || now.Sub(f.lastWarn) >= staleWarnEvery
	if warn {
		f.lastWarn = now
	}
	f.mu.Unlock()
	if warn {
		f.log.Warn("verifier: revocation feed disconnected longer than the staleness bound; revoked tokens may be accepted",
			"disconnected_for", lag.Round(time.Second), "bound", f.maxStale)
	}
	return nil
}

// errStreamEnded is a feed connection closed by the issuer.
var errStreamEnded = errors.New("revocation feed: stream ended")

// run connects, reconnects with exponential backoff and jitter, and
// resumes with Last-Event-ID, until ctx ends.
func (f *feedClient) run(ctx context.Context) {
	backoff := feedMinBackoff
	for {
		delivered, retry, err := f.stream(ctx)
		if ctx.Err() != nil {
			return
		}
		if delivered {
			backoff = feedMinBackoff
		}
		// Full jitter over [backoff/2, backoff), never below the
		// server's "retry" field.
		wait := max(backoff/2+rand.N(backoff/2+1), retry)
		f.log.Warn("verifier: revocation feed disconnected", "err", err, "retry_in", wait)
		t := time.NewTimer(wait)
		select {
		case <-ctx.Done():
			t.Stop()
			return
		case <-t.C:
		}
		backoff = min(backoff*2, feedMaxBackoff)
	}
}

// stream runs one connection. It reports whether any event was applied,
// the server's reconnection delay, and why the connection ended.
func (f *feedClient) stream(ctx context.Context) (delivered bool, retry time.Duration, err error) {
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, f.url, nil)
	if err != nil {
		return false, 0, err
	}
	req.Header.Set("Accept", "text/event-stream")
	req.Header.Set("Cache-Control", "no-cache")
	// RFC 6749 §2.3.1: id and secret are form-urlencoded before Basic.
	req.SetBasicAuth(url.QueryEscape(f.clientID), url.QueryEscape(f.clientSecret))
	if f.cursor != "" {
		req.Header.Set("Last-Event-ID", f.cursor)
	}
	resp, err := f.client.Do(req)
	if err != nil {
		return false, 0, err
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		_, _ = io.Copy(io.Discard, io.LimitReader(resp.Body, 4096))
		if resp.StatusCode == http.StatusUnauthorized {
			f.log.Error("verifier: revocation feed rejected the client credentials")
		}
		return false, 0, fmt.Errorf("revocation feed: status %s", resp.Status)
	}
	if mt, _, _ := mime.ParseMediaType(resp.Header.Get("Content-Type")); mt != "text/event-stream" {
		return false, 0, fmt.Errorf("revocation feed: content type %q", resp.Header.Get("Content-Type"))
	}

	// The denylist is current while the stream is up; from its end on,
	// revocations may be missed. A silently dead connection ends after
	// feedIdle.
	f.setConnected(true)
	defer f.setConnected(false)
	watchdog := time.AfterFunc(feedIdle, cancel)
	defer watchdog.Stop()
	r := newSSEReader(resp.Body)
	r.onComment = func() { watchdog.Reset(feedIdle) }
	for {
		ev, err := r.Next()
		if err != nil {
			if errors.Is(err, io.EOF) {
				err = errStreamEnded
			}
			return delivered, r.retry, err
		}
		watchdog.Reset(feedIdle)
		if err := f.apply(ev); err != nil {
			// A malformed event may hide a revocation: start over from a
			// fresh snapshot rather than skip it.
			f.cursor = ""
			return delivered, r.retry, err
		}
		delivered = true
	}
}

// apply applies one event to the denylist and advances the cursor.
func (f *feedClient) apply(ev sseEvent) error {
	switch ev.Type {
	case "snapshot":
		var snap struct {
			Entries []feedEntry `json:"entries"`
		}
		if err := json.Unmarshal([]byte(ev.Data), &snap); err != nil {
			return fmt.Errorf("revocation feed: snapshot: %w", err)
		}
		f.list.replace(snap.Entries, f.now())
		f.readyOnce.Do(func() { close(f.ready) })
		f.log.Debug("verifier: revocation feed snapshot", "entries", len(snap.Entries), "cursor", ev.ID)
	case "revocation":
		var e feedEntry
		if err := json.Unmarshal([]byte(ev.Data), &e); err != nil {
			return fmt.Errorf("revocation feed: entry: %w", err)
		}
		f.list.add(e, f.now())
	default:
		return nil // unknown event types are ignored; the cursor stays
	}
	f.cursor = ev.ID
	return nil
}

// wait blocks until the first snapshot has arrived, ctx ends, or
// feedReadyWait passes; revocation cannot be checked before.
func (f *feedClient) wait(ctx context.Context) error {
	select {
	case <-f.ready:
		return nil
	default:
	}
	t := time.NewTimer(feedReadyWait)
	defer t.Stop()
	select {
	case <-f.ready:
		return nil
	case <-ctx.Done():
		return fmt.Errorf("%w: %w", ErrFeedNotReady, ctx.Err())
	case <-t.C:
		return fmt.Errorf("%w: no snapshot within %s", ErrFeedNotReady, feedReadyWait)
	}
}
