// Package users keeps resource owners: their records, argon2id password
// hashes, authentication with equal work for unknown users, and a throttle
// for failed logins.
package users

import (
	"context"
	"crypto/rand"
	"encoding/base64"
	"errors"

	"log/slog"
	"slices"
	"strings"
	"time"
	"unicode"
	"unicode/utf8"

	"github.com/authd-dev/authd/oauth"
	"github.com/authd-dev/authd/store"
)

// Store is the part of the store this package uses.
type Store interface {
	CreateUser(ctx context.Context, u store.User) error
	GetUser(ctx context.Context, id string) (store.User, error)
	GetUserByUsername(ctx context.Context, username string) (store.User, error)
	ListUsers(ctx context.Context) ([]store.User, error)
	UpdateUser(ctx context.Context, id string, update func(*store.User) error) (store.User, error)
	DeleteUser(ctx context.Context, id string) error
}

// ErrInvalidCredentials: wrong username or password (never says which).
var ErrInvalidCredentials = errors.New("users: invalid credentials")

// Limits on user input.
const (
	MaxUsernameLen = 64
	MinPasswordLen = 8
	MaxPasswordLen = 1024
)

// Config configures a Service.
type Config struct {
	Store  Store
	Hasher *Argon2id // nil: DefaultArgon2id()
	Now    func() time.Time
	Logger *slog.Logger
}

// Service manages users.
type Service struct {
	cfg   Config
	dummy string // a hash verified for unknown usernames, so timing is equal
}

// New validates cfg and returns a Service.
func New(cfg Config) (*Service, error) {
	if cfg.Store == nil {
		return nil, errors.New("users: Store is required")
	}
	if cfg.Hasher == nil {
		cfg.Hasher = DefaultArgon2id()
	}
	if cfg.Hasher.Time == 0 || cfg.Hasher.MemoryKiB == 0 || cfg.Hasher.Threads == 0 || cfg.Hasher.KeyLen < 16 || cfg.Hasher.SaltLen < 8 {
		return nil, errors.New("users: invalid argon2id parameters")
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.Default()
	}
	dummy, err := cfg.Hasher.Hash(newID())
	if err != nil {
		return nil, err
	}
	return &Service{cfg: cfg, dummy: dummy}, nil
}

// View is a user as the admin API shows it: never a password or its hash.
type View struct {
	ID        string    `json:"id"`
	Username  string    `json:"username"`
	Email     string    `json:"email"`
	Roles     []string  `json:"roles"`
	CreatedAt time.Time `json:"created_at"`
}

func viewOf(u store.User) View {
	roles := u.Roles
	if roles == nil {
		roles = []string{}
	}
	return View{ID: u.ID, Username: u.Username, Email: u.Email, Roles: roles, CreatedAt: u.CreatedAt}
}

// CreateRequest is the body of POST /admin/users.
type CreateRequest struct {
	Username string   `json:"username"`
	Password string   `json:"password"`
	Email    string   `json:"email"`
	Roles    []string `json:"roles"`
}

// PatchRequest is the body of PATCH /admin/users/{id}; nil fields stay.
type PatchRequest struct {
	Email    *string   `json:"email"`
	Roles    *[]string `json:"roles"`
	Password *string   `json:"password"`
}

func newID() string {
	b := make([]byte, 16)
	rand.Read(b)
	return base64.RawURLEncoding.EncodeToString(b)
}

// normalizeUsername trims and lower-cases a username and checks it.
func normalizeUsername(u string) (string, error) {
	u = strings.ToLower(strings.TrimSpace(u))
	if u == "" || utf8.RuneCountInString(u) > MaxUsernameLen || !utf8.ValidString(u) {
		return "", oauth.New(oauth.InvalidRequest, "username must be 1 to %d characters", MaxUsernameLen)
	}
	for _, r := range u {
		if unicode.IsControl(r) || unicode.IsSpace(r) {
			return "", oauth.New(oauth.InvalidRequest, "username must not contain spaces or control characters")
		}
	}
	return u, nil
}

func checkPassword(p string) error {
	if len(p) < MinPasswordLen || len(p) > MaxPasswordLen {
		return oauth.New(oauth.InvalidRequest, "password must be %d to %d bytes", MinPasswordLen, MaxPasswordLen)
	}
	return nil
}

func checkEmail(e string) error {
	if e == "" {
		return nil
	}
	at := strings.IndexByte(e, '@')
	if len(e) > 254 || at < 1 || at == len(e)-1 || strings.ContainsAny(e, " \t\r\n") {
		return oauth.New(oauth.InvalidRequest, "malformed email %q", e)
	}
	return nil
}

// normalizeRoles checks roles (non-empty, no spaces) and deduplicates them.
func normalizeRoles(roles []string) ([]string, error) {
	out := make([]string, 0, len(roles))
	for _, r := range roles {
		if r == "" || strings.ContainsFunc(r, func(c rune) bool { return unicode.IsSpace(c) || unicode.IsControl(c) }) {
			return nil, oauth.New(oauth.InvalidRequest, "malformed role %q", r)
		}
		if !slices.Contains(out, r) {
			out = append(out, r)
		}
	}
	return out, nil
}

