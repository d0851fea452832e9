package storetest

import (
	"context"
	"errors"
	"strconv"
	"testing"
	"time"

	"github.com/authd-dev/authd/store"
)

func jti(v string, at time.Time) store.Denial {
	return store.Denial{Kind: store.DenyJTI, Value: v, At: at, ExpiresAt: at.Add(time.Hour)}
}

// testFeed covers store.RevocationFeed: every Deny appears in the feed in
// order, readers resume from a cursor and block until something arrives.
func testFeed(t *testing.T, newStore func(t *testing.T) store.Store) {
	ctx := context.Background()
	feedOf := func(t *testing.T) (store.Store, store.RevocationFeed) {
		s := newStore(t)
		return s, s.(store.RevocationFeed)
	}
	t.Run("empty", func(t *testing.T) {
		_, f := feedOf(t)
		all, cursor, err := f.Denials(ctx)
		if err != nil || len(all) != 0 || cursor != "" {
			t.Fatalf("Denials on an empty store = %v, %q, %v; want none, \"\"", all, cursor, err)
		}
		got, err := f.DenialsAfter(ctx, "", 0)
		if err != nil || len(got) != 0 {
			t.Fatalf("DenialsAfter on an empty store = %v, %v", got, err)
		}
	})
	t.Run("order and resume", func(t *testing.T) {
		s, f := feedOf(t)
		now := Now()
		for _, v := range []string{"a", "b", "c"} {
			if err := s.Deny(ctx, jti(v, now)); err != nil {
				t.Fatal(err)
			}
		}
		all, err := f.DenialsAfter(ctx, "", 0)
		if err != nil || len(all) != 3 {
			t.Fatalf("DenialsAfter(\"\") = %d entries, %v; want 3", len(all), err)
		}
		for i, v := range []string{"a", "b", "c"} {
			if all[i].Denial.Value != v || all[i].Denial.Kind != store.DenyJTI || all[i].Cursor == "" {
				t.Fatalf("entry %d = %+v; want jti %s with a cursor", i, all[i], v)
			}
			mustEqual(t, "entry At", all[i].Denial.At, now)
		}
		rest, err := f.DenialsAfter(ctx, all[1].Cursor, 0)
		if err != nil || len(rest) != 1 || rest[0].Denial.Value != "c" || rest[0].Cursor != all[2].Cursor {
			t.Fatalf("after the 2nd cursor: %+v, %v; want only c", rest, err)
		}
		snapshot, cursor, err := f.Denials(ctx)
		if err != nil || len(snapshot) != 3 || cursor != all[2].Cursor {
			t.Fatalf("Denials = %d entries, cursor %q, %v; want 3 and the last cursor %q", len(snapshot), cursor, err, all[2].Cursor)
		}
		if none, err := f.DenialsAfter(ctx, cursor, 0); err != nil || len(none) != 0 {
			t.Fatalf("after the newest cursor: %v, %v; want nothing", none, err)
		}
	})
	t.Run("cursors are ordered", func(t *testing.T) {
		// feed.Hub splices a catch-up and a live stream by comparing
		// cursors (store.CompareCursors): later entries compare greater,
		// paging continues across a page, the snapshot cursor is the
		// newest.
		s, f := feedOf(t)
		now := Now()
		const n = 1005 // more than one page of every backend
		for i := range n {
			if err := s.Deny(ctx, jti(strconv.Itoa(i), now)); err != nil {
				t.Fatal(err)
			}
		}
		var all []store.FeedEntry
		for cursor := ""; ; {
			page, err := f.DenialsAfter(ctx, cursor, 0)
			if err != nil {
				t.Fatal(err)
			}
			if len(page) == 0 {
				break
			}
			all = append(all, page...)
			cursor = page[len(page)-1].Cursor
		}
		if len(all) != n {
			t.Fatalf("paged through %d entries; want %d", len(all), n)
		}
		prev := ""
		for i, e := range all {
			if e.Denial.Value != strconv.Itoa(i) {
				t.Fatalf("entry %d is %q", i, e.Denial.Value)
			}
			if c, ok := store.CompareCursors(e.Cursor, prev); !ok || c <= 0 {
				t.Fatalf("cursor %q of entry %d does not come after %q (%d, %v)", e.Cursor, i, prev, c, ok)
			}
			prev = e.Cursor
		}
		_, newest, err := f.Denials(ctx)
		if c, ok := store.CompareCursors(newest, prev); err != nil || !ok || c != 0 {
			t.Fatalf("Denials cursor %q, %v; want the last entry's %q", newest, err, prev)
		}
	})
	t.Run("merged entry appears once in the snapshot", func(t *testing.T) {
		s, f := feedOf(t)
		now := Now()
		later := now.Add(time.Second)
		s.Deny(ctx, store.Denial{Kind: store.DenySubject, Value: "u", At: now, ExpiresAt: now.Add(time.Hour)})
		s.Deny(ctx, store.Denial{Kind: store.DenySubject, Value: "u", At: later, ExpiresAt: now.Add(time.Hour)})
		snapshot, _, err := f.Denials(ctx)
		if err != nil || len(snapshot) != 1 {
			t.Fatalf("Denials = %v, %v; want one merged entry", snapshot, err)
		}
		mustEqual(t, "merged At", snapshot[0].At, later)
		log, err := f.DenialsAfter(ctx, "", 0)
		if err != nil || len(log) != 2 {
			t.Fatalf("feed = %d entries, %v; want both appends", len(log), err)
		}
	})
	t.Run("expired entries are left out", func(t *testing.T) {
		s, f := feedOf(t)
		now := Now()
		s.Deny(ctx, store.Denial{Kind: store.DenyJTI, Value: "short", At: now, ExpiresAt: time.Now().Add(300 * time.Millisecond)})
		s.Deny(ctx, jti("long", now))
		time.Sleep(400 * time.Millisecond)
		snapshot, _, err := f.Denials(ctx)
		if err != nil || len(snapshot) != 1 || snapshot[0].Value != "long" {
			t.Fatalf("Denials = %v, %v; want only long", snapshot, err)
		}
		log, err := f.DenialsAfter(ctx, "", 0)
		if err != nil || len(log) != 1 || log[0].Denial.Value != "long" {
			t.Fatalf("feed = %v, %v; want only long", log, err)
		}
	})
	t.Run("a blocked reader wakes on Deny", func(t *testing.T) {
		s, f := feedOf(t)
		s.Deny(ctx, jti("first", Now()))
		_, cursor, _ := f.Denials(ctx)
		type result struct {
			entries []store.FeedEntry
			err     error
			at      time.Time
		}
		done := make(chan result, 1)
		go func() {
			e, err := f.DenialsAfter(ctx, cursor, 3*time.Second)
			done <- result{e, err, time.Now()}
		}()
		time.Sleep(100 * time.Millisecond) // let it block
		denied := time.Now()
		if err := s.Deny(ctx, jti("second", Now())); err != nil {
			t.Fatal(err)
		}
		r := <-done
		if r.err != nil || len(r.entries) != 1 || r.entries[0].Denial.Value != "second" {
			t.Fatalf("woken read = %+v, %v; want second", r.entries, r.err)
		}
		if d := r.at.Sub(denied); d > time.Second {
			t.Fatalf("woke %v after the Deny; want well under 1s", d)
		}
	})
	t.Run("wait times out empty", func(t *testing.T) {
		_, f := feedOf(t)
		start := time.Now()
		got, err := f.DenialsAfter(ctx, "", 50*time.Millisecond)
		if err != nil || len(got) != 0 {
			t.Fatalf("timed-out read = %v, %v; want empty, nil", got, err)
		}
		if d := time.Since(start); d < 40*time.Millisecond {
			t.Fatalf("returned after %v; want about the 50ms wait", d)
		}
	})
	t.Run("cancel ends the wait", func(t *testing.T) {
		_, f := feedOf(t)
		cctx, cancel := context.WithTimeout(ctx, 50*time.Millisecond)
		defer cancel()
		if _, err := f.DenialsAfter(cctx, "", 5*time.Second); err == nil || !errors.Is(err, context.DeadlineExceeded) && !errors.Is(err, store.ErrUnavailable) {
			t.Fatalf("cancelled read: %v; want the context's error", err)
		}
	})
	t.Run("malformed cursor", func(t *testing.T) {
		s, f := feedOf(t)
		s.Deny(ctx, jti("x", Now()))
		for _, c := range []string{"not-a-cursor", strconv.FormatUint(1<<62, 10) + "-0", strconv.FormatUint(1<<62, 10)} {
			if _, err := f.DenialsAfter(ctx, c, 0); !errors.Is(err, store.ErrCursorExpired) {
				t.Errorf("cursor %q: %v; want ErrCursorExpired", c, err)
			}
		}
	})
}
