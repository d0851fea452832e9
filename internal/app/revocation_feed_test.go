package app_test

import (
	"bufio"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/authd-dev/authd/internal/redistest"
	"github.com/authd-dev/authd/store"
)

// openFeed connects to the revocation feed (resuming after lastID unless
// it is ""). On 200 its events arrive on the channel until the body is
// closed (at cleanup, or by the caller).
func openFeed(t *testing.T, in *instance, c registeredClient, lastID string) (*http.Response, <-chan sseEvent) {
	t.Helper()
	req, _ := http.NewRequest(http.MethodGet, in.Public.URL+"/oauth2/revocations", nil)
	req.Header.Set("Accept", "text/event-stream")
	if lastID != "" {
		req.Header.Set("Last-Event-ID", lastID)
	}
	req.SetBasicAuth(c.ClientID, c.ClientSecret)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { resp.Body.Close() })
	if resp.StatusCode != http.StatusOK {
		out := make(chan sseEvent)
		close(out)
		return resp, out
	}
	return resp, sseEvents(t, resp)
}

// sseEvents parses the event stream of resp until its body ends or the
// test does.
func sseEvents(t *testing.T, resp *http.Response) <-chan sseEvent {
	out := make(chan sseEvent, 64)
	go func() {
		defer close(out)
		sc := bufio.NewScanner(resp.Body)
		sc.Buffer(make([]byte, 64<<10), 4<<20)
		var ev sseEvent
		for sc.Scan() {
			line := sc.Text()
			switch {
			case line == "":
				if ev.Event != "" {
					select {
					case out <- ev:
					case <-t.Context().Done():
						return
					}
				}
				ev = sseEvent{}
			case strings.HasPrefix(line, "event: "):
				ev.Event = strings.TrimPrefix(line, "event: ")
			case strings.HasPrefix(line, "id: "):
				ev.ID = strings.TrimPrefix(line, "id: ")
			case strings.HasPrefix(line, "data: "):
				ev.Data = strings.TrimPrefix(line, "data: ")
			}
		}
	}()
	return out
}

// nextEvent waits up to d for the next event; a closed stream or a
// timeout fails the test (never a bare receive that hangs).
func nextEvent(t *testing.T, events <-chan sseEvent, d time.Duration) sseEvent {
	t.Helper()
	select {
	case ev, ok := <-events:
		if !ok {
			t.Fatal("the feed stream ended")
		}
		return ev
	case <-time.After(d):
		t.Fatalf("no feed event within %v", d)
	}
	return sseEvent{}
}

// feedValue decodes the value of a revocation event.
func feedValue(t *testing.T, ev sseEvent) string {
	t.Helper()
	var e struct{ Kind, Value string }
	if ev.Event != "revocation" || json.Unmarshal([]byte(ev.Data), &e) != nil || e.Kind != store.DenyJTI {
		t.Fatalf("event %+v; want a jti revocation", ev)
	}
	return e.Value
}

// denyMany adds n jti denials r0000… straight to the store (the feed is
// what is under test, not the revocation endpoint).
func denyMany(t *testing.T, in *instance, prefix string, n int, pad int) {
	t.Helper()
	now := time.Now()
	for i := range n {
		v := fmt.Sprintf("%s%04d%s", prefix, i, strings.Repeat("x", pad))
		if err := in.App.Store.Deny(context.Background(), store.Denial{Kind: store.DenyJTI, Value: v, At: now, ExpiresAt: now.Add(time.Hour)}); err != nil {
			t.Fatal(err)
		}
	}
}

// expectInOrder reads revocations prefix0000 … prefix<n-1> from events,
// each exactly once and in order, and returns the last event's id.
func expectInOrder(t *testing.T, events <-chan sseEvent, prefix string, from, to int) string {
	t.Helper()
	last := ""
	for i := from; i < to; i++ {
		ev := nextEvent(t, events, 10*time.Second)
		if got, want := feedValue(t, ev), fmt.Sprintf("%s%04d", prefix, i); got != want {
			t.Fatalf("revocation %d: got %s; want %s (a gap or a duplicate)", i, got, want)
		}
		if c, ok := store.CompareCursors(ev.ID, last); !ok || c <= 0 {
			t.Fatalf("event id %q does not come after %q", ev.ID, last)
		}
		last = ev.ID
	}
	return last
}

