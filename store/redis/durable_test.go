package redis

import (
	"bytes"
	"context"
	"errors"
	"slices"
	"sync"
	"testing"
	"time"

	goredis "github.com/redis/go-redis/v9"

	"github.com/authd-dev/authd/internal/redistest"
	"github.com/authd-dev/authd/store"
	"github.com/authd-dev/authd/store/storetest"
)

// openReplicated opens a Store on the primary of pair with WaitReplicas
// wait, under a fresh prefix.
func openReplicated(t *testing.T, pair *redistest.Sentinel, wait int) *Store {
	t.Helper()
	s, err := Open(context.Background(), Options{
		URL: "redis://" + pair.Nodes[0] + "/0", WaitReplicas: wait, WaitTimeout: 100 * time.Millisecond,
	})
	if err != nil {
		t.Fatalf("Open: %v", err)
	}
	t.Cleanup(func() { _ = s.Close() })
	s.prefix = redistest.Prefix(t, s.rdb) // its cleanup runs before Close (LIFO)
	return s
}

// TestDurableConformance: with WAIT after every family and denylist write
// the store still keeps the whole contract.
func TestDurableConformance(t *testing.T) {
	pair := redistest.NewReplicated(t)
	storetest.Run(t, func(t *testing.T) store.Store { return openReplicated(t, pair, 1) })
}

func rotation(fid, presented, next string, now time.Time) store.Rotation {
	return store.Rotation{
		FamilyID: fid, Presented: storetest.Digest(presented), Next: storetest.Digest(next),
		Now: now, IdleTTL: time.Hour, MaxRetries: 3, // no leeway, the default
	}
}

// TestDurableWritesWaitForReplica: while the replica does not acknowledge,
// every durable write answers ErrUnavailable (a 503) instead of success;
// a rotation whose WAIT timed out stays pending, so the client's retry of
// the same token rotates again (no leeway!), the undelivered successor is
// dead, and once acknowledged the previous token is reuse again.
func TestDurableWritesWaitForReplica(t *testing.T) {
	ctx := context.Background()
	pair := redistest.NewReplicated(t)
	s := openReplicated(t, pair, 1)
	now := storetest.Now()
	for _, id := range []string{"f1", "f2", "f3"} {
		if err := s.CreateFamily(ctx, storetest.NewFamily(id, now, "t0")); err != nil {
			t.Fatalf("create %s: %v", id, err)
		}
	}
	for _, id := range []string{"f1", "f2", "f3"} {
		if _, err := s.RotateRefresh(ctx, rotation(id, "t0", "t1", now)); err != nil {
			t.Fatalf("rotate %s with the replica up: %v", id, err)
		}
	}

	pair.Pause(pair.Nodes[1], true)
	unacked := func(what string, err error) {
		t.Helper()
		if !errors.Is(err, store.ErrUnavailable) || !errors.Is(err, errNotReplicated) {
			t.Fatalf("%s with the replica stopped: err = %v, want ErrUnavailable (not replicated)", what, err)
		}
	}
	for _, id := range []string{"f1", "f2", "f3"} {
		_, err := s.RotateRefresh(ctx, rotation(id, "t1", "t2-lost", now))
		unacked("rotate "+id, err)
	}
	unacked("create family", s.CreateFamily(ctx, storetest.NewFamily("f4", now, "t0")))
	unacked("revoke family", s.RevokeFamily(ctx, "f3"))
	unacked("deny", s.Deny(ctx, store.Denial{Kind: store.DenyJTI, Value: "j1", At: now, ExpiresAt: now.Add(time.Hour)}))
	// The retry while still unreplicated: pending again, 503 again.
	_, err := s.RotateRefresh(ctx, rotation("f1", "t1", "t2-lost-again", now.Add(time.Second)))
	unacked("retry rotate f1", err)
	pair.Pause(pair.Nodes[1], false)

	// The client's honest retry with the same token succeeds and gets a
	// fresh successor; the family keeps one line of descent.
	res, err := s.RotateRefresh(ctx, rotation("f1", "t1", "t2", now.Add(2*time.Second)))
	if err != nil {
		t.Fatalf("retry of the token whose rotation answered 503: %v (want a rotation, not reuse)", err)
	}
	if f := res.Family; !bytes.Equal(f.Current, storetest.Digest("t2")) || !bytes.Equal(f.Previous, storetest.Digest("t1")) || f.Revoked {
		t.Fatalf("after the retry: current %x previous %x revoked %v", f.Current, f.Previous, f.Revoked)
	}
	// Acknowledged now: presenting t1 once more is reuse.
	if _, err := s.RotateRefresh(ctx, rotation("f1", "t1", "t9", now.Add(3*time.Second))); !errors.Is(err, store.ErrReused) {
		t.Fatalf("previous token after an acknowledged rotation: err = %v, want ErrReused", err)
	}
	// The successor of the unacknowledged rotation never reached anyone:
	// it is replaced, and presenting it is reuse.
	if _, err := s.RotateRefresh(ctx, rotation("f2", "t1", "t2", now.Add(time.Second))); err != nil {
		t.Fatalf("retry f2: %v", err)
	}
	if _, err := s.RotateRefresh(ctx, rotation("f2", "t2-lost", "t9", now.Add(2*time.Second))); !errors.Is(err, store.ErrReused) {
		t.Fatalf("the replaced unacknowledged successor: err = %v, want ErrReused", err)
	}
	// The revocation that answered 503 is on the primary; its retry is
	// acknowledged (idempotent).
	if err := s.RevokeFamily(ctx, "f3"); err != nil {
		t.Fatalf("retry revoke: %v", err)
	}
	if _, err := s.RotateRefresh(ctx, rotation("f3", "t1", "t2", now.Add(time.Second))); !errors.Is(err, store.ErrRevoked) {
		t.Fatalf("revoked f3: err = %v, want ErrRevoked", err)
	}
}