// Create adds a user (409 if the username is taken).
func (s *Service) Create(ctx context.Context, req CreateRequest) (View, error) {
	username, err := normalizeUsername(req.Username)
	if err != nil {
		return View{}, err
	}
	if err := checkPassword(req.Password); err != nil {
		return View{}, err
	}
	if err := checkEmail(req.Email); err != nil {
		return View{}, err
	}
	roles, err := normalizeRoles(req.Roles)
	if err != nil {
		return View{}, err
	}
	hash, err := s.cfg.Hasher.Hash(req.Password)
	if err != nil {
		return View{}, err
	}
	now := s.cfg.Now().UTC().Truncate(time.Microsecond)
	u := store.User{ID: newID(), Username: username, Email: req.Email, PasswordHash: hash, Roles: roles, CreatedAt: now, UpdatedAt: now}
	if err := s.cfg.Store.CreateUser(ctx, u); err != nil {
		if errors.Is(err, store.ErrExists) {
			return View{}, oauth.New(oauth.Conflict, "username %q is taken", username)
		}
		return View{}, err
	}
	return viewOf(u), nil
}

func notFound(err error) error {
	if errors.Is(err, store.ErrNotFound) {
		return oauth.New(oauth.NotFound, "no such user")
	}
	return err
}

// Get returns one user.
func (s *Service) Get(ctx context.Context, id string) (View, error) {
	u, err := s.cfg.Store.GetUser(ctx, id)
	if err != nil {
		return View{}, notFound(err)
	}
	return viewOf(u), nil
}

// List returns every user, ordered by username.
func (s *Service) List(ctx context.Context) ([]View, error) {
	list, err := s.cfg.Store.ListUsers(ctx)
	if err != nil {
		return nil, err
	}
	out := make([]View, 0, len(list))
	for _, u := range list {
		out = append(out, viewOf(u))
	}
	return out, nil
}

// Lookup returns the stored record for the token layer.
func (s *Service) Lookup(ctx context.Context, id string) (store.User, error) {
	return s.cfg.Store.GetUser(ctx, id)
}

// Patch changes email, roles or password. A password change also sets
// NotBefore, ending the user's earlier logins.
func (s *Service) Patch(ctx context.Context, id string, req PatchRequest) (View, error) {
	var roles []string
	var hash string
	var err error
	if req.Email != nil {
		if err := checkEmail(*req.Email); err != nil {
			return View{}, err
		}
	}
	if req.Roles != nil {
		if roles, err = normalizeRoles(*req.Roles); err != nil {
			return View{}, err
		}
	}
	if req.Password != nil {
		if err := checkPassword(*req.Password); err != nil {
			return View{}, err
		}
		if hash, err = s.cfg.Hasher.Hash(*req.Password); err != nil {
			return View{}, err
		}
	}
	now := s.cfg.Now().UTC()
	u, err := s.cfg.Store.UpdateUser(ctx, id, func(u *store.User) error {
		if req.Email != nil {
			u.Email = *req.Email
		}
		if req.Roles != nil {
			u.Roles = roles
		}
		if req.Password != nil {
			u.PasswordHash = hash
			u.NotBefore = now
		}
		u.UpdatedAt = now.Truncate(time.Microsecond)
		return nil
	})
	if err != nil {
		return View{}, notFound(err)
	}
	return viewOf(u), nil
}

// Delete removes a user.
func (s *Service) Delete(ctx context.Context, id string) error {
	return notFound(s.cfg.Store.DeleteUser(ctx, id))
}

// Revoke ends every login of the user that started until now and returns
// that instant.
func (s *Service) Revoke(ctx context.Context, id string) (time.Time, error) {
	now := s.cfg.Now().UTC()
	_, err := s.cfg.Store.UpdateUser(ctx, id, func(u *store.User) error {
		u.NotBefore = now
		return nil
	})
	if err != nil {
		return time.Time{}, notFound(err)
	}
	return now, nil
}

// Authenticate checks a username and password. A wrong username and a
// wrong password both cost one argon2id verification and return
// ErrInvalidCredentials. A hash made with outdated parameters is remade.
func (s *Service) Authenticate(ctx context.Context, username, password string) (store.User, error) {
	name, nerr := normalizeUsername(username)
	var u store.User
	var err error
	if nerr == nil {
		u, err = s.cfg.Store.GetUserByUsername(ctx, name)
	}
	if nerr != nil || errors.Is(err, store.ErrNotFound) {
		s.cfg.Hasher.Verify(s.dummy, password) // equal work: no user enumeration by timing
		return store.User{}, ErrInvalidCredentials
	}
	if err != nil {
		return store.User{}, err
	}
	ok, rehash, err := s.cfg.Hasher.Verify(u.PasswordHash, password)
	if err != nil {
		s.cfg.Logger.ErrorContext(ctx, "stored password hash is unreadable", "user_id", u.ID, "err", err)
		return store.User{}, ErrInvalidCredentials
	}
	if !ok {
		return store.User{}, ErrInvalidCredentials
	}
	if rehash {
		if hash, err := s.cfg.Hasher.Hash(password); err == nil {
			if _, err := s.cfg.Store.UpdateUser(ctx, u.ID, func(r *store.User) error {
				if r.PasswordHash == u.PasswordHash { // unchanged since we read it
					r.PasswordHash = hash
				}
				return nil
			}); err != nil {
				s.cfg.Logger.WarnContext(ctx, "rehash password", "user_id", u.ID, "err", err)
			}
		}
	}
	return u, nil
}
