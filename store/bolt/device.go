package bolt

import (
	"context"
	"fmt"
	"sync"
	"time"

	bbolt "go.etcd.io/bbolt"

	"github.com/authd-dev/authd/store"
)

// Device authorization buckets (RFC 8628): bucketDevice holds the records
// by device-code digest (JSON store.DeviceAuth), bucketDeviceCodes the
// unique index normalised user code → digest. Both entries leave together,
// by the sweeper at DeviceAuth.PurgeAt or when a poll consumes the record.
var (
	bucketDevice      = []byte("device")
	bucketDeviceCodes = []byte("device-codes")
)

// expDevice marks device authorizations in the expiry index.
const expDevice byte = 'v'

var _ store.DeviceAuthStore = (*Store)(nil)

// readDevice returns the live record of digest (false when absent or past
// its purge time at now).
func readDevice(tx *bbolt.Tx, digest string, now time.Time) (store.DeviceAuth, bool, error) {
	var a store.DeviceAuth
	ok, err := get(tx, bucketDevice, []byte(digest), &a)
	if err != nil || !ok || expired(a.PurgeAt(), now) {
		return store.DeviceAuth{}, false, err
	}
	return a, true, nil
}

// deviceByCode follows the user-code index to the live record.
func deviceByCode(tx *bbolt.Tx, userCode string, now time.Time) (store.DeviceAuth, bool, error) {
	digest := tx.Bucket(bucketDeviceCodes).Get([]byte(userCode))
	if digest == nil {
		return store.DeviceAuth{}, false, nil
	}
	return readDevice(tx, string(digest), now)
}

// removeDevice deletes a record, its index entry and its expiry entry.
func removeDevice(tx *bbolt.Tx, a store.DeviceAuth) error {
	if err := tx.Bucket(bucketDevice).Delete([]byte(a.DeviceDigest)); err != nil {
		return err
	}
	codes := tx.Bucket(bucketDeviceCodes)
	if string(codes.Get([]byte(a.UserCode))) == a.DeviceDigest {
		if err := codes.Delete([]byte(a.UserCode)); err != nil {
			return err
		}
	}
	return reindex(tx, expDevice, []byte(a.DeviceDigest), a.PurgeAt(), time.Time{})
}

// CreateDeviceAuth stores a new record in one write transaction (a group
// commit); store.ErrExists when a live record holds the user code or the
// digest (an expired one is replaced).
func (s *Store) CreateDeviceAuth(ctx context.Context, a store.DeviceAuth) error {
	if a.DeviceDigest == "" || a.UserCode == "" || a.ClientID == "" || a.ExpiresAt.IsZero() {
		return fmt.Errorf("bolt: create device authorization: %w", errEmptyID)
	}
	now := s.now()
	// A taken code is this call's outcome, not an error of the shared
	// transaction: nothing is written.
	var taken bool
	err := s.batch(ctx, "create device authorization", func(tx *bbolt.Tx) error {
		taken = false
		for _, old := range []func() (store.DeviceAuth, bool, error){
			func() (store.DeviceAuth, bool, error) { return deviceByCode(tx, a.UserCode, now) },
			func() (store.DeviceAuth, bool, error) { return readDevice(tx, a.DeviceDigest, now) },
		} {
			if _, ok, err := old(); err != nil {
				return err
			} else if ok {
				taken = true
				return nil
			}
		}
		if err := put(tx, bucketDevice, []byte(a.DeviceDigest), a); err != nil {
			return err
		}
		if err := tx.Bucket(bucketDeviceCodes).Put([]byte(a.UserCode), []byte(a.DeviceDigest)); err != nil {
			return err
		}
		return reindex(tx, expDevice, []byte(a.DeviceDigest), time.Time{}, a.PurgeAt())
	})
	if err == nil && taken {
		err = fmt.Errorf("device authorization: %w", store.ErrExists)
	}
	return err
}

// GetDeviceAuthByUserCode reads the record of a user code (one read
// transaction).
func (s *Store) GetDeviceAuthByUserCode(ctx context.Context, userCode string) (store.DeviceAuth, error) {
	now := s.now()
	var a store.DeviceAuth
	err := s.view(ctx, "get device authorization", func(tx *bbolt.Tx) error {
		var ok bool
		var err error
		a, ok, err = deviceByCode(tx, userCode, now)
		if err == nil && !ok {
			err = fmt.Errorf("device authorization: %w", store.ErrNotFound)
		}
		return err
	})
	if err != nil {
		return store.DeviceAuth{}, err
	}
	return a, nil
}