// TestDurablePendingWindow: a pending rotation lets its previous token
// rotate again only within pendingWindow.
func TestDurablePendingWindow(t *testing.T) {
	ctx := context.Background()
	pair := redistest.NewReplicated(t)
	s := openReplicated(t, pair, 1)
	now := storetest.Now()
	if err := s.CreateFamily(ctx, storetest.NewFamily("f1", now, "t0")); err != nil {
		t.Fatal(err)
	}
	pair.Pause(pair.Nodes[1], true)
	_, err := s.RotateRefresh(ctx, rotation("f1", "t0", "t1", now))
	pair.Pause(pair.Nodes[1], false)
	if !errors.Is(err, store.ErrUnavailable) {
		t.Fatalf("rotate with the replica stopped: %v", err)
	}
	late := now.Add(pendingWindow + time.Second)
	if _, err := s.RotateRefresh(ctx, rotation("f1", "t0", "t2", late)); !errors.Is(err, store.ErrReused) {
		t.Fatalf("retry after the pending window: err = %v, want ErrReused", err)
	}
}

// TestDurableOptions: Open rejects a negative replica count and a WAIT
// timeout it cannot honour.
func TestDurableOptions(t *testing.T) {
	for _, o := range []Options{
		{URL: "redis://127.0.0.1:1/0", WaitReplicas: -1},
		{URL: "redis://127.0.0.1:1/0", WaitReplicas: 1},
		{URL: "redis://127.0.0.1:1/0", WaitReplicas: 1, WaitTimeout: MaxWaitTimeout + time.Millisecond},
	} {
		if _, err := Open(context.Background(), o); err == nil || errors.Is(err, store.ErrUnavailable) {
			t.Errorf("Open(%+v): err = %v, want an options error", o, err)
		}
	}
}

