package users

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"sync"
	"testing"
	"time"

	"github.com/authd-dev/authd/oauth"
	"github.com/authd-dev/authd/store"
)

// fakeRevoker records subject watermarks; failures > 0 makes that many
// calls fail with store.ErrUnavailable first.
type fakeRevoker struct {
	mu       sync.Mutex
	failures int
	marks    map[string]time.Time
}

func (r *fakeRevoker) RevokeSubject(_ context.Context, sub string, at time.Time) error {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.failures > 0 {
		r.failures--
		return fmt.Errorf("deny %s: %w", sub, store.ErrUnavailable)
	}
	if r.marks == nil {
		r.marks = map[string]time.Time{}
	}
	r.marks[sub] = at
	return nil
}

func (r *fakeRevoker) mark(sub string) time.Time {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.marks[sub]
}

func TestNewRequiresRevoker(t *testing.T) {
	if _, err := New(Config{Store: newMemStore(), Hasher: &fast}); err == nil {
		t.Fatal("New accepted a config without a Revoker")
	}
}

// TestDeleteRevokesFirstAndRetries (issue 8 item 15): deleting a user
// revokes the user's access tokens first; when that fails, the user is
// still there, so the retry completes the job; a retry after success gets
// a clear 404.
func TestDeleteRevokesFirstAndRetries(t *testing.T) {
	st := newMemStore()
	rv := &fakeRevoker{failures: 1}
	clk := &clock{now: t0}
	cfg := testConfig(st, &fast, clk.Now)
	cfg.Revoker = rv
	s, err := New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	v, err := s.Create(ctx, CreateRequest{Username: "alice", Password: "password1"})
	if err != nil {
		t.Fatal(err)
	}

	err = s.Delete(ctx, v.ID)
	wantOAuth(t, err, oauth.TemporarilyUnavailable, http.StatusServiceUnavailable)
	if !errors.Is(err, store.ErrUnavailable) {
		t.Errorf("the cause is lost: %v", err)
	}
	u, ok := st.users[v.ID]
	if !ok {
		t.Fatal("the user was deleted although its tokens were not revoked")
	}
	if u.NotBefore.IsZero() {
		t.Error("the failed attempt did not end the user's refresh tokens (NotBefore)")
	}

	clk.Add(time.Second)
	if err := s.Delete(ctx, v.ID); err != nil {
		t.Fatalf("retry: %v", err)
	}
	if _, ok := st.users[v.ID]; ok {
		t.Error("the retry did not delete the user")
	}
	if got := rv.mark(v.ID); !got.Equal(t0.Add(time.Second)) {
		t.Errorf("watermark %v; want %v", got, t0.Add(time.Second))
	}
	wantOAuth(t, s.Delete(ctx, v.ID), oauth.NotFound, http.StatusNotFound)
}

// TestRevokeWritesTheWatermark: Revoke ends refresh and access tokens at
// one instant, and reports a failed watermark instead of hiding it.
func TestRevokeWritesTheWatermark(t *testing.T) {
	st := newMemStore()
	rv := &fakeRevoker{failures: 1}
	cfg := testConfig(st, &fast, (&clock{now: t0}).Now)
	cfg.Revoker = rv
	s, err := New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	v, _ := s.Create(ctx, CreateRequest{Username: "bob", Password: "password1"})
	if _, err := s.Revoke(ctx, v.ID); err == nil {
		t.Fatal("a failed watermark was not reported")
	}
	at, err := s.Revoke(ctx, v.ID)
	if err != nil {
		t.Fatal(err)
	}
	if !rv.mark(v.ID).Equal(at) || !st.users[v.ID].NotBefore.Equal(at) {
		t.Errorf("watermark %v, NotBefore %v; want both %v", rv.mark(v.ID), st.users[v.ID].NotBefore, at)
	}
}
