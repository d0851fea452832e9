package verifier

import (
	"container/heap"
	"context"
	"errors"
	"fmt"
	"sync"
	"time"
)

// ReplayCache records the identifiers of DPoP proofs already used, so that
// each proof is accepted once (RFC 9449 §11.1). The Verifier keeps one in
// memory unless WithDPoPReplayCache supplies another, e.g. one shared by
// the replicas of a resource server.
type ReplayCache interface {
	// MarkUsed records key as used until expiresAt, atomically: of any
	// number of concurrent calls with the same key, exactly one returns
	// nil; the others, and every later call before expiresAt, return an
	// error wrapping ErrDPoPReplay. Any other error means the record could
	// not be consulted, and the request is answered 503.
	MarkUsed(ctx context.Context, key string, expiresAt time.Time) error
}

// memoryReplay is the default ReplayCache: a map bounded in size, whose
// entries are swept by expiry (a min-heap keeps the next to expire first).
type memoryReplay struct {
	now func() time.Time
	max int

	mu      sync.Mutex
	entries map[string]time.Time
	order   expiryHeap
}

var _ ReplayCache = (*memoryReplay)(nil)

func newMemoryReplay(now func() time.Time, max int) *memoryReplay {
	return &memoryReplay{now: now, max: max, entries: map[string]time.Time{}}
}

// errReplayFull means the in-memory cache holds max proofs that are all
// still inside their window.
var errReplayFull = errors.New("verifier: DPoP replay cache is full")

// MarkUsed implements ReplayCache.
func (m *memoryReplay) MarkUsed(_ context.Context, key string, expiresAt time.Time) error {
	now := m.now()
	m.mu.Lock()
	defer m.mu.Unlock()
	for len(m.order) > 0 && !m.order[0].exp.After(now) {
		e := heap.Pop(&m.order).(expiry)
		if exp, ok := m.entries[e.key]; ok && exp.Equal(e.exp) {
			delete(m.entries, e.key)
		}
	}
	if exp, ok := m.entries[key]; ok && exp.After(now) {
		return fmt.Errorf("%w (until %s)", ErrDPoPReplay, exp.Format(time.RFC3339))
	}
	if len(m.entries) >= m.max {
		return errReplayFull
	}
	m.entries[key] = expiresAt
	heap.Push(&m.order, expiry{key: key, exp: expiresAt})
	return nil
}

// expiry is one entry of the sweep order.
type expiry struct {
	key string
	exp time.Time
}

// expiryHeap is a container/heap of expiries, earliest first.
type expiryHeap []expiry

func (h expiryHeap) Len() int           { return len(h) }
func (h expiryHeap) Less(i, j int) bool { return h[i].exp.Before(h[j].exp) }
func (h expiryHeap) Swap(i, j int)      { h[i], h[j] = h[j], h[i] }
func (h *expiryHeap) Push(x any)        { *h = append(*h, x.(expiry)) }
func (h *expiryHeap) Pop() any {
	old := *h
	e := old[len(old)-1]
	*h = old[:len(old)-1]
	return e
}
