package users

import (
	"fmt"
	"testing"
	"time"
)

func newTestThrottle(cfg ThrottleConfig) (*Throttle, *clock) {
	clk := &clock{now: t0}
	cfg.Now = clk.Now
	return NewThrottle(cfg), clk
}

func wantAllow(t *testing.T, th *Throttle, user, ip string, want bool, wantWait time.Duration) {
	t.Helper()
	ok, wait := th.Allow(user, ip)
	if ok != want || wait != wantWait {
		t.Fatalf("Allow(%q, %q) = %v, %v; want %v, %v", user, ip, ok, wait, want, wantWait)
	}
}

func TestThrottlePerUsername(t *testing.T) {
	th, clk := newTestThrottle(ThrottleConfig{}) // defaults: 5/min burst 10
	for range 1000 {
		wantAllow(t, th, "alice", "192.0.2.1", true, 0) // asking spends nothing
	}
	for i := range 10 {
		wantAllow(t, th, "alice", fmt.Sprint("192.0.2.", i), true, 0)
		th.Failure("alice", fmt.Sprint("192.0.2.", i))
	}
	// 5 per minute: one token every 12 s.
	wantAllow(t, th, "alice", "198.51.100.7", false, 12*time.Second)
	wantAllow(t, th, "ALICE ", "198.51.100.7", false, 12*time.Second) // case and spaces do not evade
	wantAllow(t, th, "bob", "198.51.100.7", true, 0)
	clk.Add(9 * time.Second)
	wantAllow(t, th, "alice", "198.51.100.7", false, 3*time.Second)
	clk.Add(3 * time.Second)
	wantAllow(t, th, "alice", "198.51.100.7", true, 0)
	th.Failure("Alice", "198.51.100.7")
	wantAllow(t, th, "alice", "198.51.100.7", false, 12*time.Second)

	th.Success("ALICE")
	wantAllow(t, th, "alice", "198.51.100.7", true, 0)
}

func TestThrottlePerIP(t *testing.T) {
	th, clk := newTestThrottle(ThrottleConfig{IPPerMinute: 20, IPBurst: 50})
	for i := range 50 {
		th.Failure(fmt.Sprint("user", i), "192.0.2.1")
	}
	// 20 per minute: one token every 3 s.
	wantAllow(t, th, "someone-new", "192.0.2.1", false, 3*time.Second)
	wantAllow(t, th, "someone-new", "::ffff:192.0.2.1", false, 3*time.Second) // v4-mapped is the same address
	wantAllow(t, th, "someone-new", "192.0.2.2", true, 0)
	th.Success("user1") // a success resets the username, not the address
	wantAllow(t, th, "user1", "192.0.2.1", false, 3*time.Second)
	clk.Add(3 * time.Second)
	wantAllow(t, th, "someone-new", "192.0.2.1", true, 0)
}

func TestThrottleIPv6Prefix(t *testing.T) {
	th, _ := newTestThrottle(ThrottleConfig{IPBurst: 2})
	th.Failure("a", "2001:db8:0:1::1")
	th.Failure("b", "2001:db8:0:1:ffff::2")
	wantAllow(t, th, "c", "2001:db8:0:1::99", false, 3*time.Second) // same /64
	wantAllow(t, th, "c", "2001:db8:0:2::1", true, 0)               // next /64
}

func TestThrottleEmptyKeys(t *testing.T) {
	th, _ := newTestThrottle(ThrottleConfig{UsernameBurst: 1, IPBurst: 1})
	th.Failure("", "")
	th.Failure("", "")
	wantAllow(t, th, "", "", true, 0)
	if len(th.byUsername) != 0 || len(th.byIP) != 0 {
		t.Errorf("empty keys tracked: %d usernames, %d addresses", len(th.byUsername), len(th.byIP))
	}
}

func TestThrottleBounded(t *testing.T) {
	th, clk := newTestThrottle(ThrottleConfig{MaxKeys: 100})
	for i := range 100 {
		th.Failure(fmt.Sprint("u", i), "192.0.2.1")
	}
	th.Failure("victim", "192.0.2.1")
	if n := len(th.byUsername); n > 100 {
		t.Fatalf("%d usernames tracked, want ≤ 100", n)
	}
	// A throttled key survives while idle ones can go instead.
	clk.Add(2 * time.Minute) // the single failures have refilled: idle
	for range 10 {
		th.Failure("busy", "192.0.2.1")
	}
	for i := range 200 {
		th.Failure(fmt.Sprint("new", i), "192.0.2.1")
		if n := len(th.byUsername); n > 100 {
			t.Fatalf("%d usernames tracked, want ≤ 100", n)
		}
		if i < 90 {
			if ok, _ := th.Allow("busy", ""); ok {
				t.Fatalf("after %d new keys the busy key was evicted while idle ones remained", i)
			}
		}
	}
}
