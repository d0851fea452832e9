package bolt

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"

	bbolt "go.etcd.io/bbolt"

	"github.com/authd-dev/authd/store"
)

// errEmptyID rejects records without a key.
var errEmptyID = errors.New("bolt: empty ID")

// CreateClient stores a new client; store.ErrExists if the ID is taken.
func (s *Store) CreateClient(ctx context.Context, c store.Client) error {
	if c.ID == "" {
		return errEmptyID
	}
	return s.update(ctx, "create client", func(tx *bbolt.Tx) error {
		b := tx.Bucket(bucketClients)
		if b.Get([]byte(c.ID)) != nil {
			return fmt.Errorf("client %q: %w", c.ID, store.ErrExists)
		}
		return put(tx, bucketClients, []byte(c.ID), c)
	})
}

// GetClient returns the client; store.ErrNotFound if there is none.
func (s *Store) GetClient(ctx context.Context, id string) (store.Client, error) {
	var c store.Client
	err := s.view(ctx, "get client", func(tx *bbolt.Tx) error {
		ok, err := get(tx, bucketClients, []byte(id), &c)
		if err == nil && !ok {
			err = fmt.Errorf("client %q: %w", id, store.ErrNotFound)
		}
		return err
	})
	if err != nil {
		return store.Client{}, err
	}
	return c, nil
}

// ListClients returns every client, ordered by ID.
func (s *Store) ListClients(ctx context.Context) ([]store.Client, error) {
	out := []store.Client{}
	err := s.view(ctx, "list clients", func(tx *bbolt.Tx) error {
		return tx.Bucket(bucketClients).ForEach(func(k, v []byte) error {
			var c store.Client
			if err := json.Unmarshal(v, &c); err != nil {
				return fmt.Errorf("decode client %q: %w", k, err)
			}
			out = append(out, c)
			return nil
		})
	})
	if err != nil {
		return nil, err
	}
	return out, nil
}

// UpdateClient applies update to the stored client inside one write
// transaction. An error from update aborts without writing and is
// returned unchanged; a changed ID is ignored. update runs while the
// database's single write lock is held: it must be quick and must not call
// the Store.
func (s *Store) UpdateClient(ctx context.Context, id string, update func(*store.Client) error) (store.Client, error) {
	var c store.Client
	var updateErr error
	err := s.update(ctx, "update client", func(tx *bbolt.Tx) error {
		c = store.Client{}
		ok, err := get(tx, bucketClients, []byte(id), &c)
		if err != nil {
			return err
		}
		if !ok {
			return fmt.Errorf("client %q: %w", id, store.ErrNotFound)
		}
		if updateErr = update(&c); updateErr != nil {
			return updateErr
		}
		c.ID = id
		return put(tx, bucketClients, []byte(id), c)
	})
	if updateErr != nil {
		return store.Client{}, updateErr
	}
	if err != nil {
		return store.Client{}, err
	}
	return c, nil
}

// DeleteClient removes the client; store.ErrNotFound if there is none.
func (s *Store) DeleteClient(ctx context.Context, id string) error {
	return s.update(ctx, "delete client", func(tx *bbolt.Tx) error {
		b := tx.Bucket(bucketClients)
		if b.Get([]byte(id)) == nil {
			return fmt.Errorf("client %q: %w", id, store.ErrNotFound)
		}
		return b.Delete([]byte(id))
	})
}
