package users

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/authd-dev/authd/oauth"
	"github.com/authd-dev/authd/store"
)

func TestThrottleKeys(t *testing.T) {
	long := strings.Repeat("é", MaxUsernameLen)
	if k := usernameKey(long); k == "" || len(k) > store.MaxBucketKeyLen {
		t.Errorf("key of a 64-character username: %q", k)
	}
	if usernameKey("  Alice ") != usernameKey("alice") || usernameKey("alice") == usernameKey("bob") {
		t.Error("username keys must fold case and spaces, and differ between users")
	}
	if strings.Contains(usernameKey("alice"), "alice") {
		t.Error("the username key holds the username")
	}
	for _, bad := range []string{"", "a\x00", strings.Repeat("x", MaxUsernameLen+1), strings.Repeat("x", 60_000)} {
		if k := usernameKey(bad); k != "" {
			t.Errorf("invalid username %.20q has key %q, want none (counts against the address only)", bad, k)
		}
	}
	for in, want := range map[string]string{
		"192.0.2.1":                 "ip:192.0.2.1",
		"::ffff:192.0.2.1":          "ip:192.0.2.1",
		"2001:db8:1:2:3:4:5:6":      "ip:2001:db8:1:2::/64",
		"2001:db8:1:2:ffff::1%eth0": "ip:2001:db8:1:2::/64",
		"":                          "",
	} {
		if got := ipKey(in); got != want {
			t.Errorf("ipKey(%q) = %q, want %q", in, got, want)
		}
	}
	if k := ipKey(strings.Repeat("z", 10_000)); len(k) > store.MaxBucketKeyLen {
		t.Errorf("key of a garbage address is %d bytes", len(k))
	}
}

// TestLoginReservesBeforeHashing is issue 8 item 1 at the unit level: 100
// parallel wrong passwords for one username evaluate exactly the burst
// (10); every other one is slow_down with a Retry-After, unhashed.
func TestLoginReservesBeforeHashing(t *testing.T) {
	st := newMemStore()
	s, _, verified := newTestService(t, st, fast)
	s.slots = newHashSlots(1000*int64(fast.MemoryKiB), 1000, s.metrics.hashMemory) // the budget is not under test
	ctx := context.Background()
	if _, err := s.Create(ctx, CreateRequest{Username: "alice", Password: "password1"}); err != nil {
		t.Fatal(err)
	}
	*verified = nil
	var throttled atomic.Int64
	var wg sync.WaitGroup
	start := make(chan struct{})
	for range 100 {
		wg.Go(func() {
			<-start
			_, err := s.Login(ctx, "alice", "wrong password", "192.0.2.1")
			e := oauth.As(err)
			switch {
			case e != nil && e.Code == oauth.InvalidGrant:
			case e != nil && e.Code == oauth.SlowDown && e.Status == http.StatusTooManyRequests && e.RetryAfter > 0:
				throttled.Add(1)
			default:
				t.Errorf("Login: %v", err)
			}
		})
	}
	close(start)
	wg.Wait()
	if n := len(*verified); n != 10 {
		t.Errorf("%d passwords evaluated, want the burst: 10", n)
	}
	if throttled.Load() != 90 {
		t.Errorf("%d slow_down answers, want 90", throttled.Load())
	}
}

// TestLoginRefundsSuccess: a successful login gives its attempt back, a
// failed one does not; an invalid username spends only the address's.
func TestLoginRefundsSuccess(t *testing.T) {
	st := newMemStore()
	s, clk, _ := newTestService(t, st, fast)
	ctx := context.Background()
	if _, err := s.Create(ctx, CreateRequest{Username: "alice", Password: "password1"}); err != nil {
		t.Fatal(err)
	}
	for i := range 30 { // far more than the username's burst of 10
		if _, err := s.Login(ctx, "Alice", "password1", "192.0.2.1"); err != nil {
			t.Fatalf("good login %d: %v", i, err)
		}
	}
	for range 10 {
		if _, err := s.Login(ctx, "alice", "wrong password", "192.0.2.2"); oauth.As(err).Code != oauth.InvalidGrant {
			t.Fatalf("wrong password: %v", err)
		}
	}
	if _, err := s.Login(ctx, "ALICE", "password1", "192.0.2.3"); oauth.As(err) == nil || oauth.As(err).Code != oauth.SlowDown {
		t.Fatalf("after the burst of failures, from a new address: %v, want slow_down", err)
	}
	clk.Add(12 * time.Second) // one attempt refills (5 per minute)
	if _, err := s.Login(ctx, "alice", "password1", "192.0.2.3"); err != nil {
		t.Fatalf("after a refill: %v", err)
	}
	// 200 invalid usernames from one address spend the address's 50 and
	// never a username bucket: alice still logs in from elsewhere.
	for i := range 200 {
		_, err := s.Login(ctx, strings.Repeat("x", 100+i), "password", "198.51.100.9")
		if e := oauth.As(err); e == nil || (e.Code != oauth.InvalidGrant && e.Code != oauth.SlowDown) || (i >= 50 && e.Code != oauth.SlowDown) {
			t.Fatalf("invalid username %d: %v", i, err)
		}
	}
	if _, err := s.Login(ctx, "alice", "password1", "192.0.2.4"); err != nil {
		t.Fatalf("alice after a flood of invalid usernames: %v", err)
	}
}