// TestDurableUnfinishedRotation: a rotation left in flight (its request
// still running, or its primary gone before the finish) makes a replay of
// Previous reuse while young — a concurrent replay, not a retry — and a
// new rotation once older than inFlightBound (nobody will finish it).
func TestDurableUnfinishedRotation(t *testing.T) {
	ctx := context.Background()
	pair := redistest.NewReplicated(t)
	s := openReplicated(t, pair, 1)
	now := storetest.Now()
	for _, id := range []string{"young", "old", "leeway"} {
		if err := s.CreateFamily(ctx, storetest.NewFamily(id, now, "t0")); err != nil {
			t.Fatal(err)
		}
		// The rotation script alone, as a request that died before its
		// finish leaves it.
		r := rotation(id, "t0", "t1", now)
		err := rotateScript.Run(ctx, s.rdb, []string{s.familyKey(id)}, r.Presented, r.Next, r.SealedNext,
			micros(r.Now), micros(r.Now.Add(r.IdleTTL)), leewayFloor(r), r.MaxRetries, "1",
			micros(r.Now.Add(-pendingWindow)), micros(r.Now.Add(-s.inFlightBound())), "").Err()
		if err != nil {
			t.Fatal(err)
		}
	}
	// Inside a reuse leeway, a retry meeting the rotation in flight waits
	// (503) rather than get a successor that is not durable yet; once the
	// rotation is acknowledged it gets the same successor again.
	inLeeway := rotation("leeway", "t0", "t2", now.Add(100*time.Millisecond))
	inLeeway.Leeway, inLeeway.SealedNext = time.Minute, []byte("sealed-t2")
	if _, err := s.RotateRefresh(ctx, inLeeway); !errors.Is(err, store.ErrUnavailable) || !errors.Is(err, errInFlight) {
		t.Fatalf("leeway retry while the rotation is in flight: err = %v, want ErrUnavailable (in flight)", err)
	}
	if n, err := finishRotationScript.Run(ctx, s.rdb, []string{s.familyKey("leeway")}, storetest.Digest("t1"), "1").Int(); err != nil || n != finishCurrent {
		t.Fatalf("finish: %d, %v", n, err)
	}
	if res, err := s.RotateRefresh(ctx, inLeeway); err != nil || !res.Retried {
		t.Fatalf("leeway retry after the acknowledgement: %+v, %v; want Retried", res, err)
	}
	if _, err := s.RotateRefresh(ctx, rotation("young", "t0", "t2", now.Add(100*time.Millisecond))); !errors.Is(err, store.ErrReused) {
		t.Fatalf("replay while the rotation is in flight: err = %v, want ErrReused", err)
	}
	res, err := s.RotateRefresh(ctx, rotation("old", "t0", "t2", now.Add(s.inFlightBound()+time.Millisecond)))
	if err != nil {
		t.Fatalf("retry after an unfinished rotation: %v, want a rotation", err)
	}
	if !bytes.Equal(res.Family.Current, storetest.Digest("t2")) || !bytes.Equal(res.Family.Previous, storetest.Digest("t0")) {
		t.Fatalf("after the retry: current %x previous %x", res.Family.Current, res.Family.Previous)
	}
	if _, err := s.RotateRefresh(ctx, rotation("old", "t1", "t3", now.Add(2*s.inFlightBound()))); !errors.Is(err, store.ErrReused) {
		t.Fatalf("the unfinished rotation's successor: err = %v, want ErrReused", err)
	}
}

// testDurableCluster (a subtest of TestClusterConformance, on its Cluster):
// the contract holds on a Redis Cluster with WAIT for one replica after
// every family and denylist write (the default for a Cluster), where each
// write is waited for on the primary of its own slot.
func testDurableCluster(t *testing.T, addrs []string) {
	storetest.Run(t, func(t *testing.T) store.Store {
		s, err := Open(context.Background(), Options{Addrs: addrs, WaitReplicas: 1, WaitTimeout: 200 * time.Millisecond})
		if err != nil {
			t.Fatalf("Open cluster: %v", err)
		}
		t.Cleanup(func() { _ = s.Close() })
		s.prefix = redistest.Prefix(t, s.rdb) // its cleanup runs before Close (LIFO)
		return s
	})
	// The WAIT goes to the connection that wrote, on the primary that
	// holds the key: with every replica asleep, the writes answer
	// ErrUnavailable (a WAIT elsewhere would count the idle replicas).
	t.Run("ReplicasAsleep", func(t *testing.T) {
		ctx := context.Background()
		s, err := Open(ctx, Options{Addrs: addrs, WaitReplicas: 1, WaitTimeout: 100 * time.Millisecond})
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { _ = s.Close() })
		s.prefix = redistest.Prefix(t, s.rdb)
		now := storetest.Now()
		if err := s.CreateFamily(ctx, storetest.NewFamily("f1", now, "t0")); err != nil {
			t.Fatalf("create with the replicas awake: %v", err)
		}
		var slept sync.WaitGroup
		for _, a := range addrs {
			c := goredis.NewClient(&goredis.Options{Addr: a, MaxRetries: -1, ReadTimeout: 5 * time.Second})
			defer c.Close()
			role, err := c.Do(ctx, "ROLE").Slice()
			if err != nil {
				t.Fatal(err)
			}
			if role[0] == "master" {
				continue
			}
			slept.Add(1)
			go func() {
				defer slept.Done()
				if err := c.Do(ctx, "DEBUG", "SLEEP", "1.5").Err(); err != nil {
					t.Errorf("DEBUG SLEEP on %s: %v", a, err)
				}
			}()
		}
		time.Sleep(100 * time.Millisecond)
		_, err = s.RotateRefresh(ctx, rotation("f1", "t0", "t1", now))
		if !errors.Is(err, store.ErrUnavailable) || !errors.Is(err, errNotReplicated) {
			t.Errorf("rotate with the replicas asleep: err = %v, want not replicated", err)
		}
		err = s.Deny(ctx, store.Denial{Kind: store.DenyJTI, Value: "j1", At: now, ExpiresAt: now.Add(time.Hour)})
		if !errors.Is(err, store.ErrUnavailable) || !errors.Is(err, errNotReplicated) {
			t.Errorf("deny with the replicas asleep: err = %v, want not replicated", err)
		}
		slept.Wait()
		if _, err := s.RotateRefresh(ctx, rotation("f1", "t0", "t1b", now.Add(time.Second))); err != nil {
			t.Errorf("retry once the replicas are awake: %v", err)
		}
	})
}