// TestRevocationFeedResumeLosesNothing: a subscriber 1,500 revocations
// behind its saved cursor gets all 1,500 in order (a store read returns at
// most 1,000), and one whose stream is cut part-way resumes by
// Last-Event-ID with neither a gap nor a duplicate, then goes live.
func TestRevocationFeedResumeLosesNothing(t *testing.T) {
	forEachStore(t, func(t *testing.T, storeArgs []string) {
		in := start(t, "", storeArgs...)
		c := in.createClient(map[string]any{"client_name": "rs"})
		denyMany(t, in, "base", 1, 0)
		resp, events := openFeed(t, in, c, "")
		snap := nextEvent(t, events, 5*time.Second)
		if snap.Event != "snapshot" || snap.ID == "" {
			t.Fatalf("first event %+v; want a snapshot with a cursor", snap)
		}
		resp.Body.Close()

		const n = 1500
		denyMany(t, in, "r", n, 0)
		resp, events = openFeed(t, in, c, snap.ID)
		if resp.StatusCode != http.StatusOK {
			t.Fatalf("resume: status %d", resp.StatusCode)
		}
		expectInOrder(t, events, "r", 0, n)
		resp.Body.Close()

		// Cut after 700 of them; resume from the last id it got.
		resp, events = openFeed(t, in, c, snap.ID)
		cut := expectInOrder(t, events, "r", 0, 700)
		resp.Body.Close()
		_, events = openFeed(t, in, c, cut)
		expectInOrder(t, events, "r", 700, n)
		denyMany(t, in, "live", 1, 0)
		expectInOrder(t, events, "live", 0, 1)
		select {
		case ev, ok := <-events:
			if ok {
				t.Fatalf("unexpected event %+v after the live one", ev)
			}
		case <-time.After(200 * time.Millisecond):
		}
	})
}

// TestRevocationFeedSubscriberLimitAndStalledReader: a replica serves at
// most --revocation-feed-max-subscribers streams (then 503 with
// Retry-After), and a subscriber that stops reading is cut by the write
// deadline: its stream ends and its place is free again.
func TestRevocationFeedSubscriberLimitAndStalledReader(t *testing.T) {
	in := start(t, "", "--revocation-feed-max-subscribers", "1", "--revocation-feed-write-timeout", "300ms")
	c := in.createClient(map[string]any{"client_name": "rs"})

	// The stalled reader sends its request and never reads past the
	// response head. It holds its place once the feed has subscribed it,
	// which the 200 shows (written after Subscribe): the probes below
	// must not start before, or a probe can take the one place while the
	// stalled request is still authenticating, and the stalled reader is
	// the one turned away. The head and at most 512 bytes of the body are
	// read; the flood below is megabytes.
	conn, _ := stalledFeed(t, in, c, "")
	conn.SetReadDeadline(time.Now().Add(10 * time.Second))
	head, err := http.ReadResponse(bufio.NewReaderSize(conn, 512), nil)
	if err != nil {
		t.Fatalf("the stalled reader's response: %v", err)
	}
	if head.StatusCode != http.StatusOK {
		t.Fatalf("the stalled reader got %d; want 200", head.StatusCode)
	}
	conn.SetReadDeadline(time.Time{})

	// Its place is taken: a second subscriber is turned away.
	full := func() bool {
		resp, _ := openFeed(t, in, c, "")
		defer resp.Body.Close()
		if resp.StatusCode == http.StatusServiceUnavailable {
			if resp.Header.Get("Retry-After") == "" {
				t.Fatal("503 without Retry-After")
			}
			var e struct{ Error string }
			json.NewDecoder(resp.Body).Decode(&e)
			if e.Error != "temporarily_unavailable" {
				t.Fatalf("503 error %q; want temporarily_unavailable", e.Error)
			}
			return true
		}
		if resp.StatusCode != http.StatusOK {
			t.Fatalf("status %d", resp.StatusCode)
		}
		return false
	}
	if !eventually(t, 2*time.Second, full) {
		t.Fatal("a second subscriber was served beyond --revocation-feed-max-subscribers 1")
	}

	// Far more than the socket buffers hold, far fewer than the queue.
	denyMany(t, in, "big", 600, 8<<10)
	start := time.Now()
	if !eventually(t, 10*time.Second, func() bool { return !full() }) {
		t.Fatal("the stalled subscriber still holds its place 10s later: no write deadline")
	}
	t.Logf("stalled subscriber cut %v after the flood", time.Since(start))
}

