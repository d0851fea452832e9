package storetest

import (
	"context"
	"testing"
	"time"

	"github.com/authd-dev/authd/store"
)

// shortTTL is the one real-time lifetime the suite waits for.
const shortTTL = 500 * time.Millisecond

func testDenyList(t *testing.T, newStore func(t *testing.T) store.Store) {
	ctx := context.Background()
	query := store.DenyQuery{JTI: "jti-1", SID: "sid-1", Subject: "sub-1", ClientID: "client-1"}
	deny := func(t *testing.T, s store.Store, d store.Denial) {
		t.Helper()
		if err := s.Deny(ctx, d); err != nil {
			t.Fatalf("Deny(%+v): %v", d, err)
		}
	}
	state := func(t *testing.T, s store.Store, q store.DenyQuery) store.DenyState {
		t.Helper()
		st, err := s.DenyState(ctx, q)
		if err != nil {
			t.Fatalf("DenyState(%+v): %v", q, err)
		}
		return st
	}

	t.Run("EmptyList", func(t *testing.T) {
		s := newStore(t)
		mustEqual(t, "DenyState on empty store", state(t, s, query), store.DenyState{})
		mustEqual(t, "DenyState of an empty query", state(t, s, store.DenyQuery{}), store.DenyState{})
	})

	t.Run("EachKind", func(t *testing.T) {
		now := Now()
		tests := []struct {
			kind, value string
			want        store.DenyState
		}{
			{store.DenyJTI, "jti-1", store.DenyState{JTI: now}},
			{store.DenySID, "sid-1", store.DenyState{SID: now}},
			{store.DenySubject, "sub-1", store.DenyState{Subject: now}},
			{store.DenyClient, "client-1", store.DenyState{Client: now}},
		}
		for _, tt := range tests {
			t.Run(tt.kind, func(t *testing.T) {
				s := newStore(t)
				deny(t, s, store.Denial{Kind: tt.kind, Value: tt.value, At: now, ExpiresAt: now.Add(time.Hour)})
				mustEqual(t, "DenyState", state(t, s, query), tt.want)
				// Another value of the same kind is not covered.
				mustEqual(t, "DenyState of other values", state(t, s, store.DenyQuery{
					JTI: "jti-2", SID: "sid-2", Subject: "sub-2", ClientID: "client-2",
				}), store.DenyState{})
			})
		}
	})

	t.Run("AllKindsInOneRead", func(t *testing.T) {
		s := newStore(t)
		now := Now()
		deny(t, s, store.Denial{Kind: store.DenyJTI, Value: "jti-1", At: now.Add(1), ExpiresAt: now.Add(time.Hour)})
		deny(t, s, store.Denial{Kind: store.DenySID, Value: "sid-1", At: now.Add(2), ExpiresAt: now.Add(time.Hour)})
		deny(t, s, store.Denial{Kind: store.DenySubject, Value: "sub-1", At: now.Add(3), ExpiresAt: now.Add(time.Hour)})
		deny(t, s, store.Denial{Kind: store.DenyClient, Value: "client-1", At: now.Add(4), ExpiresAt: now.Add(time.Hour)})
		want := store.DenyState{JTI: now.Add(1), SID: now.Add(2), Subject: now.Add(3), Client: now.Add(4)}
		mustEqual(t, "DenyState", state(t, s, query), want)
		// Fields left empty in the query are not looked up.
		mustEqual(t, "DenyState of a partial query", state(t, s, store.DenyQuery{SID: "sid-1"}), store.DenyState{SID: now.Add(2)})
	})

	t.Run("KindsAreSeparate", func(t *testing.T) {
		s := newStore(t)
		now := Now()
		deny(t, s, store.Denial{Kind: store.DenyJTI, Value: "shared", At: now, ExpiresAt: now.Add(time.Hour)})
		got := state(t, s, store.DenyQuery{SID: "shared", Subject: "shared", ClientID: "shared"})
		mustEqual(t, "a jti entry seen through the other kinds", got, store.DenyState{})
		mustEqual(t, "the jti entry", state(t, s, store.DenyQuery{JTI: "shared"}), store.DenyState{JTI: now})
	})

	t.Run("LaterAtWins", func(t *testing.T) {
		s := newStore(t)
		now := Now()
		exp := now.Add(time.Hour)
		deny(t, s, store.Denial{Kind: store.DenySubject, Value: "sub-1", At: now, ExpiresAt: exp})
		deny(t, s, store.Denial{Kind: store.DenySubject, Value: "sub-1", At: now.Add(time.Minute), ExpiresAt: exp})
		mustEqual(t, "after a later At", state(t, s, query), store.DenyState{Subject: now.Add(time.Minute)})
		deny(t, s, store.Denial{Kind: store.DenySubject, Value: "sub-1", At: now.Add(-time.Minute), ExpiresAt: exp})
		mustEqual(t, "after an earlier At", state(t, s, query), store.DenyState{Subject: now.Add(time.Minute)})
		// A later At with an expiry already past still moves At: each of
		// At and ExpiresAt keeps its later value.
		deny(t, s, store.Denial{Kind: store.DenySubject, Value: "sub-1", At: now.Add(2 * time.Minute), ExpiresAt: now.Add(-time.Hour)})
		mustEqual(t, "after a later At with a past expiry", state(t, s, query), store.DenyState{Subject: now.Add(2 * time.Minute)})
	})

	t.Run("ExpiredNotReturned", func(t *testing.T) {
		s := newStore(t)
		now := Now()
		past := now.Add(-time.Hour)
		deny(t, s, store.Denial{Kind: store.DenyJTI, Value: "jti-1", At: past.Add(-time.Hour), ExpiresAt: past})
		deny(t, s, store.Denial{Kind: store.DenySID, Value: "sid-1", At: past.Add(-time.Hour), ExpiresAt: past})
		deny(t, s, store.Denial{Kind: store.DenyClient, Value: "client-1", At: now, ExpiresAt: now.Add(time.Hour)})
		mustEqual(t, "DenyState with expired entries", state(t, s, query), store.DenyState{Client: now})
		// An expired entry does not hold back a new one with an earlier At.
		deny(t, s, store.Denial{Kind: store.DenyJTI, Value: "jti-1", At: past.Add(-2 * time.Hour), ExpiresAt: now.Add(time.Hour)})
		mustEqual(t, "DenyState after renewing an expired entry", state(t, s, query),
			store.DenyState{JTI: past.Add(-2 * time.Hour), Client: now})
	})

	t.Run("ExpiresInRealTime", func(t *testing.T) {
		// The only test that waits: entries with a short real lifetime
		// disappear by themselves, and an extended one outlives them.
		s := newStore(t)
		start := time.Now()
		now := Now()
		soon := now.Add(shortTTL)
		later := now.Add(time.Hour)
		// jti: short-lived. sid: short-lived, then extended by an entry
		// with an earlier At. sub: long-lived, then given a later At with
		// a short expiry (the expiry must stay long).
		deny(t, s, store.Denial{Kind: store.DenyJTI, Value: "jti-1", At: now, ExpiresAt: soon})
		deny(t, s, store.Denial{Kind: store.DenySID, Value: "sid-1", At: now, ExpiresAt: soon})
		deny(t, s, store.Denial{Kind: store.DenySID, Value: "sid-1", At: now.Add(-time.Minute), ExpiresAt: later})
		deny(t, s, store.Denial{Kind: store.DenySubject, Value: "sub-1", At: now, ExpiresAt: later})
		deny(t, s, store.Denial{Kind: store.DenySubject, Value: "sub-1", At: now.Add(time.Second), ExpiresAt: soon})
		want := store.DenyState{JTI: now, SID: now, Subject: now.Add(time.Second)}
		mustEqual(t, "DenyState before expiry", state(t, s, query), want)

		deadline := start.Add(3 * shortTTL)
		for {
			got := state(t, s, query)
			if got.JTI.IsZero() {
				want.JTI = time.Time{}
				mustEqual(t, "DenyState after the short-lived entry expired", got, want)
				return
			}
			if time.Now().After(deadline) {
				t.Fatalf("entry with ExpiresAt %v still returned at %v", soon, time.Now())
			}
			time.Sleep(20 * time.Millisecond)
		}
	})
}