// finishDelay holds every finishRotationScript call for delay: a finish
// that runs after a short-lived record's key has expired.
type finishDelay struct {
	delay time.Duration
	ran   chan struct{}
}

func (h *finishDelay) DialHook(next goredis.DialHook) goredis.DialHook { return next }
func (h *finishDelay) ProcessHook(next goredis.ProcessHook) goredis.ProcessHook {
	return func(ctx context.Context, cmd goredis.Cmder) error {
		if a := cmd.Args(); cmd.Name() == "evalsha" && len(a) > 1 && a[1] == finishRotationScript.Hash() {
			time.Sleep(h.delay)
			select {
			case h.ran <- struct{}{}:
			default:
			}
		}
		return next(ctx, cmd)
	}
}
func (h *finishDelay) ProcessPipelineHook(next goredis.ProcessPipelineHook) goredis.ProcessPipelineHook {
	return next
}

// TestDurableRotationAtFamilyEnd: a rotation just before the family's
// absolute end leaves a record with a TTL of about 1 ms. When that key
// expires before the rotation is finished (held here for 20 ms, so it
// always has), the rotation was still acknowledged by the replica and
// nothing can have rotated it again: it succeeds, as on every other
// backend, rather than answer "superseded" (a 503 the client's retry can
// only turn into invalid_grant).
func TestDurableRotationAtFamilyEnd(t *testing.T) {
	ctx := context.Background()
	pair := redistest.NewReplicated(t)
	s := openReplicated(t, pair, 1)
	now := storetest.Now()
	f := storetest.NewFamily("ending", now, "t0")
	f.ExpiresAt, f.IdleExpiresAt = now.Add(time.Hour), time.Time{}
	if err := s.CreateFamily(ctx, f); err != nil {
		t.Fatalf("create: %v", err)
	}
	h := &finishDelay{delay: 20 * time.Millisecond, ran: make(chan struct{}, 1)}
	s.rdb.AddHook(h)
	res, err := s.RotateRefresh(ctx, rotation("ending", "t0", "t1", f.ExpiresAt.Add(-time.Microsecond)))
	if err != nil {
		t.Fatalf("rotation 1µs before the family's end, finished after its record expired: %v; want success", err)
	}
	if !bytes.Equal(res.Family.Current, storetest.Digest("t1")) || !bytes.Equal(res.Family.Previous, storetest.Digest("t0")) {
		t.Fatalf("after the rotation: current %x previous %x; want t1, t0", res.Family.Current, res.Family.Previous)
	}
	select {
	case <-h.ran:
	default:
		t.Fatal("the rotation was never finished")
	}
	// The scenario is real: the record has expired.
	if n, err := s.rdb.Exists(ctx, s.familyKey("ending")).Result(); err != nil || n != 0 {
		t.Fatalf("family key after the rotation: exists %d, %v; want gone", n, err)
	}
	// A superseded rotation still answers ErrUnavailable.
	if err := s.CreateFamily(ctx, storetest.NewFamily("moved-on", now, "t0")); err != nil {
		t.Fatal(err)
	}
	if _, err := s.RotateRefresh(ctx, rotation("moved-on", "t0", "t1", now)); err != nil {
		t.Fatal(err)
	}
	if err := s.finishRotation(ctx, s.familyKey("moved-on"), storetest.Digest("t0"), intReply{goredis.NewIntResult(1, nil)}); !errors.Is(err, store.ErrUnavailable) || !errors.Is(err, errSuperseded) {
		t.Fatalf("finish of a rotation whose successor was replaced: %v; want ErrUnavailable (superseded)", err)
	}
}

