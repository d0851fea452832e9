// Package admin holds the use cases of the admin API: what each call does
// beyond one domain service's method — the order of the steps, and the
// revocation that must follow a deletion or a password change. The HTTP
// layer (package server) decodes a request, calls one method here and
// renders the answer; validation lives in the domain packages (clients,
// users, keys) and their errors are *oauth.Error values.
package admin

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/authd-dev/authd/clients"
	"github.com/authd-dev/authd/keys"
	"github.com/authd-dev/authd/oauth"
	"github.com/authd-dev/authd/store"
	"github.com/authd-dev/authd/users"
)

// Clients is the client registry.
type Clients interface {
	Create(ctx context.Context, m clients.Metadata) (clients.Registered, error)
	Get(ctx context.Context, id string) (clients.Metadata, error)
	List(ctx context.Context) ([]clients.Metadata, error)
	Replace(ctx context.Context, id string, m clients.Metadata) (clients.Registered, error)
	Delete(ctx context.Context, id string) error
	ResetSecret(ctx context.Context, id string) (clients.Registered, error)
}

// Users is the user service.
type Users interface {
	Create(ctx context.Context, req users.CreateRequest) (users.View, error)
	Get(ctx context.Context, id string) (users.View, error)
	List(ctx context.Context) ([]users.View, error)
	Patch(ctx context.Context, id string, req users.PatchRequest) (users.View, error)
	Delete(ctx context.Context, id string) error
	Revoke(ctx context.Context, id string) (time.Time, error)
}

// Keys is the signing-key manager.
type Keys interface {
	List() []keys.Info
	Rotate(ctx context.Context, alg string) (keys.Info, error)
	Delete(ctx context.Context, kid string) error
}

// Revoker ends access tokens by subject or client (denylist watermarks).
type Revoker interface {
	RevokeSubject(ctx context.Context, sub string, at time.Time) error
	RevokeClient(ctx context.Context, clientID string, at time.Time) error
}

// Config configures a Service. Every field is required: a deletion that
// cannot revoke is not offered.
type Config struct {
	Clients Clients
	Users   Users
	Keys    Keys
	Revoker Revoker
	// Consents and Families serve the consent calls (consents.go).
	Consents Consents
	Families FamilyEnder
	Now      func() time.Time
	// Sessions and Logout serve the user sessions calls (sessions.go).
	Sessions Sessions
	Logout   SessionEnder
}

// Service runs the admin use cases.
type Service struct{ cfg Config }

// New validates cfg and returns the Service.
func New(cfg Config) (*Service, error) {
	if cfg.Clients == nil || cfg.Users == nil || cfg.Keys == nil || cfg.Revoker == nil || cfg.Consents == nil || cfg.Families == nil || cfg.Now == nil {
		return nil, errors.New("admin: Clients, Users, Keys, Revoker, Consents, Families and Now are required")
	}
	return &Service{cfg: cfg}, nil
}

// CreateClient registers a client (RFC 7591 §3.1 metadata).
func (s *Service) CreateClient(ctx context.Context, m clients.Metadata) (clients.Registered, error) {
	return s.cfg.Clients.Create(ctx, m)
}

// GetClient returns a client's metadata.
func (s *Service) GetClient(ctx context.Context, id string) (clients.Metadata, error) {
	return s.cfg.Clients.Get(ctx, id)
}

// ListClients returns every client (an empty list, never nil).
func (s *Service) ListClients(ctx context.Context) ([]clients.Metadata, error) {
	list, err := s.cfg.Clients.List(ctx)
	if list == nil && err == nil {
		list = []clients.Metadata{}
	}
	return list, err
}

// ReplaceClient replaces a client's metadata (RFC 7592 §2.2).
func (s *Service) ReplaceClient(ctx context.Context, id string, m clients.Metadata) (clients.Registered, error) {
	return s.cfg.Clients.Replace(ctx, id, m)
}

// ResetClientSecret gives a client a new secret.
func (s *Service) ResetClientSecret(ctx context.Context, id string) (clients.Registered, error) {
	return s.cfg.Clients.ResetSecret(ctx, id)
}

