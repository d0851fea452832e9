package redis

import (
	"context"
	"crypto/sha256"
	"errors"
	"fmt"
	"slices"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	goredis "github.com/redis/go-redis/v9"

	"github.com/authd-dev/authd/store"
	"github.com/authd-dev/authd/store/storetest"
)

// countHook counts what one client sends: single commands (by name) and
// pipelines. Each is one round trip.
type countHook struct {
	mu    sync.Mutex
	names []string
	pipes atomic.Int64
}

func (h *countHook) DialHook(next goredis.DialHook) goredis.DialHook { return next }

func (h *countHook) ProcessHook(next goredis.ProcessHook) goredis.ProcessHook {
	return func(ctx context.Context, cmd goredis.Cmder) error {
		h.mu.Lock()
		h.names = append(h.names, cmd.Name())
		h.mu.Unlock()
		return next(ctx, cmd)
	}
}

func (h *countHook) ProcessPipelineHook(next goredis.ProcessPipelineHook) goredis.ProcessPipelineHook {
	return func(ctx context.Context, cmds []goredis.Cmder) error {
		h.pipes.Add(1)
		return next(ctx, cmds)
	}
}

func (h *countHook) reset() {
	h.mu.Lock()
	h.names = nil
	h.mu.Unlock()
	h.pipes.Store(0)
}

func (h *countHook) commands() []string {
	h.mu.Lock()
	defer h.mu.Unlock()
	return slices.Clone(h.names)
}

// TestRotateOneRoundTrip: every branch of RotateRefresh (rotate, retry in
// the leeway, reuse, revoked, missing) is exactly one EVALSHA on the wire.
func TestRotateOneRoundTrip(t *testing.T) {
	ctx := context.Background()
	s := openTest(t, Options{})
	h := &countHook{}
	s.rdb.AddHook(h)
	now := storetest.Now()
	if err := s.CreateFamily(ctx, storetest.NewFamily("f1", now, "t0")); err != nil {
		t.Fatal(err)
	}
	// Warm up: the first run may need EVAL (NOSCRIPT) once per server.
	if err := rotateScript.Load(ctx, s.rdb).Err(); err != nil {
		t.Fatal(err)
	}
	h.reset()

	const n = 50
	for i := range n {
		r := storetest.Rotate("f1", fmt.Sprint("t", i), fmt.Sprint("t", i+1), now.Add(time.Duration(i+1)*time.Second))
		if _, err := s.RotateRefresh(ctx, r); err != nil {
			t.Fatalf("rotation %d: %v", i, err)
		}
	}
	at := now.Add(n * time.Second)
	retry := storetest.Rotate("f1", fmt.Sprint("t", n-1), "x", at)
	retry.Leeway, retry.MaxRetries = time.Minute, 1
	if res, err := s.RotateRefresh(ctx, retry); err != nil || !res.Retried {
		t.Fatalf("retry: %v, Retried=%v", err, res.Retried)
	}
	if _, err := s.RotateRefresh(ctx, storetest.Rotate("f1", "t0", "x", at)); !errors.Is(err, store.ErrReused) {
		t.Fatalf("reuse: got %v, want ErrReused", err)
	}
	if _, err := s.RotateRefresh(ctx, storetest.Rotate("f1", "t0", "x", at)); !errors.Is(err, store.ErrRevoked) {
		t.Fatalf("after reuse: got %v, want ErrRevoked", err)
	}
	if _, err := s.RotateRefresh(ctx, storetest.Rotate("nope", "t0", "x", at)); !errors.Is(err, store.ErrNotFound) {
		t.Fatalf("missing: got %v, want ErrNotFound", err)
	}

	got := h.commands()
	if want := n + 4; len(got) != want {
		t.Fatalf("%d RotateRefresh calls sent %d commands %v, want %d", want, len(got), got, want)
	}
	for i, name := range got {
		if name != "evalsha" {
			t.Fatalf("command %d is %q, want evalsha", i, name)
		}
	}
	if p := h.pipes.Load(); p != 0 {
		t.Fatalf("RotateRefresh sent %d pipelines, want 0", p)
	}
}

// TestDenyStateOneRoundTrip: the four lookups go out as one pipeline.
func TestDenyStateOneRoundTrip(t *testing.T) {
	ctx := context.Background()
	s := openTest(t, Options{})
	h := &countHook{}
	s.rdb.AddHook(h)
	q := store.DenyQuery{JTI: "j", SID: "s", Subject: "u", ClientID: "c"}
	// Warm up: a new connection's handshake is not ours to count.
	if _, err := s.DenyState(ctx, q); err != nil {
		t.Fatal(err)
	}
	h.reset()
	if _, err := s.DenyState(ctx, q); err != nil {
		t.Fatal(err)
	}
	if got := h.commands(); len(got) != 0 || h.pipes.Load() != 1 {
		t.Fatalf("DenyState sent commands %v and %d pipelines, want one pipeline only", got, h.pipes.Load())
	}
}

// within fails unless got is in [want-slack, want+1ms] (TTLs are rounded
// up to the millisecond).
func within(t *testing.T, what string, got, want, slack time.Duration) {
	t.Helper()
	if got < want-slack || got > want+time.Millisecond {
		t.Fatalf("%s = %v, want %v (-%v)", what, got, want, slack)
	}
}

