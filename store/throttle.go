package store

import (
	"context"
	"errors"
	"fmt"
	"time"
)

// MaxBucketKeyLen bounds Bucket.Key, so that the throttle's memory counts
// bytes, not entries: callers key on a digest or an address, never on raw
// input.
const MaxBucketKeyLen = 64

// Bucket names one token bucket of the login throttle and its shape. The
// bucket holds Burst attempts and one attempt refills every Every. It is
// kept as a generic cell rate (GCRA): the store holds one instant per key,
// the "theoretical arrival time", and nothing for a full bucket.
type Bucket struct {
	// Key identifies the bucket (1 to MaxBucketKeyLen bytes), e.g.
	// "u:<digest of the username>" or "ip:<address or /64>".
	Key string
	// Every is how long one attempt takes to refill (≥ 1µs).
	Every time.Duration
	// Burst is how many attempts a full bucket allows at once (≥ 1).
	Burst int
}

// ThrottleStore keeps the login throttle's buckets, so that every replica
// sharing the store shares the throttle.
//
// Both methods judge time by the now they are given (callers pass their
// clock), touch every bucket of the call atomically, and leave nothing
// stored for a bucket that is full again: records expire by themselves.
type ThrottleStore interface {
	// TakeAttempt takes one attempt from each of buckets, or, when any of
	// them is empty, from none and returns how long until every one of
	// them could give one (retryAfter > 0). A taken attempt counts at once,
	// before the work it guards: parallel callers can never take more
	// than the burst.
	TakeAttempt(ctx context.Context, now time.Time, buckets []Bucket) (retryAfter time.Duration, err error)
	// ReturnAttempt gives one attempt back to each of buckets (a refund
	// after a successful login, or when the guarded work never ran). A
	// bucket never holds more than its burst.
	ReturnAttempt(ctx context.Context, now time.Time, buckets []Bucket) error
}

// ErrBadBucket is wrapped by the throttle methods for a Bucket outside
// the bounds above.
var ErrBadBucket = errors.New("store: invalid throttle bucket")

// Check reports whether b is within bounds (an error wrapping
// ErrBadBucket if not).
func (b Bucket) Check() error {
	switch {
	case b.Key == "" || len(b.Key) > MaxBucketKeyLen:
		return fmt.Errorf("%w: key of %d bytes", ErrBadBucket, len(b.Key))
	case b.Every < time.Microsecond || b.Burst < 1:
		return fmt.Errorf("%w: %q every %s burst %d", ErrBadBucket, b.Key, b.Every, b.Burst)
	}
	return nil
}

// Take is the GCRA step both backends implement: given the bucket's stored
// theoretical arrival time tat (zero: none, a full bucket), it returns the
// new one after taking an attempt at now, or ok false and how long to
// wait. The bucket is empty when tat is Burst·Every or more ahead of now.
func (b Bucket) Take(tat, now time.Time) (next time.Time, wait time.Duration, ok bool) {
	if tat.Before(now) {
		tat = now
	}
	next = tat.Add(b.Every)
	if over := next.Sub(now) - time.Duration(b.Burst)*b.Every; over > 0 {
		return time.Time{}, over, false
	}
	return next, 0, true
}

// Return is the GCRA refund: the stored time moves back by Every; zero
// means the bucket is full again (delete the record).
func (b Bucket) Return(tat, now time.Time) time.Time {
	next := tat.Add(-b.Every)
	if !next.After(now) {
		return time.Time{}
	}
	return next
}