// TestLoginHashBudget: with the budget or the address's share in use, a
// login answers temporarily_unavailable at once, hashes nothing and
// spends no attempt.
func TestLoginHashBudget(t *testing.T) {
	st := newMemStore()
	s, _, verified := newTestService(t, st, fast) // budget 4 hashes, 2 per address
	ctx := context.Background()
	if _, err := s.Create(ctx, CreateRequest{Username: "alice", Password: "password1"}); err != nil {
		t.Fatal(err)
	}
	wantBusy := func(ip string) {
		t.Helper()
		*verified = nil
		_, err := s.Login(ctx, "alice", "password1", ip)
		e := oauth.As(err)
		if e == nil || e.Code != oauth.TemporarilyUnavailable || e.Status != http.StatusServiceUnavailable || e.RetryAfter != 1 {
			t.Fatalf("Login from %s while full: %v, want temporarily_unavailable 503", ip, err)
		}
		if len(*verified) != 0 {
			t.Fatal("a refused login hashed")
		}
	}
	var held []func()
	for range 2 {
		r, ok := s.slots.tryAcquire("192.0.2.1", fast.MemoryKiB)
		if !ok {
			t.Fatal("could not take a slot")
		}
		held = append(held, r)
	}
	wantBusy("192.0.2.1") // its share is in use
	if _, err := s.Login(ctx, "alice", "password1", "192.0.2.2"); err != nil {
		t.Fatalf("another address: %v", err)
	}
	for range 2 {
		r, _ := s.slots.tryAcquire("192.0.2.3", fast.MemoryKiB)
		held = append(held, r)
	}
	wantBusy("192.0.2.2") // the whole budget is in use
	for range 20 {        // refused logins spend no attempt: far beyond the burst
		wantBusy("192.0.2.4")
	}
	for _, r := range held {
		r()
	}
	if _, err := s.Login(ctx, "alice", "wrong password", "192.0.2.5"); oauth.As(err).Code != oauth.InvalidGrant {
		t.Fatalf("after release: %v, want invalid_grant (the refusals spent no attempt)", err)
	}
	if len(s.slots.byIP) != 0 {
		t.Errorf("per-address counts left: %v", s.slots.byIP)
	}
	// A stored hash asking for more than the budget still runs, alone.
	if w := s.slots.weight(1 << 20); w != s.slots.budget {
		t.Errorf("weight of a 1 GiB hash: %d, want the budget %d", w, s.slots.budget)
	}
}

// TestLoginStoreDown: a throttle store that cannot be reached fails the
// login (503 through the HTTP layer), it never skips the throttle.
func TestLoginStoreDown(t *testing.T) {
	st := newMemStore()
	s, _, verified := newTestService(t, st, fast)
	s.cfg.Throttle.store.(*memAttempts).err = store.ErrUnavailable
	_, err := s.Login(context.Background(), "alice", "password1", "192.0.2.1")
	if !errors.Is(err, store.ErrUnavailable) || len(*verified) != 0 {
		t.Fatalf("Login with the throttle down: %v (%d hashed)", err, len(*verified))
	}
}

// TestLoginHashBudgetBoundsConcurrency: however many logins arrive at
// once, no more hashes run together than the budget holds (4 here), nor
// more than the per-address share (2) for one address; the others are
// refused at once.
func TestLoginHashBudgetBoundsConcurrency(t *testing.T) {
	for _, tt := range []struct {
		name    string
		ip      func(i int) string
		maxRuns int64
	}{
		{"many addresses", func(i int) string { return fmt.Sprintf("198.51.100.%d", i) }, 4},
		{"one address", func(int) string { return "192.0.2.1" }, 2},
	} {
		t.Run(tt.name, func(t *testing.T) {
			s, _, _ := newTestService(t, newMemStore(), fast)
			var running, peak atomic.Int64
			inner := s.verify
			s.verify = func(phc, password string) (bool, bool, error) {
				n := running.Add(1)
				for p := peak.Load(); n > p && !peak.CompareAndSwap(p, n); p = peak.Load() {
				}
				time.Sleep(5 * time.Millisecond) // a slow hash
				defer running.Add(-1)
				return inner(phc, password)
			}
			var busy atomic.Int64
			var wg sync.WaitGroup
			start := make(chan struct{})
			for i := range 100 {
				wg.Go(func() {
					<-start
					_, err := s.Login(context.Background(), fmt.Sprint("user", i), "password1", tt.ip(i))
					if e := oauth.As(err); e != nil && e.Code == oauth.TemporarilyUnavailable {
						busy.Add(1)
					}
				})
			}
			close(start)
			wg.Wait()
			if peak.Load() > tt.maxRuns || peak.Load() < 1 {
				t.Errorf("%d hashes ran at once, want 1 to %d", peak.Load(), tt.maxRuns)
			}
			if busy.Load() == 0 {
				t.Error("no login was refused for lack of hashing memory")
			}
		})
	}
}
