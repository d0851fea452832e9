package bolt

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"time"

	bbolt "go.etcd.io/bbolt"
	berrors "go.etcd.io/bbolt/errors"
)

// Group commit of hot writes (issue 13).
//
// Why not bbolt's DB.Batch: Batch starts a timer (MaxBatchDelay) for each
// new batch and detaches the batch from the DB when the timer fires; the
// detached batch then waits for the writer lock like any Update. While one
// commit (two fsyncs) runs, the timer fires again and again, so several
// small batches form and queue behind it: each commit carries few callers,
// and a lone write still waits out the delay although nothing else runs.
//
// The committer below is a leader/follower queue instead (LevelDB's writer
// queue, MySQL's binlog group commit): a caller that finds no commit in
// flight commits at once, alone; callers that arrive while a commit runs
// queue, and when it ends the first of them leads the next commit, which
// takes every queued caller (up to maxGroup) in one DB.Update. The size of
// a group follows the load by itself.
//
// One refinement, measured (docs/performance.md): with a closed loop of
// callers (request handlers that write again as soon as they answered) a
// pure leader/follower queue splits them into two cohorts for good — the
// callers of one commit come back while the next one, holding the others,
// runs — so each commit carries half of them. A leader therefore regathers:
// when the last commit held more than one call and ended less than its own
// duration ago (or the leader was queued behind it), the leader waits until
// those callers are queued again, for at most half the last commit's
// duration and never more than maxRegather. A write that finds the store
// idle, or follows a lone commit, never waits.
//
// The semantics are those of DB.Batch: a function may run more than once
// (so it must reset whatever it captures), and one that returns an error
// or panics fails alone: the transaction is rolled back, the rest rerun
// without it, and it then runs in a transaction of its own, whose error
// (or panic) is its caller's.

// maxGroup bounds the calls of one commit, so that one failing function
// costs a bounded rerun and one transaction stays short.
const maxGroup = 1000

// committer is the group commit of a Store. The zero value is not usable;
// see newCommitter.
type committer struct {
	db *bbolt.DB

	mu     sync.Mutex
	busy   bool     // a leader is committing; the queue waits for it
	queue  []*entry // callers waiting for the next commit, in arrival order
	closed bool     // close was called: new callers are refused, queued ones fail

	// The regathering of a closed loop (see above): the calls of the last
	// commit, when it ended and how long it took; want and grown wake a
	// leader that waits for want callers; maxWait is maxRegather (tests
	// lengthen it).
	regather bool
	maxWait  time.Duration
	last     int
	lastEnd  time.Time
	lastDur  time.Duration
	want     int
	grown    chan struct{}

	// onCommit, when set (tests only), is called after each grouped
	// DB.Update with the number of functions that ran in it and its error.
	onCommit func(calls int, err error)
}

// maxRegather bounds how long a leader waits for the callers of the last
// commit to come back.
const maxRegather = time.Millisecond

// entry is one caller of do.
type entry struct {
	ctx context.Context
	fn  func(*bbolt.Tx) error
	// done receives the outcome: errLead (lead the next commit), errSolo
	// (run alone), or the commit's result.
	done chan error
}

var (
	// errLead tells a queued caller that it leads the next commit.
	errLead = errors.New("bolt: lead the next group commit")
	// errSolo tells a caller that its function failed in a group and
	// must run in a transaction of its own.
	errSolo = errors.New("bolt: run the function alone")
)

func newCommitter(db *bbolt.DB) *committer {
	return &committer{db: db, regather: true, maxWait: maxRegather}
}

// do runs fn in a write transaction shared with the concurrent callers
// and returns when that transaction has committed (or failed). ctx is
// checked before fn joins a commit: a caller whose ctx ends while it
// queues is dropped from the group without running. After close, do
// fails with bbolt's ErrDatabaseNotOpen (store.ErrUnavailable once
// wrapped).
func (c *committer) do(ctx context.Context, fn func(*bbolt.Tx) error) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	e := &entry{ctx: ctx, fn: fn, done: make(chan error, 1)}
	c.mu.Lock()
	if c.closed {
		c.mu.Unlock()
		return berrors.ErrDatabaseNotOpen
	}
	c.queue = append(c.queue, e)
	if c.want > 0 && len(c.queue) >= c.want {
		close(c.grown)
		c.want = 0
	}
	lead := !c.busy
	c.busy = true
	c.mu.Unlock()

	var err error
	if lead {
		err = c.lead(e, false)
	} else if err = <-e.done; errors.Is(err, errLead) {
		err = c.lead(e, true)
	}
	if errors.Is(err, errSolo) {
		// As bbolt's Batch: alone, in the caller's goroutine, so that a
		// panic is the caller's own.
		err = c.db.Update(fn)
	}
	return err
}