// TestRedisFeedRetentionCoversAccessTokenTTL: with an access-token TTL
// above the 2h the Redis feed used to keep, a revocation older than 2h
// whose token is still live stays in the feed's snapshot after later
// revocations trim the stream (the clock is injected: 3h pass).
func TestRedisFeedRetentionCoversAccessTokenTTL(t *testing.T) {
	rdb := redistest.Client(t)
	clock := newFakeClock(time.Now())
	in := startWith(t, clock.Now, "", "--store", "redis", "--redis-url", redistest.URL(t), "--redis-prefix", redistest.Prefix(t, rdb),
		"--access-token-ttl", "4h")
	c := in.createClient(map[string]any{"client_name": "svc"})
	cc := url.Values{"grant_type": {"client_credentials"}}
	old := in.token(c.ClientID, c.ClientSecret, cc).AccessToken
	oldJTI, _ := decodeClaims(t, old)["jti"].(string)
	if st := in.revoke(c, old, ""); st != http.StatusOK {
		t.Fatalf("revoke: %d", st)
	}
	clock.Add(3 * time.Hour)
	// A later revocation appends to the stream and trims it.
	later := in.token(c.ClientID, c.ClientSecret, cc).AccessToken
	if st := in.revoke(c, later, ""); st != http.StatusOK {
		t.Fatalf("revoke: %d", st)
	}
	if in.introspect(c, old).Active {
		t.Fatal("the first token is active again")
	}
	_, events := openFeed(t, in, c, "")
	snap := nextEvent(t, events, 5*time.Second)
	var body struct {
		Entries []struct{ Kind, Value string }
	}
	if snap.Event != "snapshot" || json.Unmarshal([]byte(snap.Data), &body) != nil {
		t.Fatalf("first event %+v; want a snapshot", snap)
	}
	found := false
	for _, e := range body.Entries {
		found = found || e.Kind == store.DenyJTI && e.Value == oldJTI
	}
	if !found || len(body.Entries) != 2 {
		t.Fatalf("snapshot %s; want both denials, the 3h-old one (its token lives 4h) included", snap.Data)
	}
}

// stalledFeed opens the revocation feed on a raw connection with a tiny
// receive buffer and reads nothing yet: the server's writes block once
// the socket buffers are full. read parses the answer when the test
// starts reading.
func stalledFeed(t *testing.T, in *instance, c registeredClient, lastID string) (conn net.Conn, read func() (*http.Response, <-chan sseEvent)) {
	t.Helper()
	d := net.Dialer{Control: func(_, _ string, rc syscall.RawConn) error {
		return rc.Control(func(fd uintptr) { syscall.SetsockoptInt(int(fd), syscall.SOL_SOCKET, syscall.SO_RCVBUF, 4096) })
	}}
	conn, err := d.Dial("tcp", in.Public.Listener.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { conn.Close() })
	req, _ := http.NewRequest(http.MethodGet, in.Public.URL+"/oauth2/revocations", nil)
	req.SetBasicAuth(c.ClientID, c.ClientSecret)
	if lastID != "" {
		req.Header.Set("Last-Event-ID", lastID)
	}
	if err := req.Write(conn); err != nil {
		t.Fatal(err)
	}
	return conn, func() (*http.Response, <-chan sseEvent) {
		resp, err := http.ReadResponse(bufio.NewReader(conn), req)
		if err != nil {
			t.Fatal(err)
		}
		return resp, sseEvents(t, resp)
	}
}

