package keys

import (
	"context"
	"encoding/json"
	"errors"
	"reflect"
	"runtime"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/go-jose/go-jose/v4"

	"github.com/authd-dev/authd/store"
)

// crashingStore fails the next SwapKeySet without writing, as if the
// replica died between reading the set and storing its plan.
type crashingStore struct {
	*fakeStore
	crash atomic.Bool
}

var errCrash = errors.New("replica died mid-rotation")

func (s *crashingStore) SwapKeySet(ctx context.Context, expect uint64, keys []store.Key) (store.KeySet, error) {
	if s.crash.CompareAndSwap(true, false) {
		return store.KeySet{}, errCrash
	}
	return s.fakeStore.SwapKeySet(ctx, expect, keys)
}

// bodyKids returns the kids of a JWKS body; it fails on an empty set.
func bodyKids(t testing.TB, body []byte) map[string]bool {
	t.Helper()
	var set jose.JSONWebKeySet
	if err := json.Unmarshal(body, &set); err != nil {
		t.Fatalf("JWKS body %s: %v", body, err)
	}
	if len(set.Keys) == 0 {
		t.Fatalf("empty JWKS: %s", body)
	}
	kids := make(map[string]bool, len(set.Keys))
	for _, k := range set.Keys {
		kids[k.KeyID] = true
	}
	return kids
}

// checkOneActive asserts that set holds exactly one active and one next
// key per alg, and returns them by alg.
func checkOneActive(t *testing.T, set store.KeySet) (active, next map[string]store.Key) {
	t.Helper()
	active, next = map[string]store.Key{}, map[string]store.Key{}
	for _, alg := range []string{RS256, ES256} {
		var na, nn int
		for _, k := range set.Keys {
			if k.Alg != alg {
				continue
			}
			switch k.State {
			case store.KeyActive:
				na++
				active[alg] = k
			case store.KeyNext:
				nn++
				next[alg] = k
			}
		}
		if na != 1 || nn != 1 {
			t.Fatalf("v%d %s: %d active and %d next keys, want 1 and 1", set.Version, alg, na, nn)
		}
	}
	return active, next
}

