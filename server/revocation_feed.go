package server

import (
	"bufio"
	"context"
	"encoding/json"
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

// handleRevocationFeed authenticates a confidential client like
// introspection does, then streams: a "snapshot" event with every live
// entry (or the entries after Last-Event-ID), then a "revocation" event per
// new entry. The stream ends when the subscriber falls behind or authd
// shuts down; the client reconnects with Last-Event-ID.
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
	cursor := r.Header.Get("Last-Event-ID")
	if cursor == "" {
		cursor = r.URL.Query().Get("after")
	}
	sub, err := s.cfg.Feed.Subscribe(r.Context(), cursor)
	if err != nil {
		s.writeError(w, r, err)
		return
	}
	defer sub.Close()

	rc := http.NewResponseController(w)
	rc.SetWriteDeadline(time.Time{}) // a stream outlives the server's write timeout
	h := w.Header()
	h.Set("Content-Type", "text/event-stream")
	h.Set("Cache-Control", "no-store")
	h.Set("X-Accel-Buffering", "no")
	w.WriteHeader(http.StatusOK)
	bw := bufio.NewWriter(w)

	if sub.Snapshot || len(sub.Entries) > 0 {
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
	}
	if bw.Flush() != nil || rc.Flush() != nil {
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
		if bw.Flush() != nil || rc.Flush() != nil {
			return
		}
	}
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
