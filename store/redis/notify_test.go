package redis

import (
	"context"
	"net/url"
	"sync"
	"testing"
	"time"

	"github.com/authd-dev/authd/internal/redistest"
	"github.com/authd-dev/authd/store"
)

// TestSubscriptionSurvivesAnOutage: a subscription whose connection is cut
// reports NoticeLost, re-subscribes by itself once Redis is reachable
// again (NoticeSubscribed, so the subscriber resynchronises), and then
// delivers messages again.
func TestSubscriptionSurvivesAnOutage(t *testing.T) {
	ctx := context.Background()
	u, err := url.Parse(redistest.URL(t))
	if err != nil {
		t.Fatal(err)
	}
	p := newProxy(t, u.Host)
	direct := redistest.URL(t)
	u.Host = p.addr
	rdb := redistest.Client(t)
	prefix := redistest.Prefix(t, rdb)
	sub, err := Open(ctx, Options{URL: u.String(), Prefix: prefix})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { sub.Close() })
	pub, err := Open(ctx, Options{URL: direct, Prefix: prefix})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { pub.Close() })

	var mu sync.Mutex
	var kinds []store.NoticeKind
	var msgs []string
	sctx, cancel := context.WithCancel(ctx)
	done := make(chan error, 1)
	go func() {
		done <- sub.Subscribe(sctx, "t", func(n store.Notice) {
			mu.Lock()
			defer mu.Unlock()
			kinds = append(kinds, n.Kind)
			if n.Kind == store.NoticeMessage {
				msgs = append(msgs, n.Msg)
			}
		})
	}()
	await := func(what string, ok func() bool) {
		t.Helper()
		deadline := time.Now().Add(10 * time.Second)
		for {
			mu.Lock()
			done := ok()
			got := append([]store.NoticeKind(nil), kinds...)
			mu.Unlock()
			if done {
				return
			}
			if time.Now().After(deadline) {
				t.Fatalf("%s: not within 10s (notices %v)", what, got)
			}
			time.Sleep(10 * time.Millisecond)
		}
	}
	count := func(k store.NoticeKind) int {
		n := 0
		for _, x := range kinds {
			if x == k {
				n++
			}
		}
		return n
	}
	await("live", func() bool { return count(store.NoticeSubscribed) == 1 })
	if err := pub.Publish(ctx, "t", "before"); err != nil {
		t.Fatal(err)
	}
	await("message before the outage", func() bool { return len(msgs) == 1 })

	p.cut()
	await("NoticeLost after the cut", func() bool { return count(store.NoticeLost) == 1 })
	p.restore()
	await("NoticeSubscribed again after the restore", func() bool { return count(store.NoticeSubscribed) == 2 })
	if err := pub.Publish(ctx, "t", "after"); err != nil {
		t.Fatal(err)
	}
	await("message after the outage", func() bool { return len(msgs) == 2 && msgs[1] == "after" })
	cancel()
	select {
	case err := <-done:
		if err != context.Canceled {
			t.Fatalf("Subscribe: %v", err)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("Subscribe did not return after cancel")
	}
}