// TestCrashMidRotationLeavesConsistentSet: a replica that dies between
// reading the set and writing a transition leaves the stored set exactly
// as it was; another replica then performs the transition exactly once,
// and the crashed replica, on its next reload, adopts it without writing.
func TestCrashMidRotationLeavesConsistentSet(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	for _, tc := range []struct {
		name string
		// due makes a transition due (before the crash) and returns the op
		// that applies it; the survivor runs it after its start (which
		// alone applies a scheduled transition).
		due func(clk *clock) func(*Manager) error
		alg string // the alg whose active key changes
	}{
		{"scheduled activation", func(clk *clock) func(*Manager) error {
			clk.Add(10 * time.Hour) // RotationPeriod: both algs are due
			return func(m *Manager) error { return m.Reload(ctx) }
		}, ""},
		{"manual rotation", func(clk *clock) func(*Manager) error {
			clk.Add(time.Hour)
			return func(m *Manager) error { _, err := m.Rotate(ctx, RS256); return err }
		}, RS256},
	} {
		t.Run(tc.name, func(t *testing.T) {
			clk := newClock()
			st := &crashingStore{fakeStore: &fakeStore{}}
			dying := newManager(t, st, clk, nil)
			before, _ := st.GetKeySet(ctx)
			oldActive, oldNext := checkOneActive(t, before)
			servedBefore := dying.JWKS()
			swapsBefore, _ := st.counts()

			op := tc.due(clk)
			st.crash.Store(true)
			if err := op(dying); !errors.Is(err, errCrash) {
				t.Fatalf("the dying replica's write = %v; want the crash", err)
			}
			after, _ := st.GetKeySet(ctx)
			if !reflect.DeepEqual(after, before) {
				t.Fatalf("a failed write changed the stored set:\nbefore v%d %+v\nafter  v%d %+v", before.Version, before.Keys, after.Version, after.Keys)
			}
			// The crashed replica keeps serving its last good snapshot.
			if got := dying.JWKS(); string(got.Body) != string(servedBefore.Body) || got.ETag != servedBefore.ETag {
				t.Fatal("a failed write changed the served JWKS")
			}
			if _, kid, _ := dying.Sign(ES256, TypeAccessToken, []byte(`{}`)); kid != oldActive[ES256].ID {
				t.Fatalf("after the failed write signs with %s, want %s", kid, oldActive[ES256].ID)
			}

			survivor := newManager(t, st, clk, nil)
			if tc.alg != "" {
				if err := op(survivor); err != nil {
					t.Fatal(err)
				}
			}
			set, _ := st.GetKeySet(ctx)
			if swaps, _ := st.counts(); set.Version != before.Version+1 || swaps != swapsBefore+1 {
				t.Fatalf("v%d after %d swaps; want exactly one write (v%d)", set.Version, swaps-swapsBefore, before.Version+1)
			}
			active, _ := checkOneActive(t, set)
			for _, alg := range []string{RS256, ES256} {
				changes := tc.alg == "" || tc.alg == alg
				want := oldActive[alg].ID
				if changes {
					want = oldNext[alg].ID // the published next key is promoted
				}
				if active[alg].ID != want {
					t.Fatalf("%s active %s after the transition, want %s", alg, active[alg].ID, want)
				}
				if changes && stateOf(survivor.List(), oldActive[alg].ID) != store.KeyRetired {
					t.Fatalf("%s: the old active key is %q, want retired", alg, stateOf(survivor.List(), oldActive[alg].ID))
				}
			}

			// Neither replica applies the transition again.
			for _, m := range []*Manager{dying, survivor} {
				if err := m.Reload(ctx); err != nil {
					t.Fatal(err)
				}
				if _, kid, _ := m.Sign(RS256, TypeAccessToken, []byte(`{}`)); kid != active[RS256].ID {
					t.Fatalf("a replica signs with %s after reload, want %s", kid, active[RS256].ID)
				}
			}
			if again, _ := st.GetKeySet(ctx); again.Version != set.Version {
				t.Fatalf("the transition was written again: v%d → v%d", set.Version, again.Version)
			}
		})
	}
}

