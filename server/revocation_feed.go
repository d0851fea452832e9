package server

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"net/http"
	"strings"
	"time"

	"github.com/authd-dev/authd/feed"
	"github.com/authd-dev/authd/oauth"
)

// PathRevocationFeed serves the denylist as Server-Sent Events
// (docs/revocation-feed.md).
const PathRevocationFeed = "/oauth2/revocations"

// FeedHub hands out revocation-feed subscriptions.
type FeedHub interface {
	Subscribe(ctx context.Context, cursor string) (*feed.Subscription, error)
}

// feedPing keeps idle connections (and proxies) from timing out.
const feedPing = 15 * time.Second

// DefaultFeedTimeout is Config.FeedTimeout when unset.
const DefaultFeedTimeout = 10 * time.Second

// feedRetryAfter is the Retry-After (seconds, RFC 9110 §10.2.3) of the
// 503 (RFC 9110 §15.6.4) a full replica answers.
const feedRetryAfter = 5

// handleRevocationFeed authenticates a confidential client like
// introspection does, then streams: a "snapshot" event with every live
// entry (or the entries after Last-Event-ID), then a "revocation" event per
// new entry. The stream ends when the subscriber falls behind, stops
// reading (a write that does not finish within FeedTimeout) or authd
// shuts down; the client reconnects with Last-Event-ID. A replica already
// serving its maximum of subscribers answers 503 with Retry-After.
func (s *Server) handleRevocationFeed(w http.ResponseWriter, r *http.Request) {
	client, err := s.cfg.ClientAuth.Authenticate(r.Context(), r)
	if err == nil && client.TokenEndpointAuthMethod == "none" {
		err = oauth.New(oauth.InvalidClient, "public clients may not read the revocation feed")
	}
	if err != nil {
		w.Header().Set("WWW-Authenticate", `Basic realm="authd", charset="UTF-8"`)
		s.writeError(w, r, err)
		return
	}
	// Last-Event-ID is what an EventSource sends on reconnecting (WHATWG
	// HTML, Server-sent events §9.2.4).
	cursor := r.Header.Get("Last-Event-ID")
	if cursor == "" {
		cursor = r.URL.Query().Get("after")
	}
	sub, err := s.cfg.Feed.Subscribe(r.Context(), cursor)
	if errors.Is(err, feed.ErrFull) {
		e := oauth.New(oauth.TemporarilyUnavailable, "this replica serves as many revocation-feed subscribers as it may; retry later")
		e.RetryAfter = feedRetryAfter
		err = e
	}
	if err != nil {
		s.writeError(w, r, err)
		return
	}
	defer sub.Close()

	// Every write to the connection gets its own deadline (the stream
	// outlives the server's WriteTimeout): a client that stops reading is
	// cut once its socket buffers are full, and this goroutine ends.
	rc := http.NewResponseController(w)
	dw := &deadlineWriter{w: w, rc: rc, timeout: s.cfg.FeedTimeout}
	if err := dw.arm(); err != nil {
		s.log.ErrorContext(r.Context(), "revocation feed: no write deadline on this connection", "err", err)
		s.writeError(w, r, err)
		return
	}
	h := w.Header()
	h.Set("Content-Type", "text/event-stream")
	h.Set("Cache-Control", "no-store")
	h.Set("X-Accel-Buffering", "no")
	w.WriteHeader(http.StatusOK)
	bw := bufio.NewWriter(dw)

	if sub.Snapshot {
		entries := make([]feed.Entry, 0, len(sub.Entries))
		for _, e := range sub.Entries {
			entries = append(entries, e.Entry)
		}
		writeEvent(bw, "snapshot", sub.Cursor, map[string]any{"entries": entries})
	} else {
		for _, e := range sub.Entries {
			writeEvent(bw, "revocation", e.Cursor, e.Entry)
		}
	}
	if dw.flush(bw) != nil {
		return
	}
	ping := time.NewTicker(feedPing)
	defer ping.Stop()
	for {
		select {
		case <-r.Context().Done():
			return
		case ev, ok := <-sub.Events:
			if !ok {
				return
			}
			writeEvent(bw, "revocation", ev.Cursor, ev.Entry)
		drain: // batch whatever else is queued into one flush
			for {
				select {
				case ev, ok := <-sub.Events:
					if !ok {
						break drain
					}
					writeEvent(bw, "revocation", ev.Cursor, ev.Entry)
				default:
					break drain
				}
			}
		case <-ping.C:
			bw.WriteString(": ping\n\n")
		}
		if dw.flush(bw) != nil {
			return
		}
	}
}

// deadlineWriter sets a fresh write deadline before every write to the
// connection (bufio's own flushes included) and before every flush. A
// large write (a snapshot is one line) goes out in chunks, each with its
// own deadline: a client that reads slowly but steadily is not cut, one
// that stops is.
type deadlineWriter struct {
	w       http.ResponseWriter
	rc      *http.ResponseController
	timeout time.Duration
	err     error // the first failure; every later call returns it
}

func (d *deadlineWriter) arm() error {
	return d.rc.SetWriteDeadline(time.Now().Add(d.timeout))
}

// feedChunk is the most one deadline covers.
const feedChunk = 64 << 10

func (d *deadlineWriter) Write(p []byte) (int, error) {
	n := 0
	for d.err == nil && n < len(p) {
		if d.err = d.arm(); d.err != nil {
			break
		}
		var m int
		m, d.err = d.w.Write(p[n:min(len(p), n+feedChunk)])
		n += m
	}
	return n, d.err
}

// flush writes out bw and the response's own buffer.
func (d *deadlineWriter) flush(bw *bufio.Writer) error {
	if err := bw.Flush(); err != nil {
		return err
	}
	if d.err = d.arm(); d.err != nil {
		return d.err
	}
	d.err = d.rc.Flush()
	return d.err
}

// writeEvent writes one SSE event (the data is single-line JSON).
func writeEvent(w *bufio.Writer, event, id string, data any) {
	b, _ := json.Marshal(data)
	w.WriteString("event: " + event + "\n")
	if id != "" && !strings.ContainsAny(id, "\r\n") {
		w.WriteString("id: " + id + "\n")
	}
	w.WriteString("data: ")
	w.Write(b)
	w.WriteString("\n\n")
}