// lead commits the next group (which holds e, the head of the queue),
// hands the lead on to the first caller queued meanwhile, delivers the
// group's outcomes and returns e's own. promoted is true when e queued
// behind a commit (which is why it regathers the callers of that commit
// on top of those queued).
func (c *committer) lead(e *entry, promoted bool) error {
	c.mu.Lock()
	if c.regather && !c.closed && c.last > 1 {
		target := c.last // an idle leader is one of them
		if promoted {
			target += len(c.queue) // those queued were not
		}
		target = min(target, maxGroup)
		if len(c.queue) < target && (promoted || time.Since(c.lastEnd) < c.lastDur) {
			grown := make(chan struct{})
			c.want, c.grown = target, grown
			wait := min(c.lastDur/2, c.maxWait)
			c.mu.Unlock()
			t := time.NewTimer(wait)
			select {
			case <-grown:
			case <-t.C:
			}
			t.Stop()
			c.mu.Lock()
			if c.want > 0 {
				c.want, c.grown = 0, nil
			}
		}
	}
	n := min(len(c.queue), maxGroup)
	group := make([]*entry, 0, n)
	var dropped []*entry
	for _, q := range c.queue[:n] {
		if q.ctx.Err() != nil {
			dropped = append(dropped, q)
		} else {
			group = append(group, q)
		}
	}
	rest := c.queue[n:]
	c.queue = append(c.queue[:0:0], rest...)
	closed := c.closed
	c.mu.Unlock()

	start := time.Now()
	results := c.commit(group, closed)

	c.mu.Lock()
	c.last, c.lastEnd = len(group), time.Now()
	c.lastDur = c.lastEnd.Sub(start)
	if len(c.queue) > 0 {
		c.queue[0].done <- errLead
	} else {
		c.busy = false
	}
	c.mu.Unlock()

	var own error
	for i, q := range group {
		if q == e {
			own = results[i]
		} else {
			q.done <- results[i]
		}
	}
	for _, q := range dropped {
		if q == e {
			own = q.ctx.Err()
		} else {
			q.done <- q.ctx.Err()
		}
	}
	return own
}

// commit runs the group's functions in one DB.Update and returns each
// one's outcome: a function that failed is taken out and the rest rerun
// (its outcome is errSolo); the others share the commit's result.
func (c *committer) commit(group []*entry, closed bool) []error {
	results := make([]error, len(group))
	if closed {
		for i := range results {
			results[i] = berrors.ErrDatabaseNotOpen
		}
		return results
	}
	live := make([]int, len(group)) // indexes into group still in the commit
	for i := range live {
		live[i] = i
	}
	for len(live) > 0 {
		failed := -1
		err := c.db.Update(func(tx *bbolt.Tx) error {
			for j, i := range live {
				if err := safeCall(group[i].fn, tx); err != nil {
					failed = j
					return err
				}
			}
			return nil
		})
		if c.onCommit != nil {
			c.onCommit(len(live), err)
		}
		if failed < 0 {
			for _, i := range live {
				results[i] = err
			}
			break
		}
		var p panicked
		if len(live) == 1 && !errors.As(err, &p) {
			// It ran alone already: its error is its own.
			results[live[0]] = err
			break
		}
		results[live[failed]] = errSolo
		live = append(live[:failed], live[failed+1:]...)
	}
	return results
}

// close refuses new callers and fails the queued ones (the commit in
// flight, if any, completes). The Store then closes the file.
func (c *committer) close() {
	c.mu.Lock()
	c.closed = true
	c.mu.Unlock()
}

// panicked is a panic of a function in a group, as an error.
type panicked struct{ value any }

func (p panicked) Error() string { return fmt.Sprintf("bolt: group commit: panic: %v", p.value) }

// safeCall runs fn, turning a panic into an error (bbolt's safelyCall):
// the panicking function is then rerun alone, where it panics again in
// its caller's goroutine.
func safeCall(fn func(*bbolt.Tx) error, tx *bbolt.Tx) (err error) {
	defer func() {
		if p := recover(); p != nil {
			err = panicked{p}
		}
	}()
	return fn(tx)
}