// DeleteClient ends the client's access tokens, then removes the client
// (its refresh tokens stop working with it). Revoking first means a
// failure leaves a client that still exists, so the operator's retry does
// the whole job again; a retry after success is 404.
func (s *Service) DeleteClient(ctx context.Context, id string) error {
	if _, err := s.cfg.Clients.Get(ctx, id); err != nil {
		return err
	}
	if err := s.cfg.Revoker.RevokeClient(ctx, id, s.cfg.Now()); err != nil {
		return fmt.Errorf("admin: revoke tokens of client %q: %w", id, err)
	}
	return ignoreNotFound(s.cfg.Clients.Delete(ctx, id))
}

// CreateUser creates a user.
func (s *Service) CreateUser(ctx context.Context, req users.CreateRequest) (users.View, error) {
	return s.cfg.Users.Create(ctx, req)
}

// GetUser returns a user.
func (s *Service) GetUser(ctx context.Context, id string) (users.View, error) {
	return s.cfg.Users.Get(ctx, id)
}

// ListUsers returns every user (an empty list, never nil).
func (s *Service) ListUsers(ctx context.Context) ([]users.View, error) {
	list, err := s.cfg.Users.List(ctx)
	if list == nil && err == nil {
		list = []users.View{}
	}
	return list, err
}

// PatchUser changes a user; a password change also ends the user's
// earlier tokens (the users service sets NotBefore, which ends refresh
// tokens; the watermark here ends access tokens). A failed revocation
// fails the call, and repeating it repeats both steps.
func (s *Service) PatchUser(ctx context.Context, id string, req users.PatchRequest) (users.View, error) {
	v, err := s.cfg.Users.Patch(ctx, id, req)
	if err != nil {
		return users.View{}, err
	}
	if req.Password != nil {
		if err := s.cfg.Revoker.RevokeSubject(ctx, id, s.cfg.Now()); err != nil {
			return users.View{}, fmt.Errorf("admin: revoke tokens of user %q: %w", id, err)
		}
	}
	return v, nil
}

// DeleteUser deletes the user; the users service revokes the user's
// tokens first, and the user's consents go before the record (consents.go),
// so a failure leaves the user and the retry completes.
func (s *Service) DeleteUser(ctx context.Context, id string) error {
	if err := s.forgetConsents(ctx, id); err != nil {
		return err
	}
	return s.cfg.Users.Delete(ctx, id)
}

// RevokeUser ends every login of the user and every access token issued
// to the user until now (the users service does both).
func (s *Service) RevokeUser(ctx context.Context, id string) error {
	_, err := s.cfg.Users.Revoke(ctx, id)
	return err
}

// ListKeys returns the signing keys (an empty list, never nil).
func (s *Service) ListKeys() []keys.Info {
	if list := s.cfg.Keys.List(); list != nil {
		return list
	}
	return []keys.Info{}
}

// RotateKey makes the next key of alg sign now.
func (s *Service) RotateKey(ctx context.Context, alg string) (keys.Info, error) {
	info, err := s.cfg.Keys.Rotate(ctx, alg)
	return info, keyError(err)
}

// DeleteKey withdraws a key from the set.
func (s *Service) DeleteKey(ctx context.Context, kid string) error {
	return keyError(s.cfg.Keys.Delete(ctx, kid))
}

// keyError gives the keys package's sentinels their admin API codes.
func keyError(err error) error {
	switch {
	case errors.Is(err, keys.ErrKeyNotFound):
		return oauth.New(oauth.NotFound, "no such key")
	case errors.Is(err, keys.ErrUnsupportedAlg):
		return oauth.New(oauth.InvalidRequest, "alg must be one of %s", strings.Join(keys.Algorithms(), ", "))
	}
	return err
}

// ignoreNotFound: a record deleted by a concurrent call is deleted.
func ignoreNotFound(err error) error {
	if e := oauth.As(err); e != nil && e.Code == oauth.NotFound || errors.Is(err, store.ErrNotFound) {
		return nil
	}
	return err
}