// TestDurableSessionAndConsentWrites: session create, a touch that adds a
// login, session delete and consent grant and withdrawal WAIT like family
// writes: with the replica stopped each answers ErrUnavailable (not
// replicated) instead of success; the delete still hands back the record
// (so the logout can notify the clients); with the replica back they
// succeed and a touch without a new login does not wait.
func TestDurableSessionAndConsentWrites(t *testing.T) {
	ctx := context.Background()
	pair := redistest.NewReplicated(t)
	s := openReplicated(t, pair, 1)
	now := storetest.Now()
	touch := func(fid string) store.SessionTouch {
		return store.SessionTouch{Now: now, IdleTTL: time.Hour, Slack: time.Minute, ClientID: "c1", FamilyID: fid}
	}
	if err := s.CreateSession(ctx, storetest.NewSession("s1", "u1", now)); err != nil {
		t.Fatalf("create s1 with the replica up: %v", err)
	}
	if _, err := s.GrantConsent(ctx, "u1", "c1", "openid", now, time.Time{}); err != nil {
		t.Fatalf("grant with the replica up: %v", err)
	}

	pair.Pause(pair.Nodes[1], true)
	unacked := func(what string, err error) {
		t.Helper()
		if !errors.Is(err, store.ErrUnavailable) || !errors.Is(err, errNotReplicated) {
			t.Fatalf("%s with the replica stopped: err = %v, want ErrUnavailable (not replicated)", what, err)
		}
	}
	unacked("create session", s.CreateSession(ctx, storetest.NewSession("s2", "u1", now)))
	_, err := s.TouchSession(ctx, "s1", touch("f1"))
	unacked("touch with a login", err)
	_, err = s.GrantConsent(ctx, "u1", "c2", "openid", now, time.Time{})
	unacked("grant consent", err)
	_, err = s.DeleteConsent(ctx, "u1", "c1")
	unacked("withdraw consent", err)
	gone, err := s.DeleteSession(ctx, "s1")
	unacked("delete session", err)
	if gone.ID != "s1" || gone.UserID != "u1" || !slices.Contains(gone.Families, "f1") {
		t.Errorf("unacknowledged delete returned %+v; want the record with its families", gone)
	}
	pair.Pause(pair.Nodes[1], false)

	// The writes stand on the primary; the retry of the delete finds the
	// session gone, new writes are acknowledged.
	if _, err := s.DeleteSession(ctx, "s1"); !errors.Is(err, store.ErrNotFound) {
		t.Errorf("retry of the delete: %v, want ErrNotFound", err)
	}
	if err := s.CreateSession(ctx, storetest.NewSession("s3", "u1", now)); err != nil {
		t.Fatalf("create s3: %v", err)
	}
	if _, err := s.TouchSession(ctx, "s3", touch("f3")); err != nil {
		t.Fatalf("touch s3: %v", err)
	}
	pair.Pause(pair.Nodes[1], true)
	if _, err := s.TouchSession(ctx, "s3", touch("")); err != nil {
		t.Errorf("a touch without a new login waits for nobody: %v", err)
	}
	pair.Pause(pair.Nodes[1], false)
	if _, err := s.DeleteSession(ctx, "s3"); err != nil {
		t.Fatalf("delete s3: %v", err)
	}
	if _, err := s.GrantConsent(ctx, "u1", "c3", "openid", now, time.Time{}); err != nil {
		t.Fatalf("grant c3: %v", err)
	}
}