func TestExpiryIsTheKeyTTL(t *testing.T) {
	ctx := context.Background()
	s := openTest(t, Options{})
	pttl := func(key string) time.Duration {
		t.Helper()
		d, err := s.rdb.PTTL(ctx, key).Result()
		if err != nil {
			t.Fatal(err)
		}
		return d
	}
	const slack = 5 * time.Second // time between computing now and PTTL
	now := time.Now()

	// The idle window ends first, then the absolute lifetime.
	f := storetest.NewFamily("idle", now, "t0")
	abs := storetest.NewFamily("abs", now, "t0")
	abs.ExpiresAt = now.Add(30 * time.Minute)
	for _, f := range []store.Family{f, abs} {
		if err := s.CreateFamily(ctx, f); err != nil {
			t.Fatal(err)
		}
	}
	within(t, "PTTL of a new family", pttl(s.familyKey("idle")), 72*time.Hour, slack)
	within(t, "PTTL of a family whose lifetime ends first", pttl(s.familyKey("abs")), 30*time.Minute, slack)

	// A rotation starts a new idle window, capped by the lifetime.
	r := storetest.Rotate("idle", "t0", "t1", time.Now())
	r.IdleTTL = time.Hour
	if _, err := s.RotateRefresh(ctx, r); err != nil {
		t.Fatal(err)
	}
	within(t, "PTTL after rotation", pttl(s.familyKey("idle")), time.Hour, slack)
	if _, err := s.RotateRefresh(ctx, storetest.Rotate("abs", "t0", "t1", time.Now())); err != nil {
		t.Fatal(err)
	}
	within(t, "PTTL after rotation capped by the lifetime", pttl(s.familyKey("abs")), 30*time.Minute, slack)

	// Revoked families keep their TTL, so replays are still recognised.
	if err := s.RevokeFamily(ctx, "idle"); err != nil {
		t.Fatal(err)
	}
	within(t, "PTTL of a revoked family", pttl(s.familyKey("idle")), time.Hour, slack)
	if _, err := s.RotateRefresh(ctx, storetest.Rotate("abs", "t0", "t2", time.Now())); !errors.Is(err, store.ErrReused) {
		t.Fatalf("reuse: %v", err)
	}
	within(t, "PTTL of a family revoked by reuse", pttl(s.familyKey("abs")), 30*time.Minute, slack)

	// A denial expires with its ExpiresAt; the later expiry wins.
	key := s.denyKey(store.DenySubject, "u1")
	d := store.Denial{Kind: store.DenySubject, Value: "u1", At: now, ExpiresAt: now.Add(10 * time.Minute)}
	if err := s.Deny(ctx, d); err != nil {
		t.Fatal(err)
	}
	within(t, "PTTL of a denial", pttl(key), 10*time.Minute, slack)
	d.ExpiresAt = now.Add(time.Minute)
	if err := s.Deny(ctx, d); err != nil {
		t.Fatal(err)
	}
	within(t, "PTTL of a denial after an earlier expiry", pttl(key), 10*time.Minute, slack)
	d.ExpiresAt = now.Add(time.Hour)
	if err := s.Deny(ctx, d); err != nil {
		t.Fatal(err)
	}
	within(t, "PTTL of a denial after a later expiry", pttl(key), time.Hour, slack)
}

// TestInjectedClock: with a store clock far from real time, families
// and denials still live as long as that clock says (TTLs are relative to
// the operation's Now, not absolute instants on the Redis clock).
func TestInjectedClock(t *testing.T) {
	ctx := context.Background()
	past := time.Date(2020, 1, 2, 3, 4, 5, 0, time.UTC)
	s := openTest(t, Options{Now: func() time.Time { return past }})
	f := storetest.NewFamily("f1", past, "t0")
	if err := s.CreateFamily(ctx, f); err != nil {
		t.Fatal(err)
	}
	got, err := s.GetFamily(ctx, "f1")
	if err != nil {
		t.Fatalf("GetFamily under the injected clock: %v", err)
	}
	if !storetest.Equal(got, f) {
		t.Fatalf("GetFamily = %+v, want %+v", got, f)
	}
	if _, err := s.RotateRefresh(ctx, storetest.Rotate("f1", "t0", "t1", past.Add(time.Hour))); err != nil {
		t.Fatalf("RotateRefresh under the injected clock: %v", err)
	}
	if err := s.Deny(ctx, store.Denial{Kind: store.DenyJTI, Value: "j", At: past, ExpiresAt: past.Add(time.Hour)}); err != nil {
		t.Fatal(err)
	}
	st, err := s.DenyState(ctx, store.DenyQuery{JTI: "j"})
	if err != nil || !st.JTI.Equal(past) {
		t.Fatalf("DenyState under the injected clock = %+v, %v; want JTI %v", st, err, past)
	}
}

// loginFamily is a family as the token service creates it.
func loginFamily(id string, now time.Time) store.Family {
	return store.Family{
		ID:            id,
		ClientID:      "Zr3xV9bq1Lm0Pw8KsT2uYa", // generated client IDs are 22 characters
		Subject:       "Qh7dN2cR5vX0jB9mL4sWkE",
		Scope:         "openid profile email offline_access",
		Audience:      []string{"https://api.example.com"},
		AuthTime:      now,
		CreatedAt:     now,
		ExpiresAt:     now.Add(720 * time.Hour),
		IdleExpiresAt: now.Add(72 * time.Hour),
		Current:       digestOf(id),
	}
}

func digestOf(s string) []byte {
	d := sha256.Sum256([]byte(s))
	return d[:]
}

func usedMemory(t testing.TB, rdb goredis.UniversalClient) int64 {
	t.Helper()
	info, err := rdb.InfoMap(context.Background(), "memory").Result()
	if err != nil {
		t.Fatal(err)
	}
	var n int64
	if _, err := fmt.Sscan(info["Memory"]["used_memory"], &n); err != nil {
		t.Fatalf("used_memory: %v", err)
	}
	return n
}
