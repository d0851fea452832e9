// Package bolt is the embedded storage backend: one bbolt file holds every
// record of a single-node authd.
//
// Each aggregate has its own bucket and records are JSON-encoded. Every
// read-modify-write (UpdateClient, RotateRefresh, SwapKeySet, Deny …) runs
// inside one bbolt write transaction, and bbolt admits one writer at a
// time, which is what makes them atomic. Hot writes share their
// transaction and its commit with the concurrent ones (the group commit of
// commit.go); each still runs whole, one after the other. Families and
// denylist entries carry an expiry: reads treat expired records as absent,
// and a sweeper goroutine deletes them through an expiry index so the
// file stays bounded.
package bolt

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"sync"
	"time"

	bbolt "go.etcd.io/bbolt"
	berrors "go.etcd.io/bbolt/errors"

	"github.com/authd-dev/authd/store"
)

// ErrLocked is returned by Open when another process (or another Store in
// this one) holds the database file.
var ErrLocked = errors.New("bolt: database file is locked by another process")

// Defaults of Options.
const (
	// DefaultSweepInterval is how often expired records are deleted.
	DefaultSweepInterval = time.Minute
	// DefaultLockTimeout is how long Open waits for the file lock.
	DefaultLockTimeout = time.Second
)

// Bucket names.
var (
	bucketClients   = []byte("clients")
	bucketUsers     = []byte("users")
	bucketUsernames = []byte("usernames") // username → user ID
	bucketKeys      = []byte("keys")
	bucketFamilies  = []byte("families")
	bucketDenials   = []byte("denials") // kind NUL value → denialRecord
	// bucketExpiry indexes TTL records by expiry for the sweeper: the key
	// is the big-endian expiry in Unix nanoseconds, a type byte and the
	// record's key; the value is empty.
	bucketExpiry = []byte("expiry")

	keySet = []byte("set") // the one record of bucketKeys

	allBuckets = [][]byte{bucketClients, bucketUsers, bucketUsernames, bucketKeys, bucketFamilies, bucketDenials, bucketExpiry, bucketFeed, bucketConsents, bucketUserFamilies, bucketDevice, bucketDeviceCodes}
)

// Options configures a Store. The zero value is usable.
type Options struct {
	// Now is the clock that judges the expiry of TTL records (families read
	// by GetFamily, denylist entries, the sweeper). RotateRefresh judges by
	// Rotation.Now instead. Default time.Now.
	Now func() time.Time
	// Logger receives the sweeper's reports. Default: discard.
	Logger *slog.Logger
	// SweepInterval is how often expired families and denials are deleted.
	// Default DefaultSweepInterval; negative disables the sweeper.
	SweepInterval time.Duration
	// LockTimeout is how long Open waits for the file lock. Default
	// DefaultLockTimeout.
	LockTimeout time.Duration
}

// Store is the bbolt backend of store.Store. It is safe for concurrent use.
type Store struct {
	db      *bbolt.DB
	commits *committer // group commit of the hot writes (commit.go)
	now     func() time.Time
	log     *slog.Logger

	// feedWake is closed (and replaced) when the feed gets an entry.
	feedMu   sync.Mutex
	feedWake chan struct{}

	notify hub // Publish/Subscribe (notify.go)

	// polls is the device-flow poll bookkeeping (device.go).
	polls devicePolls

	// rotateRun, when set (tests only), is called at each run of a
	// rotation's batch function.
	rotateRun func()

	stopSweeper context.CancelFunc
	sweeperDone chan struct{}
	closeOnce   sync.Once
	closeErr    error
}

var _ store.Store = (*Store)(nil)

