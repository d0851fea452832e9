package verifier

import (
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

// expiryHeap is a binary min-heap of expiries by exp, earliest first. It
// is container/heap's algorithm on a typed slice: the interface that
// container/heap takes would box every expiry pushed and popped, two
// allocations per DPoP request.
type expiryHeap []expiry

// push adds e (container/heap.Push).
func (h *expiryHeap) push(e expiry) {
	*h = append(*h, e)
	s := *h
	for i := len(s) - 1; i > 0; {
		parent := (i - 1) / 2
		if s[parent].exp <= s[i].exp {
			break
		}
		s[parent], s[i] = s[i], s[parent]
		i = parent
	}
}

// pop removes and returns the earliest expiry (container/heap.Pop); h
// must not be empty.
func (h *expiryHeap) pop() expiry {
	s := *h
	top := s[0]
	last := len(s) - 1
	s[0] = s[last]
	s[last] = expiry{} // let the key be collected
	s = s[:last]
	for i := 0; ; {
		smallest, l, r := i, 2*i+1, 2*i+2
		if l < len(s) && s[l].exp < s[smallest].exp {
			smallest = l
		}
		if r < len(s) && s[r].exp < s[smallest].exp {
			smallest = r
		}
		if smallest == i {
			break
		}
		s[i], s[smallest] = s[smallest], s[i]
		i = smallest
	}
	*h = s
	return top
}
