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
// Expiries are kept as Unix nanoseconds: comparing two int64s is all the
// sweep needs, and the heap holds no pointers for them.
type memoryReplay struct {
	now func() time.Time
	max int

	mu      sync.Mutex
	entries map[string]int64 // key → expiry, Unix nanoseconds
	order   expiryHeap
}

var _ ReplayCache = (*memoryReplay)(nil)

func newMemoryReplay(now func() time.Time, max int) *memoryReplay {
	return &memoryReplay{now: now, max: max, entries: map[string]int64{}}
}

// errReplayFull means the in-memory cache holds max proofs that are all
// still inside their window.
var errReplayFull = errors.New("verifier: DPoP replay cache is full")

// MarkUsed implements ReplayCache.
func (m *memoryReplay) MarkUsed(_ context.Context, key string, expiresAt time.Time) error {
	now := m.now().UnixNano()
	exp := expiresAt.UnixNano()
	m.mu.Lock()
	defer m.mu.Unlock()
	for len(m.order) > 0 && m.order[0].exp <= now {
		e := m.order.pop()
		if x, ok := m.entries[e.key]; ok && x == e.exp {
			delete(m.entries, e.key)
		}
	}
	if x, ok := m.entries[key]; ok && x > now {
		return fmt.Errorf("%w (until %s)", ErrDPoPReplay, time.Unix(0, x).Format(time.RFC3339))
	}
	if len(m.entries) >= m.max {
		return errReplayFull
	}
	m.entries[key] = exp
	m.order.push(expiry{key: key, exp: exp})
	return nil
}

// expiry is one entry of the sweep order.
type expiry struct {
	key string
	exp int64 // Unix nanoseconds
}

// expiryHeap is a container/heap of expiries, earliest first; push and
// pop are its typed entry points. (Boxing an expiry through the heap
// interface costs two small allocations a proof; a hand-written heap
// saved them but nothing measurable in time: BenchmarkDPoPRatio.)
type expiryHeap []expiry

func (h expiryHeap) Len() int           { return len(h) }
func (h expiryHeap) Less(i, j int) bool { return h[i].exp < h[j].exp }
func (h expiryHeap) Swap(i, j int)      { h[i], h[j] = h[j], h[i] }
func (h *expiryHeap) Push(x any)        { *h = append(*h, x.(expiry)) }
func (h *expiryHeap) Pop() any {
	old := *h
	e := old[len(old)-1]
	old[len(old)-1] = expiry{} // let the key be collected
	*h = old[:len(old)-1]
	return e
}

// push adds e.
func (h *expiryHeap) push(e expiry) { heap.Push(h, e) }

// pop removes and returns the earliest expiry; h must not be empty.
func (h *expiryHeap) pop() expiry { return heap.Pop(h).(expiry) }
