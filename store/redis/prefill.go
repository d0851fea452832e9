package redis

import (
	"context"
	"errors"
	"fmt"

	"github.com/authd-dev/authd/store"
)

// prefillPipeline is how many SETs one Prefill round trip carries.
const prefillPipeline = 1000

// Prefill bulk-loads families and denylist entries (benchmarks of the
// cost of a full store, issue 13) with pipelined SETs instead of one
// script per record. The records are the ones CreateFamily and Deny
// write, expiring (PX) at the same instants by the store's clock; the
// user→family index and the revocation feed are not written (only other
// paths read them). Existing keys are overwritten. It is not part of
// store.Store.
func (s *Store) Prefill(ctx context.Context, families []store.Family, denials []store.Denial) error {
	now := s.now()
	pipe := s.rdb.Pipeline()
	flush := func() error {
		if pipe.Len() == 0 {
			return nil
		}
		cmds, err := pipe.Exec(ctx)
		for _, c := range cmds {
			if c.Err() != nil {
				return s.fail("prefill", c.Err())
			}
		}
		if err != nil {
			return s.fail("prefill", err)
		}
		return nil
	}
	for _, f := range families {
		rec, err := encodeFamily(f)
		if err != nil {
			return fmt.Errorf("redis prefill family %q: %w", f.ID, err)
		}
		ttl := ttlMillis(f.LiveUntil(), now)
		if ttl <= 0 {
			continue
		}
		pipe.Do(ctx, "SET", s.familyKey(f.ID), rec, "PX", ttl)
		if pipe.Len() >= prefillPipeline {
			if err := flush(); err != nil {
				return err
			}
		}
	}
	for _, d := range denials {
		if d.Value == "" || d.ExpiresAt.IsZero() || d.At.Before(minNano) || d.At.After(maxNano) {
			return errors.New("redis prefill: denial without Value or ExpiresAt, or At out of range")
		}
		ttl := ttlMillis(d.ExpiresAt, now)
		if ttl <= 0 {
			continue
		}
		val := fmt.Sprintf("%d:%d", d.At.UnixNano(), ceilMicros(d.ExpiresAt))
		pipe.Do(ctx, "SET", s.denyKey(d.Kind, d.Value), val, "PX", ttl)
		if pipe.Len() >= prefillPipeline {
			if err := flush(); err != nil {
				return err
			}
		}
	}
	return flush()
}