// Open opens (creating if needed) the database at path (0600) with a short lock timeout.
// Its directory is created (0700) if missing. A file held by another
// process fails with ErrLocked after Options.LockTimeout.
func Open(path string, opts Options) (*Store, error) {
	if opts.Now == nil {
		opts.Now = time.Now
	}
	if opts.Logger == nil {
		opts.Logger = slog.New(slog.DiscardHandler)
	}
	if opts.SweepInterval == 0 {
		opts.SweepInterval = DefaultSweepInterval
	}
	if opts.LockTimeout <= 0 {
		opts.LockTimeout = DefaultLockTimeout
	}
	if err := os.MkdirAll(filepath.Dir(path), 0o700); err != nil {
		return nil, fmt.Errorf("bolt: create directory of %s: %w", path, err)
	}
	// The freelist is not written at every commit but rebuilt when the
	// file is opened, and kept as a map: with a million families (a file
	// of ~1.3 GB) writing the array freelist made each rotation's commit
	// several times slower (issue 13; etcd runs bbolt the same way).
	db, err := bbolt.Open(path, 0o600, &bbolt.Options{Timeout: opts.LockTimeout,
		NoFreelistSync: true, FreelistType: bbolt.FreelistMapType})
	if errors.Is(err, berrors.ErrTimeout) {
		return nil, fmt.Errorf("%w: %s (gave up after %s): %w", ErrLocked, path, opts.LockTimeout, err)
	}
	if err != nil {
		return nil, fmt.Errorf("bolt: open %s: %w", path, err)
	}
	err = db.Update(func(tx *bbolt.Tx) error {
		for _, name := range allBuckets {
			if _, err := tx.CreateBucketIfNotExists(name); err != nil {
				return fmt.Errorf("create bucket %s: %w", name, err)
			}
		}
		return nil
	})
	if err != nil {
		_ = db.Close()
		return nil, fmt.Errorf("bolt: initialise %s: %w", path, err)
	}
	s := &Store{db: db, commits: newCommitter(db), now: opts.Now, log: opts.Logger, sweeperDone: make(chan struct{}), feedWake: make(chan struct{})}
	ctx, cancel := context.WithCancel(context.Background())
	s.stopSweeper = cancel
	if opts.SweepInterval > 0 {
		go s.sweepLoop(ctx, opts.SweepInterval)
	} else {
		close(s.sweeperDone)
	}
	return s, nil
}

// Close stops the sweeper and closes the file. It is safe to call more
// than once; every later call on the Store fails with store.ErrUnavailable.
func (s *Store) Close() error {
	s.closeOnce.Do(func() {
		s.stopSweeper()
		<-s.sweeperDone
		s.commits.close() // waiting writers fail; one in flight completes
		if err := s.db.Close(); err != nil {
			s.closeErr = fmt.Errorf("bolt: close: %w", err)
		}
	})
	return s.closeErr
}

// Ping reports whether the database is open.
func (s *Store) Ping(ctx context.Context) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	return wrap("ping", s.db.View(func(*bbolt.Tx) error { return nil }))
}

// wrap names the operation in a bbolt error; a closed database is also
// store.ErrUnavailable.
func wrap(op string, err error) error {
	switch {
	case err == nil:
		return nil
	case errors.Is(err, berrors.ErrDatabaseNotOpen):
		return fmt.Errorf("bolt: %s: %w: %w", op, store.ErrUnavailable, err)
	default:
		return fmt.Errorf("bolt: %s: %w", op, err)
	}
}

// view and update run fn in a read or write transaction after checking
// ctx (bbolt itself does not take one).
func (s *Store) view(ctx context.Context, op string, fn func(*bbolt.Tx) error) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	return wrap(op, s.db.View(fn))
}

// batch is update for hot writes: concurrent calls share one transaction
// and one commit (the group commit of commit.go); fn may run more than
// once, so it resets whatever it captures.
func (s *Store) batch(ctx context.Context, op string, fn func(*bbolt.Tx) error) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	return wrap(op, s.commits.do(ctx, fn))
}

func (s *Store) update(ctx context.Context, op string, fn func(*bbolt.Tx) error) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	return wrap(op, s.db.Update(fn))
}

// get decodes the record at key of bucket into v; false if there is none.
func get(tx *bbolt.Tx, bucket, key []byte, v any) (bool, error) {
	raw := tx.Bucket(bucket).Get(key)
	if raw == nil {
		return false, nil
	}
	if err := json.Unmarshal(raw, v); err != nil {
		return false, fmt.Errorf("decode %s/%s: %w", bucket, key, err)
	}
	return true, nil
}

// put encodes v as the record at key of bucket.
func put(tx *bbolt.Tx, bucket, key []byte, v any) error {
	raw, err := json.Marshal(v)
	if err != nil {
		return fmt.Errorf("encode %s/%s: %w", bucket, key, err)
	}
	return tx.Bucket(bucket).Put(key, raw)
}
