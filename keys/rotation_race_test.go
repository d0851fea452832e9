package keys

import (
	"bytes"
	"context"
	"errors"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/authd-dev/authd/store"
)

// crashingStore fails the next SwapKeySet after reading, as if the replica
// died between planning a rotation and writing it.
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

// TestCrashMidRotationLeavesConsistentSet: a replica that dies between
// reading the set and writing its rotation leaves the stored set as it
// was; another replica then performs the due rotation exactly once.
func TestCrashMidRotationLeavesConsistentSet(t *testing.T) {
	ctx := context.Background()
	clk := newClock()
	st := &crashingStore{fakeStore: &fakeStore{}}
	dying := newManager(t, st, clk, nil)
	before, _ := st.GetKeySet(ctx)

	clk.Add(10 * time.Hour) // a rotation is due
	st.crash.Store(true)
	if err := dying.Reload(ctx); !errors.Is(err, errCrash) {
		t.Fatalf("Reload of the dying replica = %v; want the crash", err)
	}
	after, _ := st.GetKeySet(ctx)
	if after.Version != before.Version || len(after.Keys) != len(before.Keys) {
		t.Fatalf("a failed rotation changed the stored set: v%d→v%d", before.Version, after.Version)
	}

	survivor := newManager(t, st, clk, nil) // starts, applies the due rotation
	set, _ := st.GetKeySet(ctx)
	if set.Version != before.Version+1 {
		t.Fatalf("version %d; want exactly one write (%d)", set.Version, before.Version+1)
	}
	for _, alg := range []string{RS256, ES256} {
		states := map[string]int{}
		for _, k := range set.Keys {
			if k.Alg == alg {
				states[k.State]++
			}
		}
		if states[store.KeyActive] != 1 || states[store.KeyNext] != 1 || states[store.KeyRetired] != 1 {
			t.Fatalf("%s states after the rotation: %v; want one active, one next, one retired", alg, states)
		}
	}
	if err := survivor.Reload(ctx); err != nil {
		t.Fatal(err)
	}
	if again, _ := st.GetKeySet(ctx); again.Version != set.Version {
		t.Fatal("the rotation was applied twice")
	}
}

// TestJWKSNeverLacksSigningKeyUnderRotation signs and reads the JWKS
// concurrently with rotations and deletions of retired keys: the JWKS read
// after a token was signed always holds its kid, never comes back empty,
// and Published agrees with it.
func TestJWKSNeverLacksSigningKeyUnderRotation(t *testing.T) {
	ctx := context.Background()
	clk := newClock()
	m := newManager(t, &fakeStore{}, clk, nil)
	var deleted sync.Map
	stop := make(chan struct{})
	var wg sync.WaitGroup
	var checked atomic.Int64
	for w := range 4 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			alg := []string{RS256, ES256}[w%2]
			for {
				select {
				case <-stop:
					return
				default:
				}
				_, kid, err := m.Sign(alg, TypeAccessToken, []byte(`{}`))
				if err != nil {
					t.Error(err)
					return
				}
				body := m.JWKS().Body
				if bytes.Equal(body, []byte(`{"keys":[]}`)) || len(body) < 20 {
					t.Errorf("empty JWKS: %s", body)
					return
				}
				if _, gone := deleted.Load(kid); !gone {
					if !bytes.Contains(body, []byte(`"`+kid+`"`)) {
						t.Errorf("a JWKS read after signing lacks the signing kid %s", kid)
						return
					}
					if !m.Published(kid) {
						t.Errorf("Published(%s) = false for a key in the JWKS", kid)
						return
					}
				}
				checked.Add(1)
			}
		}()
	}
	for i := range 60 {
		alg := []string{RS256, ES256}[i%2]
		if _, err := m.Rotate(ctx, alg); err != nil {
			t.Fatal(err)
		}
		if i%5 == 4 {
			for _, in := range m.List() {
				if in.State == store.KeyRetired {
					deleted.Store(in.Kid, true)
					if err := m.Delete(ctx, in.Kid); err != nil && !errors.Is(err, ErrKeyNotFound) {
						t.Fatal(err)
					}
					break
				}
			}
		}
	}
	close(stop)
	wg.Wait()
	if checked.Load() == 0 {
		t.Fatal("no signature was checked")
	}
	t.Logf("%d signatures checked against the JWKS during 60 rotations", checked.Load())
}
