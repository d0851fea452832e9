package storetest

import (
	"context"
	"errors"
	"fmt"
	"testing"

	"github.com/authd-dev/authd/store"
)

func testUsers(t *testing.T, newStore func(t *testing.T) store.Store) {
	ctx := context.Background()

	t.Run("CreateGet", func(t *testing.T) {
		s := newStore(t)
		want := NewUser("u1", "alice", Now())
		if err := s.CreateUser(ctx, want); err != nil {
			t.Fatalf("CreateUser: %v", err)
		}
		got, err := s.GetUser(ctx, "u1")
		if err != nil {
			t.Fatalf("GetUser: %v", err)
		}
		mustEqual(t, "GetUser", got, want)
		got, err = s.GetUserByUsername(ctx, "alice")
		if err != nil {
			t.Fatalf("GetUserByUsername: %v", err)
		}
		mustEqual(t, "GetUserByUsername", got, want)
	})

	t.Run("GetMissing", func(t *testing.T) {
		s := newStore(t)
		if err := s.CreateUser(ctx, NewUser("u1", "alice", Now())); err != nil {
			t.Fatalf("CreateUser: %v", err)
		}
		if _, err := s.GetUser(ctx, "nope"); !errors.Is(err, store.ErrNotFound) {
			t.Fatalf("GetUser missing: got %v, want ErrNotFound", err)
		}
		if _, err := s.GetUserByUsername(ctx, "bob"); !errors.Is(err, store.ErrNotFound) {
			t.Fatalf("GetUserByUsername missing: got %v, want ErrNotFound", err)
		}
		// Usernames match exactly: normalising case is the caller's job.
		if _, err := s.GetUserByUsername(ctx, "Alice"); !errors.Is(err, store.ErrNotFound) {
			t.Fatalf("GetUserByUsername with other case: got %v, want ErrNotFound", err)
		}
		// An ID is not a username and a username is not an ID.
		if _, err := s.GetUserByUsername(ctx, "u1"); !errors.Is(err, store.ErrNotFound) {
			t.Fatalf("GetUserByUsername(ID): got %v, want ErrNotFound", err)
		}
		if _, err := s.GetUser(ctx, "alice"); !errors.Is(err, store.ErrNotFound) {
			t.Fatalf("GetUser(username): got %v, want ErrNotFound", err)
		}
	})

	t.Run("CreateDuplicate", func(t *testing.T) {
		s := newStore(t)
		now := Now()
		alice := NewUser("u1", "alice", now)
		if err := s.CreateUser(ctx, alice); err != nil {
			t.Fatalf("CreateUser: %v", err)
		}
		if err := s.CreateUser(ctx, NewUser("u1", "bob", now)); !errors.Is(err, store.ErrExists) {
			t.Fatalf("CreateUser with taken ID: got %v, want ErrExists", err)
		}
		if _, err := s.GetUserByUsername(ctx, "bob"); !errors.Is(err, store.ErrNotFound) {
			t.Fatalf("rejected user's username was indexed: GetUserByUsername got %v", err)
		}
		if err := s.CreateUser(ctx, NewUser("u2", "alice", now)); !errors.Is(err, store.ErrExists) {
			t.Fatalf("CreateUser with taken username: got %v, want ErrExists", err)
		}
		if _, err := s.GetUser(ctx, "u2"); !errors.Is(err, store.ErrNotFound) {
			t.Fatalf("rejected user was stored: GetUser got %v", err)
		}
		got, err := s.GetUserByUsername(ctx, "alice")
		if err != nil {
			t.Fatalf("GetUserByUsername: %v", err)
		}
		mustEqual(t, "user after rejected duplicates", got, alice)
	})

	t.Run("CreateConcurrentSameUsername", func(t *testing.T) {
		s := newStore(t)
		now := Now()
		errs := Parallel(8, func(i int) error {
			return s.CreateUser(ctx, NewUser(fmt.Sprint("u", i), "alice", now))
		})
		winner := -1
		for i, err := range errs {
			switch {
			case err == nil:
				if winner >= 0 {
					t.Fatalf("users %d and %d both got username alice", winner, i)
				}
				winner = i
			case !errors.Is(err, store.ErrExists):
				t.Errorf("writer %d: got %v, want nil or ErrExists", i, err)
			}
		}
		if winner < 0 {
			t.Fatal("no concurrent create succeeded")
		}
		got, err := s.GetUserByUsername(ctx, "alice")
		if err != nil {
			t.Fatalf("GetUserByUsername: %v", err)
		}
		if want := fmt.Sprint("u", winner); got.ID != want {
			t.Fatalf("alice is %s, want the winner %s", got.ID, want)
		}
		list, err := s.ListUsers(ctx)
		if err != nil {
			t.Fatalf("ListUsers: %v", err)
		}
		if len(list) != 1 {
			t.Fatalf("ListUsers: %d users, want 1", len(list))
		}
	})

	t.Run("ListOrderedByUsername", func(t *testing.T) {
		s := newStore(t)
		got, err := s.ListUsers(ctx)
		if err != nil {
			t.Fatalf("ListUsers on empty store: %v", err)
		}
		if len(got) != 0 {
			t.Fatalf("ListUsers on empty store: %d users, want 0", len(got))
		}
		now := Now()
		// IDs sort the other way round, so ID order would be visible.
		users := map[string]string{"u4": "alice", "u3": "bob", "u2": "carol", "u1": "bobby"}
		for id, name := range users {
			if err := s.CreateUser(ctx, NewUser(id, name, now)); err != nil {
				t.Fatalf("CreateUser %s: %v", name, err)
			}
		}
		want := []store.User{
			NewUser("u4", "alice", now), NewUser("u3", "bob", now),
			NewUser("u1", "bobby", now), NewUser("u2", "carol", now),
		}
		got, err = s.ListUsers(ctx)
		if err != nil {
			t.Fatalf("ListUsers: %v", err)
		}
		mustEqual(t, "ListUsers", got, want)
	})

	t.Run("Update", func(t *testing.T) {
		s := newStore(t)
		now := Now()
		if err := s.CreateUser(ctx, NewUser("u1", "alice", now)); err != nil {
			t.Fatalf("CreateUser: %v", err)
		}
		want := NewUser("u1", "alice", now)
		want.Email = "alice@new.example"
		want.Roles = []string{"admin", "reader"}
		want.PasswordHash = "$argon2id$new"
		want.NotBefore = now
		want.UpdatedAt = now.Add(1)
		got, err := s.UpdateUser(ctx, "u1", func(u *store.User) error {
			u.Email, u.Roles, u.PasswordHash = want.Email, want.Roles, want.PasswordHash
			u.NotBefore, u.UpdatedAt = want.NotBefore, want.UpdatedAt
			return nil
		})
		if err != nil {
			t.Fatalf("UpdateUser: %v", err)
		}
		mustEqual(t, "UpdateUser result", got, want)
		stored, err := s.GetUserByUsername(ctx, "alice")
		if err != nil {
			t.Fatalf("GetUserByUsername: %v", err)
		}
		mustEqual(t, "user after update", stored, want)
	})

	t.Run("UpdateCannotChangeIDOrUsername", func(t *testing.T) {
		s := newStore(t)
		now := Now()
		if err := s.CreateUser(ctx, NewUser("u1", "alice", now)); err != nil {
			t.Fatalf("CreateUser: %v", err)
		}
		want := NewUser("u1", "alice", now)
		want.Email = "changed@example.com"
		got, err := s.UpdateUser(ctx, "u1", func(u *store.User) error {
			u.ID = "u2"
			u.Username = "mallory"
			u.Email = want.Email
			return nil
		})
		if err != nil {
			t.Fatalf("UpdateUser: %v", err)
		}
		mustEqual(t, "UpdateUser result (ID and username ignored)", got, want)
		stored, err := s.GetUser(ctx, "u1")
		if err != nil {
			t.Fatalf("GetUser: %v", err)
		}
		mustEqual(t, "stored user", stored, want)
		if _, err := s.GetUser(ctx, "u2"); !errors.Is(err, store.ErrNotFound) {
			t.Fatalf("GetUser(new ID): got %v, want ErrNotFound", err)
		}
		if _, err := s.GetUserByUsername(ctx, "mallory"); !errors.Is(err, store.ErrNotFound) {
			t.Fatalf("GetUserByUsername(new username): got %v, want ErrNotFound", err)
		}
		byName, err := s.GetUserByUsername(ctx, "alice")
		if err != nil {
			t.Fatalf("GetUserByUsername(alice): %v", err)
		}
		mustEqual(t, "user by old username", byName, want)
	})

	t.Run("UpdateErrorAborts", func(t *testing.T) {
		s := newStore(t)
		want := NewUser("u1", "alice", Now())
		if err := s.CreateUser(ctx, want); err != nil {
			t.Fatalf("CreateUser: %v", err)
		}
		_, err := s.UpdateUser(ctx, "u1", func(u *store.User) error {
			u.Email = "must-not@be.written"
			u.Roles = nil
			return errUpdater
		})
		if !errors.Is(err, errUpdater) {
			t.Fatalf("UpdateUser with failing update: got %v, want the update's error", err)
		}
		got, err := s.GetUser(ctx, "u1")
		if err != nil {
			t.Fatalf("GetUser: %v", err)
		}
		mustEqual(t, "user after aborted update", got, want)
	})

	t.Run("UpdateMissing", func(t *testing.T) {
		s := newStore(t)
		_, err := s.UpdateUser(ctx, "nope", func(u *store.User) error { return nil })
		if !errors.Is(err, store.ErrNotFound) {
			t.Fatalf("UpdateUser missing: got %v, want ErrNotFound", err)
		}
	})

	t.Run("UpdateConcurrentIsAtomic", func(t *testing.T) {
		s := newStore(t)
		u := NewUser("u1", "alice", Now())
		u.Roles = nil
		if err := s.CreateUser(ctx, u); err != nil {
			t.Fatalf("CreateUser: %v", err)
		}
		const n = 16
		errs := Parallel(n, func(i int) error {
			_, err := s.UpdateUser(ctx, "u1", func(u *store.User) error {
				u.Roles = append(u.Roles, fmt.Sprint("role-", i))
				return nil
			})
			return err
		})
		for i, err := range errs {
			if err != nil {
				t.Fatalf("UpdateUser %d: %v", i, err)
			}
		}
		got, err := s.GetUser(ctx, "u1")
		if err != nil {
			t.Fatalf("GetUser: %v", err)
		}
		seen := map[string]bool{}
		for _, r := range got.Roles {
			seen[r] = true
		}
		if len(got.Roles) != n || len(seen) != n {
			t.Fatalf("after %d concurrent appends the user has %d roles (%d distinct): %v; an update was lost",
				n, len(got.Roles), len(seen), got.Roles)
		}
	})

	t.Run("DeleteFreesUsername", func(t *testing.T) {
		s := newStore(t)
		now := Now()
		if err := s.CreateUser(ctx, NewUser("u1", "alice", now)); err != nil {
			t.Fatalf("CreateUser: %v", err)
		}
		if err := s.CreateUser(ctx, NewUser("u2", "bob", now)); err != nil {
			t.Fatalf("CreateUser: %v", err)
		}
		if err := s.DeleteUser(ctx, "u1"); err != nil {
			t.Fatalf("DeleteUser: %v", err)
		}
		if _, err := s.GetUser(ctx, "u1"); !errors.Is(err, store.ErrNotFound) {
			t.Fatalf("GetUser deleted: got %v, want ErrNotFound", err)
		}
		if _, err := s.GetUserByUsername(ctx, "alice"); !errors.Is(err, store.ErrNotFound) {
			t.Fatalf("GetUserByUsername deleted: got %v, want ErrNotFound", err)
		}
		if err := s.DeleteUser(ctx, "u1"); !errors.Is(err, store.ErrNotFound) {
			t.Fatalf("DeleteUser twice: got %v, want ErrNotFound", err)
		}
		list, err := s.ListUsers(ctx)
		if err != nil {
			t.Fatalf("ListUsers: %v", err)
		}
		mustEqual(t, "ListUsers after delete", list, []store.User{NewUser("u2", "bob", now)})

		again := NewUser("u3", "alice", now)
		if err := s.CreateUser(ctx, again); err != nil {
			t.Fatalf("CreateUser with a deleted user's username: %v", err)
		}
		got, err := s.GetUserByUsername(ctx, "alice")
		if err != nil {
			t.Fatalf("GetUserByUsername: %v", err)
		}
		mustEqual(t, "new alice", got, again)
	})
}