// DecideDeviceAuth records the user's decision in one write transaction
// (a group commit).
func (s *Store) DecideDeviceAuth(ctx context.Context, userCode string, d store.DeviceDecision) (store.DeviceAuth, error) {
	var a store.DeviceAuth
	// outcome is this call's refusal (ErrNotFound, ErrConflict), decided
	// before anything is written; it is not an error of the shared
	// transaction, which would cost the other writes a rerun.
	var outcome error
	err := s.batch(ctx, "decide device authorization", func(tx *bbolt.Tx) error {
		outcome = nil
		var ok bool
		var err error
		a, ok, err = deviceByCode(tx, userCode, d.Now)
		switch {
		case err != nil:
			return err
		case !ok || !d.Now.Before(a.ExpiresAt):
			outcome = fmt.Errorf("device authorization: %w", store.ErrNotFound)
			return nil
		case a.State != store.DevicePending:
			outcome = fmt.Errorf("device authorization decided already: %w", store.ErrConflict)
			return nil
		}
		a = a.Decide(d)
		return put(tx, bucketDevice, []byte(a.DeviceDigest), a)
	})
	if err == nil {
		err = outcome
	}
	if err != nil {
		return store.DeviceAuth{}, err
	}
	return a, nil
}

// PollDeviceAuth applies a poll. A pending (or denied, or expired) poll
// is one read transaction: the poll time and the grown interval of
// slow_down (RFC 8628 §3.5) are kept in this process's memory (polls),
// not written, because a bbolt write is an fsync and a device polls every
// few seconds. Only this process opens the file (its lock), so the
// memory is as shared as the file; a restart forgets it, and a device's
// next poll is then taken as its first (no slow_down once). An approved
// record is consumed in one write transaction (a group commit) that reads
// it again, so exactly one poll gets it.
func (s *Store) PollDeviceAuth(ctx context.Context, p store.DevicePoll) (store.DevicePollResult, error) {
	var a store.DeviceAuth
	err := s.view(ctx, "poll device authorization", func(tx *bbolt.Tx) error {
		var ok bool
		var err error
		a, ok, err = readDevice(tx, p.DeviceDigest, p.Now)
		if err == nil && (!ok || a.ClientID != p.ClientID) {
			err = fmt.Errorf("device authorization: %w", store.ErrNotFound)
		}
		return err
	})
	if err != nil {
		return store.DevicePollResult{}, err
	}
	res, consume := s.polls.apply(a, p.Now)
	if res.Expired || !consume {
		return res, nil
	}
	gone := false // taken by a concurrent poll (or swept): nothing written
	err = s.batch(ctx, "consume device authorization", func(tx *bbolt.Tx) error {
		gone = false
		cur, ok, err := readDevice(tx, p.DeviceDigest, p.Now)
		switch {
		case err != nil:
			return err
		case !ok || cur.ClientID != p.ClientID || cur.State != store.DeviceApproved:
			gone = true
			return nil
		}
		return removeDevice(tx, cur)
	})
	if err == nil && gone {
		err = fmt.Errorf("device authorization: %w", store.ErrNotFound)
	}
	if err != nil {
		return store.DevicePollResult{}, err
	}
	s.polls.forget(p.DeviceDigest)
	return res, nil
}

// devicePolls is the poll bookkeeping of the device authorizations (see
// PollDeviceAuth): last poll and current interval by digest, until the
// record's purge time.
type devicePolls struct {
	mu sync.Mutex
	m  map[string]devicePollState
}

type devicePollState struct {
	last, purge time.Time
	interval    time.Duration
}

// apply is DeviceAuth.ApplyPoll on the record with its remembered poll
// state, which it updates.
func (d *devicePolls) apply(a store.DeviceAuth, now time.Time) (store.DevicePollResult, bool) {
	d.mu.Lock()
	defer d.mu.Unlock()
	if st, ok := d.m[a.DeviceDigest]; ok {
		a.LastPollAt, a.Interval = st.last, st.interval
	}
	res, consume := a.ApplyPoll(now)
	if !res.Expired {
		if d.m == nil {
			d.m = map[string]devicePollState{}
		}
		d.m[a.DeviceDigest] = devicePollState{last: res.Auth.LastPollAt, interval: res.Auth.Interval, purge: a.PurgeAt()}
	}
	return res, consume
}

func (d *devicePolls) forget(digest string) {
	d.mu.Lock()
	delete(d.m, digest)
	d.mu.Unlock()
}

// prune drops the states of records purged by now.
func (d *devicePolls) prune(now time.Time) {
	d.mu.Lock()
	defer d.mu.Unlock()
	for k, st := range d.m {
		if !now.Before(st.purge) {
			delete(d.m, k)
		}
	}
}

// sweepDevice deletes a device authorization past its purge time.
func sweepDevice(tx *bbolt.Tx, key []byte, now time.Time) (bool, error) {
	var a store.DeviceAuth
	ok, err := get(tx, bucketDevice, key, &a)
	if err != nil || !ok || !expired(a.PurgeAt(), now) {
		return false, err
	}
	if err := tx.Bucket(bucketDevice).Delete(key); err != nil {
		return false, err
	}
	codes := tx.Bucket(bucketDeviceCodes)
	if string(codes.Get([]byte(a.UserCode))) == a.DeviceDigest {
		return true, codes.Delete([]byte(a.UserCode))
	}
	return true, nil
}
