package storetest

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/authd-dev/authd/store"
)

// NewSession returns a session of user created at now: 24 h idle window,
// 720 h absolute lifetime.
func NewSession(id, user string, now time.Time) store.Session {
	return store.Session{
		ID: id, UserID: user, AuthTime: now, AMR: []string{"pwd"}, ACR: "1",
		CreatedAt: now, LastActiveAt: now,
		ExpiresAt: now.Add(720 * time.Hour), IdleExpiresAt: now.Add(24 * time.Hour),
	}
}

// testSessions checks SSO sessions (store.SessionStore): round trip,
// unique IDs, touch (idle window capped by the absolute end, clients and
// families added once, atomic under concurrency), expiry by idleness and
// by absolute lifetime, listing by user, delete.
func testSessions(t *testing.T, newStore func(t *testing.T) store.Store) {
	ctx := context.Background()

	t.Run("RoundTrip", func(t *testing.T) {
		st, now := newStore(t), Now()
		s := NewSession("s1", "u1", now)
		if err := st.CreateSession(ctx, s); err != nil {
			t.Fatal(err)
		}
		got, err := st.GetSession(ctx, "s1")
		if err != nil {
			t.Fatal(err)
		}
		mustEqual(t, "GetSession", got, s)
		if err := st.CreateSession(ctx, s); !errors.Is(err, store.ErrExists) {
			t.Fatalf("second CreateSession: %v, want ErrExists", err)
		}
		if _, err := st.GetSession(ctx, "nope"); !errors.Is(err, store.ErrNotFound) {
			t.Fatalf("GetSession(missing): %v, want ErrNotFound", err)
		}
		if err := st.CreateSession(ctx, store.Session{ID: "x"}); !errors.Is(err, store.ErrBadSession) {
			t.Fatalf("CreateSession without user: %v, want ErrBadSession", err)
		}
	})

	t.Run("Touch", func(t *testing.T) {
		st, now := newStore(t), Now()
		s := NewSession("s1", "u1", now)
		s.ExpiresAt = now.Add(30 * time.Hour)
		if err := st.CreateSession(ctx, s); err != nil {
			t.Fatal(err)
		}
		later := now.Add(time.Hour)
		got, err := st.TouchSession(ctx, "s1", store.SessionTouch{Now: later, IdleTTL: 24 * time.Hour, ClientID: "a", FamilyID: "f1"})
		if err != nil {
			t.Fatal(err)
		}
		if !got.LastActiveAt.Equal(later) || !got.IdleExpiresAt.Equal(later.Add(24*time.Hour)) {
			t.Errorf("after touch: last active %v idle %v", got.LastActiveAt, got.IdleExpiresAt)
		}
		// Capped by the absolute end; a known client and family are kept once.
		got, err = st.TouchSession(ctx, "s1", store.SessionTouch{Now: now.Add(20 * time.Hour), IdleTTL: 24 * time.Hour, ClientID: "a", FamilyID: "f2"})
		if err != nil {
			t.Fatal(err)
		}
		if !got.IdleExpiresAt.Equal(s.ExpiresAt) {
			t.Errorf("idle end %v, want capped at %v", got.IdleExpiresAt, s.ExpiresAt)
		}
		fams, err := st.SessionFamilies(ctx, "s1")
		if err != nil {
			t.Fatal(err)
		}
		if !slices.Equal(got.Clients, []string{"a"}) || !slices.Equal(fams, []string{"f1", "f2"}) || got.Families != nil {
			t.Errorf("clients %v families %v (in the record: %v); want [a], [f1 f2] kept apart", got.Clients, fams, got.Families)
		}
		stored, err := st.GetSession(ctx, "s1")
		if err != nil {
			t.Fatal(err)
		}
		mustEqual(t, "stored after touch", stored, got)
		// Past the absolute end: gone, whatever the idle window.
		if _, err := st.TouchSession(ctx, "s1", store.SessionTouch{Now: s.ExpiresAt, IdleTTL: time.Hour}); !errors.Is(err, store.ErrNotFound) {
			t.Errorf("touch at the absolute end: %v, want ErrNotFound", err)
		}
		if _, err := st.TouchSession(ctx, "nope", store.SessionTouch{Now: now, IdleTTL: time.Hour}); !errors.Is(err, store.ErrNotFound) {
			t.Errorf("touch missing: %v, want ErrNotFound", err)
		}
	})

	// Within Slack a known client's touch leaves the record as it was
	// (the family is still added); once Slack has passed, it extends the
	// session again.
	t.Run("TouchWithinSlack", func(t *testing.T) {
		st, now := newStore(t), Now()
		if err := st.CreateSession(ctx, NewSession("s1", "u1", now)); err != nil {
			t.Fatal(err)
		}
		const idle, slack = 24 * time.Hour, 10 * time.Minute
		touch := func(at time.Duration, client, fam string) store.Session {
			t.Helper()
			got, err := st.TouchSession(ctx, "s1", store.SessionTouch{Now: now.Add(at), IdleTTL: idle, Slack: slack, ClientID: client, FamilyID: fam})
			if err != nil {
				t.Fatal(err)
			}
			stored, err := st.GetSession(ctx, "s1")
			if err != nil {
				t.Fatal(err)
			}
			mustEqual(t, "stored after touch", stored, got)
			return got
		}
		// Within Slack of the creation but a new client: recorded, extended.
		got := touch(time.Minute, "a", "f1")
		if !got.LastActiveAt.Equal(now.Add(time.Minute)) || !slices.Equal(got.Clients, []string{"a"}) {
			t.Fatalf("new client within slack: last active %v clients %v; want extended and recorded", got.LastActiveAt, got.Clients)
		}
		// Same client within Slack: the record is left as it is.
		got = touch(time.Minute+slack-time.Second, "a", "f2")
		if !got.LastActiveAt.Equal(now.Add(time.Minute)) || !got.IdleExpiresAt.Equal(now.Add(time.Minute+idle)) {
			t.Errorf("known client within slack: last active %v idle %v; want unchanged", got.LastActiveAt, got.IdleExpiresAt)
		}
		// Slack passed: extended again.
		got = touch(time.Minute+slack, "a", "f3")
		if want := now.Add(time.Minute + slack); !got.LastActiveAt.Equal(want) || !got.IdleExpiresAt.Equal(want.Add(idle)) {
			t.Errorf("after slack: last active %v idle %v; want %v and %v", got.LastActiveAt, got.IdleExpiresAt, want, want.Add(idle))
		}
		fams, err := st.SessionFamilies(ctx, "s1")
		if err != nil || !slices.Equal(fams, []string{"f1", "f2", "f3"}) {
			t.Errorf("families %v, %v; want every touch's family, within slack too", fams, err)
		}
	})

	t.Run("IdleExpiry", func(t *testing.T) {
		st, now := newStore(t), Now()
		s := NewSession("s1", "u1", now)
		s.IdleExpiresAt = now.Add(time.Hour)
		if err := st.CreateSession(ctx, s); err != nil {
			t.Fatal(err)
		}
		if _, err := st.TouchSession(ctx, "s1", store.SessionTouch{Now: now.Add(time.Hour), IdleTTL: time.Hour}); !errors.Is(err, store.ErrNotFound) {
			t.Errorf("touch at the idle end: %v, want ErrNotFound", err)
		}
	})

	t.Run("ExpiryByBackendClock", func(t *testing.T) {
		st, now := newStore(t), Now()
		short := NewSession("short", "u1", now)
		short.IdleExpiresAt = now.Add(150 * time.Millisecond)
		long := NewSession("long", "u1", now.Add(time.Microsecond))
		for _, s := range []store.Session{short, long} {
			if err := st.CreateSession(ctx, s); err != nil {
				t.Fatal(err)
			}
		}
		time.Sleep(300 * time.Millisecond)
		if _, err := st.GetSession(ctx, "short"); !errors.Is(err, store.ErrNotFound) {
			t.Errorf("GetSession after its idle end: %v, want ErrNotFound", err)
		}
		list, err := st.ListSessions(ctx, "u1")
		if err != nil {
			t.Fatal(err)
		}
		if len(list) != 1 || list[0].ID != "long" {
			t.Errorf("ListSessions: %+v, want only the live one", list)
		}
		// An expired ID can be used again.
		if err := st.CreateSession(ctx, NewSession("short", "u1", Now())); err != nil {
			t.Errorf("CreateSession over an expired one: %v", err)
		}
	})

	t.Run("ListAndDelete", func(t *testing.T) {
		st, now := newStore(t), Now()
		for i, u := range []string{"u1", "u2", "u1"} {
			if err := st.CreateSession(ctx, NewSession(fmt.Sprint("s", i), u, now.Add(time.Duration(i)*time.Second))); err != nil {
				t.Fatal(err)
			}
		}
		list, err := st.ListSessions(ctx, "u1")
		if err != nil {
			t.Fatal(err)
		}
		if len(list) != 2 || list[0].ID != "s0" || list[1].ID != "s2" {
			t.Fatalf("ListSessions(u1): %+v, want s0, s2", list)
		}
		if l, _ := st.ListSessions(ctx, "nobody"); len(l) != 0 {
			t.Errorf("ListSessions(nobody): %+v", l)
		}
		if _, err := st.TouchSession(ctx, "s0", store.SessionTouch{Now: now, IdleTTL: time.Hour, ClientID: "c", FamilyID: "f"}); err != nil {
			t.Fatal(err)
		}
		gone, err := st.DeleteSession(ctx, "s0")
		if err != nil {
			t.Fatal(err)
		}
		if gone.UserID != "u1" || !slices.Equal(gone.Families, []string{"f"}) {
			t.Errorf("DeleteSession returned %+v, want the record with its families", gone)
		}
		if _, err := st.GetSession(ctx, "s0"); !errors.Is(err, store.ErrNotFound) {
			t.Errorf("GetSession after delete: %v", err)
		}
		if _, err := st.DeleteSession(ctx, "s0"); !errors.Is(err, store.ErrNotFound) {
			t.Errorf("second DeleteSession: %v, want ErrNotFound", err)
		}
		list, _ = st.ListSessions(ctx, "u1")
		if len(list) != 1 || list[0].ID != "s2" {
			t.Errorf("ListSessions after delete: %+v", list)
		}
	})

	t.Run("Families", func(t *testing.T) {
		st, now := newStore(t), Now()
		s := NewSession("s1", "u1", now)
		for i := range store.MaxSessionFamilies + 2 {
			s.Families = append(s.Families, fmt.Sprint("old", i))
		}
		if err := st.CreateSession(ctx, s); err != nil {
			t.Fatal(err)
		}
		got, err := st.GetSession(ctx, "s1")
		if err != nil || got.Families != nil {
			t.Fatalf("GetSession: %v, families %d; want none in the record", err, len(got.Families))
		}
		fams, err := st.SessionFamilies(ctx, "s1")
		if err != nil || len(fams) != store.MaxSessionFamilies || fams[0] != "old2" {
			t.Fatalf("SessionFamilies: %d from %v, %v; want the newest %d", len(fams), fams[:1], err, store.MaxSessionFamilies)
		}
		if _, err := st.TouchSession(ctx, "s1", store.SessionTouch{Now: now, IdleTTL: time.Hour, FamilyID: "new"}); err != nil {
			t.Fatal(err)
		}
		gone, err := st.DeleteSession(ctx, "s1")
		if err != nil || len(gone.Families) != store.MaxSessionFamilies || gone.Families[0] != "old3" || gone.Families[len(gone.Families)-1] != "new" {
			t.Fatalf("DeleteSession: %v; want the newest %d families ending with the touched one", err, store.MaxSessionFamilies)
		}
		if _, err := st.SessionFamilies(ctx, "s1"); !errors.Is(err, store.ErrNotFound) {
			t.Errorf("SessionFamilies after delete: %v, want ErrNotFound", err)
		}
		// A new session under the same ID starts without them.
		if err := st.CreateSession(ctx, NewSession("s1", "u1", now)); err != nil {
			t.Fatal(err)
		}
		if fams, err := st.SessionFamilies(ctx, "s1"); err != nil || len(fams) != 0 {
			t.Errorf("families of a new session: %v, %v", fams, err)
		}
	})

	// Touches one at a time past the bound, repeated ids and ids that
	// look like JSON list syntax: the stored list stays what
	// SessionTouch.Apply makes of it.
	t.Run("FamiliesTouchedOneByOne", func(t *testing.T) {
		st, now := newStore(t), Now()
		if err := st.CreateSession(ctx, NewSession("s1", "u1", now)); err != nil {
			t.Fatal(err)
		}
		var model store.Session
		odd := []string{`a","b`, `a`, `b`, `["a`, `\"a`, `a\`, `,"a"`, `<&>`}
		for i := range store.MaxSessionFamilies + 20 {
			fid := fmt.Sprint("f", i)
			switch {
			case i < len(odd):
				fid = odd[i]
			case i%7 == 0:
				fid = fmt.Sprint("f", i-3) // already there
			}
			touch := store.SessionTouch{Now: now, IdleTTL: time.Hour, FamilyID: fid}
			touch.Apply(&model)
			if _, err := st.TouchSession(ctx, "s1", touch); err != nil {
				t.Fatal(err)
			}
		}
		fams, err := st.SessionFamilies(ctx, "s1")
		if err != nil {
			t.Fatal(err)
		}
		if !slices.Equal(fams, model.Families) {
			t.Errorf("families after one-by-one touches: %d %q..., want %d %q...", len(fams), fams[:min(len(fams), 10)], len(model.Families), model.Families[:10])
		}
	})

	t.Run("FamilyCarriesSession", func(t *testing.T) {
		st, now := newStore(t), Now()
		f := NewFamily("f1", now, "t0")
		f.SessionID = "s1"
		if err := st.CreateFamily(ctx, f); err != nil {
			t.Fatal(err)
		}
		res, err := st.RotateRefresh(ctx, store.Rotation{FamilyID: "f1", Presented: Digest("t0"), Next: Digest("t1"), Now: now, IdleTTL: time.Hour})
		if err != nil {
			t.Fatal(err)
		}
		got, err := st.GetFamily(ctx, "f1")
		if err != nil {
			t.Fatal(err)
		}
		if got.SessionID != "s1" || res.Family.SessionID != "s1" {
			t.Errorf("family session %q (after rotation %q), want s1", got.SessionID, res.Family.SessionID)
		}
	})

	t.Run("ConcurrentTouches", func(t *testing.T) {
		st, now := newStore(t), Now()
		if err := st.CreateSession(ctx, NewSession("s1", "u1", now)); err != nil {
			t.Fatal(err)
		}
		const n = 16
		var wg sync.WaitGroup
		errs := make(chan error, n)
		for i := range n {
			wg.Go(func() {
				_, err := st.TouchSession(ctx, "s1", store.SessionTouch{Now: now, IdleTTL: time.Hour,
					ClientID: fmt.Sprint("c", i%4), FamilyID: fmt.Sprint("f", i)})
				errs <- err
			})
		}
		wg.Wait()
		close(errs)
		for err := range errs {
			if err != nil {
				t.Fatal(err)
			}
		}
		got, err := st.GetSession(ctx, "s1")
		if err != nil {
			t.Fatal(err)
		}
		fams, err := st.SessionFamilies(ctx, "s1")
		if err != nil {
			t.Fatal(err)
		}
		if len(fams) != n || len(got.Clients) != 4 {
			t.Errorf("after %d concurrent touches: %d families, %d clients; want %d and 4 (none lost)", n, len(fams), len(got.Clients), n)
		}
	})
}
