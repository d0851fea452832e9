package storetest

import (
	"context"
	"errors"
	"sync"
	"testing"
	"time"

	"github.com/authd-dev/authd/store"
)

// NewDeviceAuth returns a pending device authorization of client, created
// at now, ending in ten minutes, polled every five seconds.
func NewDeviceAuth(digest, userCode, client string, now time.Time) store.DeviceAuth {
	return store.DeviceAuth{DeviceDigest: digest, UserCode: userCode, ClientID: client, Scope: "openid profile",
		Audience: []string{"https://api.example"}, State: store.DevicePending, CreatedAt: now,
		ExpiresAt: now.Add(10 * time.Minute), Interval: 5 * time.Second}
}

// testDevice: device authorizations (RFC 8628) are created once per user
// code, decided once, polled with slow_down bookkeeping, consumed by
// exactly one poll, and expire by TTL.
func testDevice(t *testing.T, newStore func(t *testing.T) store.Store) {
	ctx := context.Background()
	t.Run("create and read", func(t *testing.T) {
		s, now := newStore(t), Now()
		a := NewDeviceAuth("dg1", "BCDFGHJK", "c1", now)
		if err := s.CreateDeviceAuth(ctx, a); err != nil {
			t.Fatalf("CreateDeviceAuth: %v", err)
		}
		got, err := s.GetDeviceAuthByUserCode(ctx, "BCDFGHJK")
		if err != nil {
			t.Fatalf("GetDeviceAuthByUserCode: %v", err)
		}
		if got.DeviceDigest != a.DeviceDigest || got.ClientID != "c1" || got.Scope != a.Scope || got.State != store.DevicePending ||
			!got.ExpiresAt.Equal(a.ExpiresAt) || got.Interval != a.Interval || len(got.Audience) != 1 || !got.LastPollAt.IsZero() {
			t.Fatalf("read back %+v; stored %+v", got, a)
		}
		if err := s.CreateDeviceAuth(ctx, NewDeviceAuth("dg2", "BCDFGHJK", "c1", now)); !errors.Is(err, store.ErrExists) {
			t.Fatalf("second record with the same user code: %v; want ErrExists", err)
		}
		if _, err := s.GetDeviceAuthByUserCode(ctx, "ZZZZZZZZ"); !errors.Is(err, store.ErrNotFound) {
			t.Fatalf("unknown user code: %v; want ErrNotFound", err)
		}
	})
	t.Run("poll pending and slow_down", func(t *testing.T) {
		s, now := newStore(t), Now()
		a := NewDeviceAuth("dg1", "BCDFGHJK", "c1", now)
		if err := s.CreateDeviceAuth(ctx, a); err != nil {
			t.Fatal(err)
		}
		poll := func(at time.Time) store.DevicePollResult {
			t.Helper()
			r, err := s.PollDeviceAuth(ctx, store.DevicePoll{DeviceDigest: "dg1", ClientID: "c1", Now: at})
			if err != nil {
				t.Fatalf("PollDeviceAuth: %v", err)
			}
			return r
		}
		if r := poll(now); r.SlowDown || r.Expired || r.Auth.State != store.DevicePending || !r.Auth.LastPollAt.Equal(now) {
			t.Fatalf("first poll: %+v", r)
		}
		if r := poll(now.Add(time.Second)); !r.SlowDown || r.Auth.Interval != 10*time.Second {
			t.Fatalf("poll after 1s of a 5s interval: %+v; want slow_down and a 10s interval", r)
		}
		if r := poll(now.Add(8 * time.Second)); !r.SlowDown || r.Auth.Interval != 15*time.Second {
			t.Fatalf("poll 7s later with a 10s interval: %+v; want slow_down and 15s", r)
		}
		if r := poll(now.Add(30 * time.Second)); r.SlowDown || r.Auth.Interval != 15*time.Second {
			t.Fatalf("poll after the interval: %+v; want pending at 15s", r)
		}
		if _, err := s.PollDeviceAuth(ctx, store.DevicePoll{DeviceDigest: "dg1", ClientID: "other", Now: now.Add(time.Minute)}); !errors.Is(err, store.ErrNotFound) {
			t.Fatalf("another client's poll: %v; want ErrNotFound", err)
		}
		if r := poll(now.Add(50 * time.Second)); r.SlowDown {
			t.Fatalf("another client's poll counted as a poll: %+v", r)
		}
		if r := poll(a.ExpiresAt); !r.Expired {
			t.Fatalf("poll at ExpiresAt: %+v; want Expired", r)
		}
		if _, err := s.PollDeviceAuth(ctx, store.DevicePoll{DeviceDigest: "nope", ClientID: "c1", Now: now}); !errors.Is(err, store.ErrNotFound) {
			t.Fatalf("unknown digest: %v; want ErrNotFound", err)
		}
	})
	t.Run("decide once, concurrently", func(t *testing.T) {
		s, now := newStore(t), Now()
		if err := s.CreateDeviceAuth(ctx, NewDeviceAuth("dg1", "BCDFGHJK", "c1", now)); err != nil {
			t.Fatal(err)
		}
		const n = 8
		var wg sync.WaitGroup
		errs := make([]error, n)
		for i := range n {
			wg.Go(func() {
				_, errs[i] = s.DecideDeviceAuth(ctx, "BCDFGHJK", store.DeviceDecision{Approve: i%2 == 0, Now: now,
					Subject: "u1", AuthTime: now.Truncate(time.Second), SessionID: "sid1", FamilyID: "fam1", AMR: []string{"pwd"}})
			})
		}
		wg.Wait()
		won := 0
		for _, err := range errs {
			switch {
			case err == nil:
				won++
			case !errors.Is(err, store.ErrConflict):
				t.Fatalf("DecideDeviceAuth: %v; want nil or ErrConflict", err)
			}
		}
		if won != 1 {
			t.Fatalf("%d decisions succeeded; want exactly 1", won)
		}
		got, err := s.GetDeviceAuthByUserCode(ctx, "BCDFGHJK")
		if err != nil {
			t.Fatal(err)
		}
		if got.State == store.DevicePending {
			t.Fatalf("still pending after a decision")
		}
		if got.State == store.DeviceApproved && (got.Subject != "u1" || got.SessionID != "sid1" || got.FamilyID != "fam1" ||
			len(got.AMR) != 1 || !got.AuthTime.Equal(now.Truncate(time.Second))) {
			t.Fatalf("approved record lost the decision: %+v", got)
		}
		if _, err := s.DecideDeviceAuth(ctx, "ZZZZZZZZ", store.DeviceDecision{Now: now}); !errors.Is(err, store.ErrNotFound) {
			t.Fatalf("deciding an unknown code: %v; want ErrNotFound", err)
		}
		if err := s.CreateDeviceAuth(ctx, NewDeviceAuth("dg2", "CDFGHJKL", "c1", now)); err != nil {
			t.Fatal(err)
		}
		if _, err := s.DecideDeviceAuth(ctx, "CDFGHJKL", store.DeviceDecision{Approve: true, Now: now.Add(10 * time.Minute), Subject: "u1"}); !errors.Is(err, store.ErrNotFound) {
			t.Fatalf("deciding an expired record: %v; want ErrNotFound", err)
		}
	})
	t.Run("denied stays denied", func(t *testing.T) {
		s, now := newStore(t), Now()
		if err := s.CreateDeviceAuth(ctx, NewDeviceAuth("dg1", "BCDFGHJK", "c1", now)); err != nil {
			t.Fatal(err)
		}
		if _, err := s.DecideDeviceAuth(ctx, "BCDFGHJK", store.DeviceDecision{Approve: false, Now: now}); err != nil {
			t.Fatal(err)
		}
		for i := range 2 {
			r, err := s.PollDeviceAuth(ctx, store.DevicePoll{DeviceDigest: "dg1", ClientID: "c1", Now: now.Add(time.Duration(i+1) * time.Minute)})
			if err != nil || r.Auth.State != store.DeviceDenied {
				t.Fatalf("poll %d of a denied record: %+v, %v", i, r, err)
			}
		}
	})
	t.Run("approved is consumed by one poll", func(t *testing.T) {
		s, now := newStore(t), Now()
		if err := s.CreateDeviceAuth(ctx, NewDeviceAuth("dg1", "BCDFGHJK", "c1", now)); err != nil {
			t.Fatal(err)
		}
		if _, err := s.DecideDeviceAuth(ctx, "BCDFGHJK", store.DeviceDecision{Approve: true, Now: now, Subject: "u1", AuthTime: now}); err != nil {
			t.Fatal(err)
		}
		const n = 8
		var wg sync.WaitGroup
		results := make([]store.DevicePollResult, n)
		errs := make([]error, n)
		for i := range n {
			wg.Go(func() {
				results[i], errs[i] = s.PollDeviceAuth(ctx, store.DevicePoll{DeviceDigest: "dg1", ClientID: "c1", Now: now.Add(time.Minute)})
			})
		}
		wg.Wait()
		got := 0
		for i, err := range errs {
			switch {
			case err == nil && results[i].Auth.State == store.DeviceApproved && results[i].Auth.Subject == "u1":
				got++
			case err == nil:
				t.Fatalf("poll: %+v; want the approved record or ErrNotFound", results[i])
			case !errors.Is(err, store.ErrNotFound):
				t.Fatalf("poll: %v", err)
			}
		}
		if got != 1 {
			t.Fatalf("%d polls got the approved record; want exactly 1", got)
		}
		if _, err := s.GetDeviceAuthByUserCode(ctx, "BCDFGHJK"); !errors.Is(err, store.ErrNotFound) {
			t.Fatalf("user code of a consumed record: %v; want ErrNotFound", err)
		}
	})
	t.Run("expiry by TTL", func(t *testing.T) {
		s, now := newStore(t), Now()
		// Purged already: ExpiresAt is more than the retention ago.
		gone := NewDeviceAuth("dg1", "BCDFGHJK", "c1", now.Add(-time.Hour))
		gone.ExpiresAt = now.Add(-store.DeviceAuthRetention - time.Second)
		if err := s.CreateDeviceAuth(ctx, gone); err != nil {
			t.Fatal(err)
		}
		if _, err := s.GetDeviceAuthByUserCode(ctx, "BCDFGHJK"); !errors.Is(err, store.ErrNotFound) {
			t.Fatalf("purged record: %v; want ErrNotFound", err)
		}
		if _, err := s.PollDeviceAuth(ctx, store.DevicePoll{DeviceDigest: "dg1", ClientID: "c1", Now: now}); !errors.Is(err, store.ErrNotFound) {
			t.Fatalf("poll of a purged record: %v; want ErrNotFound", err)
		}
		// Ends in 200ms of real time on the backend's clock.
		short := NewDeviceAuth("dg2", "CDFGHJKL", "c1", now)
		short.ExpiresAt = Now().Add(-store.DeviceAuthRetention + 200*time.Millisecond)
		if err := s.CreateDeviceAuth(ctx, short); err != nil {
			t.Fatal(err)
		}
		if _, err := s.GetDeviceAuthByUserCode(ctx, "CDFGHJKL"); err != nil {
			t.Fatalf("record before its purge: %v", err)
		}
		deadline := time.Now().Add(5 * time.Second)
		for {
			_, err := s.GetDeviceAuthByUserCode(ctx, "CDFGHJKL")
			if errors.Is(err, store.ErrNotFound) {
				break
			}
			if time.Now().After(deadline) {
				t.Fatalf("record still there 5s after its purge time: %v", err)
			}
			time.Sleep(20 * time.Millisecond)
		}
		// The code is free again once purged.
		if err := s.CreateDeviceAuth(ctx, NewDeviceAuth("dg3", "BCDFGHJK", "c1", now)); err != nil {
			t.Fatalf("reusing a purged user code: %v", err)
		}
	})
}