// TestRevocationFeedQueueCutResumes: a subscriber that reads too slowly
// is cut at its queue limit (--revocation-feed-queue); what it got before
// the cut plus what it gets resuming by Last-Event-ID is every revocation,
// each once, in order.
func TestRevocationFeedQueueCutResumes(t *testing.T) {
	forEachStore(t, func(t *testing.T, storeArgs []string) {
		in := start(t, "", append(storeArgs, "--revocation-feed-queue", "8", "--revocation-feed-write-timeout", "1m")...)
		c := in.createClient(map[string]any{"client_name": "rs"})
		denyMany(t, in, "base", 1, 0)
		resp, events := openFeed(t, in, c, "")
		snap := nextEvent(t, events, 5*time.Second)
		resp.Body.Close()

		_, read := stalledFeed(t, in, c, snap.ID)
		const n, pad = 500, 16 << 10 // 8 MiB: socket buffers fill (~3 MiB here), then the queue overflows
		denyMany(t, in, "r", n, pad)
		time.Sleep(200 * time.Millisecond) // the hub broadcasts the last ones
		resp, events = read()
		if resp.StatusCode != http.StatusOK {
			t.Fatalf("status %d", resp.StatusCode)
		}
		var got []string
		last := snap.ID
		for ev := range events { // ends when the server cuts the stream
			got = append(got, strings.TrimRight(feedValue(t, ev), "x"))
			last = ev.ID
		}
		if len(got) == n {
			t.Fatalf("the slow subscriber got all %d revocations: it was never cut", n)
		}
		t.Logf("cut after %d of %d revocations", len(got), n)
		_, events = openFeed(t, in, c, last)
		for range n - len(got) {
			got = append(got, strings.TrimRight(feedValue(t, nextEvent(t, events, 10*time.Second)), "x"))
		}
		for i, v := range got {
			if want := fmt.Sprintf("r%04d", i); v != want {
				t.Fatalf("revocation %d is %s; want %s (a gap or a duplicate)", i, v, want)
			}
		}
	})
}

// slowReader reads at most rate bytes per second.
type slowReader struct {
	r     io.Reader
	rate  float64
	start time.Time
	n     *int
}

func (s slowReader) Read(p []byte) (int, error) {
	m, err := s.r.Read(p[:min(len(p), 64<<10)])
	*s.n += m
	time.Sleep(time.Until(s.start.Add(time.Duration(float64(*s.n) / s.rate * float64(time.Second)))))
	return m, err
}

// TestRevocationFeedSlowSteadyReaderIsNotCut: the write deadline bounds
// each piece of a write, not a whole snapshot: a subscriber that reads a
// 20 MiB snapshot slowly but steadily (4 MB/s: seconds in all, far longer
// than the 1s write timeout) gets all of it.
func TestRevocationFeedSlowSteadyReaderIsNotCut(t *testing.T) {
	rdb := redistest.Client(t)
	in := start(t, "", "--store", "redis", "--redis-url", redistest.URL(t), "--redis-prefix", redistest.Prefix(t, rdb),
		"--revocation-feed-write-timeout", "1s")
	c := in.createClient(map[string]any{"client_name": "rs"})
	const n, pad = 1280, 16 << 10
	t0 := time.Now()
	denyMany(t, in, "big", n, pad)
	t.Logf("%d denials in %v", n, time.Since(t0))
	req, _ := http.NewRequest(http.MethodGet, in.Public.URL+"/oauth2/revocations", nil)
	req.SetBasicAuth(c.ClientID, c.ClientSecret)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("status %d", resp.StatusCode)
	}
	start, read := time.Now(), 0
	sc := bufio.NewScanner(slowReader{r: resp.Body, rate: 4e6, start: start, n: &read})
	sc.Buffer(make([]byte, 64<<10), 64<<20)
	for sc.Scan() {
		line, ok := strings.CutPrefix(sc.Text(), "data: ")
		if !ok {
			continue
		}
		var body struct {
			Entries []struct{ Kind, Value string }
		}
		if err := json.Unmarshal([]byte(line), &body); err != nil || len(body.Entries) != n {
			t.Fatalf("snapshot of %d bytes: %d entries, %v; want %d", len(line), len(body.Entries), err, n)
		}
		t.Logf("read a %d-byte snapshot in %v", len(line), time.Since(start))
		return
	}
	t.Fatalf("the stream ended after %v without a whole snapshot (%v): the slow reader was cut", time.Since(start), sc.Err())
}
