package keys

import (
	"context"
	"slices"
	"sync"
	"time"

	"github.com/authd-dev/authd/store"
)

// fakeStore is an in-memory store.KeyStore with compare-and-swap.
type fakeStore struct {
	mu        sync.Mutex
	set       store.KeySet
	swaps     int // successful swaps
	conflicts int
	// gate, when set, holds the first gateN GetKeySet calls until all of
	// them have arrived, so that concurrent writers plan on one version.
	gate  chan struct{}
	gateN int
}

var _ store.KeyStore = (*fakeStore)(nil)

func cloneKeys(keys []store.Key) []store.Key {
	out := make([]store.Key, len(keys))
	for i, k := range keys {
		k.Sealed = slices.Clone(k.Sealed)
		k.PublicJWK = slices.Clone(k.PublicJWK)
		out[i] = k
	}
	return out
}

func (s *fakeStore) GetKeySet(ctx context.Context) (store.KeySet, error) {
	s.mu.Lock()
	set := store.KeySet{Version: s.set.Version, Keys: cloneKeys(s.set.Keys)}
	gate := s.gate
	if gate != nil {
		s.gateN--
		if s.gateN == 0 {
			close(gate)
			s.gate = nil
		}
	}
	s.mu.Unlock()
	if gate != nil {
		// Read before waiting: every gated reader sees the same version.
		select {
		case <-gate:
		case <-time.After(5 * time.Second): // the test then fails on its counts
		}
	}
	return set, nil
}

func (s *fakeStore) SwapKeySet(ctx context.Context, expect uint64, keys []store.Key) (store.KeySet, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if expect != s.set.Version {
		s.conflicts++
		return store.KeySet{}, store.ErrConflict
	}
	s.swaps++
	s.set = store.KeySet{Version: expect + 1, Keys: cloneKeys(keys)}
	return store.KeySet{Version: s.set.Version, Keys: cloneKeys(keys)}, nil
}

// hold makes the next n GetKeySet calls wait for each other.
func (s *fakeStore) hold(n int) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.gate, s.gateN = make(chan struct{}), n
}

func (s *fakeStore) counts() (swaps, conflicts int) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.swaps, s.conflicts
}

// edit changes the stored set in place (a tampering or foreign writer).
func (s *fakeStore) edit(f func(keys []store.Key) []store.Key) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.set = store.KeySet{Version: s.set.Version + 1, Keys: f(cloneKeys(s.set.Keys))}
}

// clock is an injected, manually advanced clock.
type clock struct {
	mu sync.Mutex
	t  time.Time
}

func newClock() *clock {
	return &clock{t: time.Date(2030, 1, 1, 0, 0, 0, 0, time.UTC)}
}

func (c *clock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.t
}

func (c *clock) Add(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.t = c.t.Add(d)
}

func (c *clock) Set(t time.Time) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.t = t
}
