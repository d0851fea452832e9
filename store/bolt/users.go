package bolt

import (
	"context"
	"errors"
	"fmt"

	bbolt "go.etcd.io/bbolt"

	"github.com/authd-dev/authd/store"
)

// CreateUser stores a new user and indexes its username; store.ErrExists
// if the ID or the username is taken.
func (s *Store) CreateUser(ctx context.Context, u store.User) error {
	if u.ID == "" || u.Username == "" {
		return errors.New("bolt: a user needs an ID and a username")
	}
	return s.update(ctx, "create user", func(tx *bbolt.Tx) error {
		if tx.Bucket(bucketUsers).Get([]byte(u.ID)) != nil {
			return fmt.Errorf("user %q: %w", u.ID, store.ErrExists)
		}
		names := tx.Bucket(bucketUsernames)
		if names.Get([]byte(u.Username)) != nil {
			return fmt.Errorf("username %q: %w", u.Username, store.ErrExists)
		}
		if err := names.Put([]byte(u.Username), []byte(u.ID)); err != nil {
			return err
		}
		return put(tx, bucketUsers, []byte(u.ID), u)
	})
}

// GetUser returns the user; store.ErrNotFound if there is none.
func (s *Store) GetUser(ctx context.Context, id string) (store.User, error) {
	var u store.User
	err := s.view(ctx, "get user", func(tx *bbolt.Tx) error {
		return getUser(tx, id, &u)
	})
	if err != nil {
		return store.User{}, err
	}
	return u, nil
}

// GetUserByUsername returns the user with exactly this username;
// store.ErrNotFound if there is none.
func (s *Store) GetUserByUsername(ctx context.Context, username string) (store.User, error) {
	var u store.User
	err := s.view(ctx, "get user by username", func(tx *bbolt.Tx) error {
		id := tx.Bucket(bucketUsernames).Get([]byte(username))
		if id == nil {
			return fmt.Errorf("username %q: %w", username, store.ErrNotFound)
		}
		return getUser(tx, string(id), &u)
	})
	if err != nil {
		return store.User{}, err
	}
	return u, nil
}

func getUser(tx *bbolt.Tx, id string, u *store.User) error {
	ok, err := get(tx, bucketUsers, []byte(id), u)
	if err == nil && !ok {
		err = fmt.Errorf("user %q: %w", id, store.ErrNotFound)
	}
	return err
}

// ListUsers returns every user, ordered by username (the order of the
// username index).
func (s *Store) ListUsers(ctx context.Context) ([]store.User, error) {
	out := []store.User{}
	err := s.view(ctx, "list users", func(tx *bbolt.Tx) error {
		return tx.Bucket(bucketUsernames).ForEach(func(_, id []byte) error {
			var u store.User
			if err := getUser(tx, string(id), &u); err != nil {
				return err
			}
			out = append(out, u)
			return nil
		})
	})
	if err != nil {
		return nil, err
	}
	return out, nil
}

// UpdateUser applies update to the stored user inside one write
// transaction. A changed ID or Username is ignored; an error from update
// aborts without writing and is returned unchanged. update must be quick
// and must not call the Store.
func (s *Store) UpdateUser(ctx context.Context, id string, update func(*store.User) error) (store.User, error) {
	var u store.User
	var updateErr error
	err := s.update(ctx, "update user", func(tx *bbolt.Tx) error {
		u = store.User{}
		if err := getUser(tx, id, &u); err != nil {
			return err
		}
		username := u.Username
		if updateErr = update(&u); updateErr != nil {
			return updateErr
		}
		u.ID, u.Username = id, username
		return put(tx, bucketUsers, []byte(id), u)
	})
	if updateErr != nil {
		return store.User{}, updateErr
	}
	if err != nil {
		return store.User{}, err
	}
	return u, nil
}

// DeleteUser removes the user and frees its username; store.ErrNotFound
// if there is none.
func (s *Store) DeleteUser(ctx context.Context, id string) error {
	return s.update(ctx, "delete user", func(tx *bbolt.Tx) error {
		var u store.User
		if err := getUser(tx, id, &u); err != nil {
			return err
		}
		names := tx.Bucket(bucketUsernames)
		if string(names.Get([]byte(u.Username))) == id {
			if err := names.Delete([]byte(u.Username)); err != nil {
				return err
			}
		}
		return tx.Bucket(bucketUsers).Delete([]byte(id))
	})
}