// TestJWKSNeverLacksSigningKeyUnderRotation signs tokens and reads the
// JWKS continuously while another goroutine rotates both algs 60 times and
// deletes retired keys: the JWKS read after a token was signed is never
// empty and holds the token's kid (unless that key was deleted), whose
// public key verifies the token; Published agrees with the body.
func TestJWKSNeverLacksSigningKeyUnderRotation(t *testing.T) {
	ctx := context.Background()
	clk := newClock()
	m := newManager(t, &fakeStore{}, clk, nil)

	var deleted sync.Map // kid → struct{}, stored before Delete is called
	isDeleted := func(kid string) bool { _, ok := deleted.Load(kid); return ok }
	algs := [2]string{RS256, ES256}
	var (
		stop, failed atomic.Bool
		checked      [2]atomic.Int64
		signedKids   [2]sync.Map // kids that signed a checked token
		wg           sync.WaitGroup
	)
	fail := func(format string, args ...any) {
		failed.Store(true)
		t.Errorf(format, args...)
	}
	for w, alg := range algs {
		wg.Go(func() {
			for !stop.Load() {
				token, kid, err := m.Sign(alg, TypeAccessToken, []byte(`{"sub":"x"}`))
				if err != nil {
					fail("Sign(%s): %v", alg, err)
					return
				}
				body := m.JWKS().Body // read after the Sign call
				var set jose.JSONWebKeySet
				if err := json.Unmarshal(body, &set); err != nil || len(set.Keys) == 0 {
					fail("JWKS body %s (%v): want a non-empty key set", body, err)
					return
				}
				pub := set.Key(kid)
				if len(pub) == 0 {
					if !isDeleted(kid) { // checked after the read
						fail("a JWKS read after signing lacks the signing kid %s", kid)
						return
					}
					continue
				}
				jws, err := jose.ParseSigned(token, []jose.SignatureAlgorithm{jose.RS256, jose.ES256})
				if err != nil {
					fail("parse token: %v", err)
					return
				}
				if _, err := jws.Verify(pub[0].Key); err != nil {
					fail("the published key %s does not verify its token: %v", kid, err)
					return
				}
				if !m.Published(kid) && !isDeleted(kid) {
					fail("Published(%s) = false for a key in the JWKS and not deleted", kid)
					return
				}
				signedKids[w].Store(kid, struct{}{})
				checked[w].Add(1)
			}
		})
	}

	// waitSigners waits until every signer has checked a token signed
	// after the last change, so that every key set is exercised.
	waitSigners := func() {
		marks := [2]int64{checked[0].Load(), checked[1].Load()}
		for w := range marks {
			for checked[w].Load() <= marks[w]+1 && !failed.Load() {
				runtime.Gosched()
			}
		}
	}
	seen := map[string]bool{}
	activeKids := [2]map[string]bool{{}, {}}
	note := func() {
		for _, in := range m.List() {
			seen[in.Kid] = true
			if in.State == store.KeyActive {
				activeKids[map[string]int{RS256: 0, ES256: 1}[in.Alg]][in.Kid] = true
			}
		}
	}
	note()
	const rotations = 60
	deletes := 0
	for i := 0; i < rotations && !failed.Load(); i++ {
		w := 1
		if i%10 == 0 {
			w = 0 // RS256 every tenth rotation: RSA generation is slow under -race
		}
		alg := algs[w]
		var next string
		for _, in := range m.List() {
			if in.Alg == alg && in.State == store.KeyNext {
				next = in.Kid
			}
		}
		got, err := m.Rotate(ctx, alg)
		if err != nil {
			t.Fatal(err)
		}
		if got.Kid != next {
			t.Fatalf("rotation %d promoted %s, want the published next key %s", i, got.Kid, next)
		}
		note()
		// Keep one retired key per alg; delete the older ones.
		var retired []string
		for _, in := range m.List() {
			if in.Alg == alg && in.State == store.KeyRetired {
				retired = append(retired, in.Kid)
			}
		}
		if len(retired) > 1 {
			deleted.Store(retired[0], struct{}{})
			if err := m.Delete(ctx, retired[0]); err != nil {
				t.Fatal(err)
			}
			deletes++
		}
		// The writer is idle now: Published agrees with the body exactly.
		inBody := bodyKids(t, m.JWKS().Body)
		for kid := range seen {
			if m.Published(kid) != inBody[kid] {
				t.Fatalf("Published(%s) = %v, but the JWKS body has it: %v", kid, m.Published(kid), inBody[kid])
			}
			if isDeleted(kid) && inBody[kid] {
				t.Fatalf("deleted key %s is still in the JWKS", kid)
			}
		}
		waitSigners()
	}
	stop.Store(true)
	wg.Wait()
	if t.Failed() {
		return
	}
	if deletes < rotations-2 {
		t.Fatalf("%d deletes, want %d", deletes, rotations-2)
	}
	// Each key that was ever active signed checked tokens, and no other.
	for w, alg := range algs {
		var n int
		signedKids[w].Range(func(kid, _ any) bool {
			n++
			if !activeKids[w][kid.(string)] {
				t.Errorf("%s: %s signed but was never active", alg, kid)
			}
			return true
		})
		if n != len(activeKids[w]) {
			t.Errorf("%s: %d kids signed checked tokens, want all %d that were active", alg, n, len(activeKids[w]))
		}
	}
	t.Logf("%d RS256 and %d ES256 tokens checked against the JWKS during %d rotations and %d deletes", checked[0].Load(), checked[1].Load(), rotations, deletes)
}
