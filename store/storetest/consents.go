package storetest

import (
	"context"
	"errors"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/authd-dev/authd/store"
)

// testConsents checks remembered consent (store.ConsentStore): grants
// merge into a union, listing is per user and ordered, deletion returns
// the families CreateFamily indexed for the pair and forgets them, and
// parallel grants lose no scope.
func testConsents(t *testing.T, newStore func(t *testing.T) store.Store) {
	ctx := context.Background()
	t.Run("GrantMergesAndGet", func(t *testing.T) {
		s := newStore(t)
		if _, err := s.GetConsent(ctx, "u1", "web"); !errors.Is(err, store.ErrNotFound) {
			t.Fatalf("GetConsent before any grant: %v; want ErrNotFound", err)
		}
		t0 := Now()
		c, err := s.GrantConsent(ctx, "u1", "web", "openid profile", t0, time.Time{})
		if err != nil {
			t.Fatal(err)
		}
		if c.Scope != "openid profile" || !c.GrantedAt.Equal(t0) || c.UserID != "u1" || c.ClientID != "web" {
			t.Fatalf("first grant stored %+v", c)
		}
		t1 := t0.Add(time.Minute)
		if c, err = s.GrantConsent(ctx, "u1", "web", "email openid", t1, time.Time{}); err != nil {
			t.Fatal(err)
		}
		if c.Scope != "email openid profile" || !c.GrantedAt.Equal(t1) {
			t.Fatalf("second grant stored %+v; want the sorted union, granted at the later time", c)
		}
		got, err := s.GetConsent(ctx, "u1", "web")
		if err != nil || got.Scope != c.Scope || !got.GrantedAt.Equal(t1) {
			t.Fatalf("GetConsent = %+v, %v; want %+v", got, err, c)
		}
		if !got.Covers("openid email") || got.Covers("openid phone") {
			t.Errorf("Covers is wrong for %q", got.Scope)
		}
		if _, err := s.GetConsent(ctx, "u1", "other"); !errors.Is(err, store.ErrNotFound) {
			t.Errorf("another client's consent: %v; want ErrNotFound", err)
		}
		if _, err := s.GetConsent(ctx, "u2", "web"); !errors.Is(err, store.ErrNotFound) {
			t.Errorf("another user's consent: %v; want ErrNotFound", err)
		}
	})
	t.Run("GrantBeforeSinceIsReplaced", func(t *testing.T) {
		s := newStore(t)
		t0 := Now()
		if _, err := s.GrantConsent(ctx, "u1", "web", "openid email", t0, time.Time{}); err != nil {
			t.Fatal(err)
		}
		// The client was deleted and registered again after t0.
		t1 := t0.Add(time.Hour)
		c, err := s.GrantConsent(ctx, "u1", "web", "openid", t1, t0.Add(time.Minute))
		if err != nil || c.Scope != "openid" || !c.GrantedAt.Equal(t1) {
			t.Fatalf("grant after the client's re-registration = %+v, %v; want only the new scope", c, err)
		}
		// A grant since then merges as usual.
		if c, err = s.GrantConsent(ctx, "u1", "web", "profile", t1.Add(time.Minute), t0.Add(time.Minute)); err != nil || c.Scope != "openid profile" {
			t.Fatalf("later grant = %+v, %v; want the union", c, err)
		}
	})
	t.Run("List", func(t *testing.T) {
		s := newStore(t)
		list, err := s.ListConsents(ctx, "u1")
		if err != nil || list == nil || len(list) != 0 {
			t.Fatalf("ListConsents of nobody = %v, %v; want an empty, non-nil slice", list, err)
		}
		now := Now()
		for _, cid := range []string{"zeta", "alpha", "mid"} {
			if _, err := s.GrantConsent(ctx, "u1", cid, "openid", now, time.Time{}); err != nil {
				t.Fatal(err)
			}
		}
		// A user whose ID extends u1's must not show up under u1.
		if _, err := s.GrantConsent(ctx, "u10", "alpha", "openid", now, time.Time{}); err != nil {
			t.Fatal(err)
		}
		list, err = s.ListConsents(ctx, "u1")
		if err != nil {
			t.Fatal(err)
		}
		var ids []string
		for _, c := range list {
			ids = append(ids, c.ClientID)
			if c.UserID != "u1" || c.Scope != "openid" || !c.GrantedAt.Equal(now) {
				t.Errorf("listed %+v", c)
			}
		}
		if !slices.Equal(ids, []string{"alpha", "mid", "zeta"}) {
			t.Errorf("listed clients %v; want alpha mid zeta", ids)
		}
	})
	t.Run("DeleteReturnsFamilies", func(t *testing.T) {
		s := newStore(t)
		now := Now()
		fam := func(id, sub, client string) store.Family {
			return store.Family{ID: id, ClientID: client, Subject: sub, Scope: "openid", AuthTime: now, CreatedAt: now,
				ExpiresAt: now.Add(time.Hour), IdleExpiresAt: now.Add(time.Hour), Current: Digest("rt-" + id)}
		}
		for _, f := range []store.Family{fam("f1", "u1", "web"), fam("f2", "u1", "web"), fam("f3", "u1", "other"), fam("f4", "u2", "web")} {
			if err := s.CreateFamily(ctx, f); err != nil {
				t.Fatal(err)
			}
		}
		if _, err := s.GrantConsent(ctx, "u1", "web", "openid", now, time.Time{}); err != nil {
			t.Fatal(err)
		}
		fams, err := s.UserFamilies(ctx, "u1", "web")
		slices.Sort(fams)
		if err != nil || !slices.Equal(fams, []string{"f1", "f2"}) {
			t.Fatalf("UserFamilies = %v, %v; want f1 f2 (u1's with web only)", fams, err)
		}
		fams, err = s.DeleteConsent(ctx, "u1", "web")
		if err != nil {
			t.Fatal(err)
		}
		slices.Sort(fams)
		if !slices.Equal(fams, []string{"f1", "f2"}) {
			t.Fatalf("DeleteConsent returned families %v; want f1 f2 (u1's with web only)", fams)
		}
		if _, err := s.GetConsent(ctx, "u1", "web"); !errors.Is(err, store.ErrNotFound) {
			t.Errorf("consent after delete: %v; want ErrNotFound", err)
		}
		if fams, err := s.UserFamilies(ctx, "u1", "web"); err != nil || len(fams) != 0 {
			t.Errorf("UserFamilies after delete = %v, %v; want none", fams, err)
		}
		if _, err := s.DeleteConsent(ctx, "u1", "web"); !errors.Is(err, store.ErrNotFound) {
			t.Errorf("second DeleteConsent: %v; want ErrNotFound (index forgotten too)", err)
		}
		// No consent, but a family (a client that skips consent): the
		// family is still returned.
		fams, err = s.DeleteConsent(ctx, "u1", "other")
		if err != nil || !slices.Equal(fams, []string{"f3"}) {
			t.Errorf("DeleteConsent without a consent record = %v, %v; want [f3]", fams, err)
		}
		// The families themselves are untouched: ending them is the caller's.
		if f, err := s.GetFamily(ctx, "f1"); err != nil || f.Revoked {
			t.Errorf("family f1 after DeleteConsent: %+v, %v; want it live", f, err)
		}
	})
	t.Run("ExpiredFamiliesLeaveTheIndex", func(t *testing.T) {
		s := newStore(t)
		now := Now()
		old := store.Family{ID: "old", ClientID: "web", Subject: "u1", AuthTime: now, CreatedAt: now.Add(-2 * time.Hour),
			ExpiresAt: now.Add(-time.Hour), IdleExpiresAt: now.Add(-time.Hour), Current: Digest("old")}
		live := store.Family{ID: "live", ClientID: "web", Subject: "u1", AuthTime: now, CreatedAt: now,
			ExpiresAt: now.Add(time.Hour), IdleExpiresAt: now.Add(time.Hour), Current: Digest("live")}
		for _, f := range []store.Family{old, live} {
			if err := s.CreateFamily(ctx, f); err != nil {
				t.Fatal(err)
			}
		}
		fams, err := s.UserFamilies(ctx, "u1", "web")
		if err != nil || !slices.Equal(fams, []string{"live"}) {
			t.Errorf("UserFamilies = %v, %v; want only the live family", fams, err)
		}
		fams, err = s.DeleteConsent(ctx, "u1", "web")
		if err != nil || !slices.Equal(fams, []string{"live"}) {
			t.Errorf("DeleteConsent = %v, %v; want only the live family", fams, err)
		}
	})
	t.Run("ParallelGrantsKeepEveryScope", func(t *testing.T) {
		s := newStore(t)
		scopes := []string{"a", "b", "c", "d", "e", "f", "g", "h"}
		var wg sync.WaitGroup
		errs := make(chan error, len(scopes))
		for _, sc := range scopes {
			wg.Go(func() {
				if _, err := s.GrantConsent(ctx, "u1", "web", sc, Now(), time.Time{}); err != nil {
					errs <- err
				}
			})
		}
		wg.Wait()
		close(errs)
		for err := range errs {
			t.Fatal(err)
		}
		c, err := s.GetConsent(ctx, "u1", "web")
		if err != nil || c.Scope != "a b c d e f g h" {
			t.Errorf("after parallel grants: %+v, %v; want every scope", c, err)
		}
	})
}
