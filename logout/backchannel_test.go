package logout

import (
	"context"
	"encoding/base64"
	"net/http"
	"net/http/httptest"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

// textSigner "signs" by base64url-encoding the payload: these tests are
// about delivery; internal/app checks real logout tokens with jwx.
type textSigner struct{}

func (textSigner) Sign(alg, typ string, payload []byte) (string, string, error) {
	return typ + "." + base64.RawURLEncoding.EncodeToString(payload), "kid", nil
}

func newTestBackchannel(t *testing.T, cfg BackchannelConfig) (*Backchannel, func()) {
	t.Helper()
	cfg.Issuer, cfg.Signer, cfg.Backoff = "https://op.example", textSigner{}, 10*time.Millisecond
	b, err := NewBackchannel(cfg)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	var wg sync.WaitGroup
	wg.Add(1)
	go func() { defer wg.Done(); b.Run(ctx) }()
	return b, func() { cancel(); wg.Wait() }
}

// counter is a receiver answering status to every request.
func counter(t *testing.T, status int) (*httptest.Server, *atomic.Int32) {
	var n atomic.Int32
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		n.Add(1)
		if status == http.StatusFound {
			http.Redirect(w, r, r.URL.Query().Get("to"), status)
			return
		}
		w.WriteHeader(status)
	}))
	t.Cleanup(srv.Close)
	return srv, &n
}

func waitFor(t *testing.T, cond func() bool) {
	t.Helper()
	for end := time.Now().Add(3 * time.Second); time.Now().Before(end); time.Sleep(5 * time.Millisecond) {
		if cond() {
			return
		}
	}
	t.Fatal("condition not met within 3s")
}

// TestBackchannelRetriesBounded: a 5xx is retried up to Attempts times,
// then given up; a 4xx is not retried (§2.8: the RP refused the token).
func TestBackchannelRetriesBounded(t *testing.T) {
	down, downHits := counter(t, http.StatusServiceUnavailable)
	bad, badHits := counter(t, http.StatusBadRequest)
	b, stop := newTestBackchannel(t, BackchannelConfig{Attempts: 3})
	defer stop()
	b.Send(Notice{URI: down.URL, ClientID: "a", Alg: "RS256", Subject: "u", SessionID: "s"})
	b.Send(Notice{URI: bad.URL, ClientID: "b", Alg: "RS256", Subject: "u", SessionID: "s"})
	waitFor(t, func() bool { return downHits.Load() == 3 && badHits.Load() == 1 })
	time.Sleep(100 * time.Millisecond)
	if downHits.Load() != 3 || badHits.Load() != 1 {
		t.Errorf("attempts: 503 receiver %d (want 3), 400 receiver %d (want 1)", downHits.Load(), badHits.Load())
	}
}

// TestBackchannelFollowsNoRedirect: §2.5 gives the OP no redirect to
// follow; the token would reach a URI the client did not register.
func TestBackchannelFollowsNoRedirect(t *testing.T) {
	elsewhere, elsewhereHits := counter(t, http.StatusOK)
	redirecting, hits := counter(t, http.StatusFound)
	b, stop := newTestBackchannel(t, BackchannelConfig{})
	defer stop()
	b.Send(Notice{URI: redirecting.URL + "?to=" + elsewhere.URL, ClientID: "a", Alg: "RS256"})
	waitFor(t, func() bool { return hits.Load() == 1 })
	time.Sleep(100 * time.Millisecond)
	if elsewhereHits.Load() != 0 || hits.Load() != 1 {
		t.Errorf("redirect target hit %d times, redirecting receiver %d; want 0 and 1", elsewhereHits.Load(), hits.Load())
	}
}

// TestBackchannelQueueBounded: Send never blocks; past the queue it
// reports the token dropped.
func TestBackchannelQueueBounded(t *testing.T) {
	b, err := NewBackchannel(BackchannelConfig{Issuer: "https://op.example", Signer: textSigner{}, Queue: 2})
	if err != nil {
		t.Fatal(err)
	}
	// Not running: nothing drains the queue.
	n := Notice{URI: "https://rp.example/bc", ClientID: "a", Alg: "RS256"}
	if !b.Send(n) || !b.Send(n) || b.Send(n) {
		t.Error("want two tokens queued and the third dropped")
	}
}

// TestBackchannelRunStops: Run returns when its context ends, even with
// a delivery waiting for its next attempt.
func TestBackchannelRunStops(t *testing.T) {
	down, hits := counter(t, http.StatusServiceUnavailable)
	b, err := NewBackchannel(BackchannelConfig{Issuer: "https://op.example", Signer: textSigner{}, Backoff: time.Hour})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { b.Run(ctx); close(done) }()
	b.Send(Notice{URI: down.URL, ClientID: "a", Alg: "RS256"})
	waitFor(t, func() bool { return hits.Load() == 1 })
	cancel()
	select {
	case <-done:
	case <-time.After(2 * time.Second):
		t.Fatal("Run did not return after its context ended")
	}
}
