// Package users keeps resource owners: their records, argon2id password
// hashes, authentication that does the same work for unknown users, a
// login throttle kept in the store, and a memory budget for hashing.
package users

import (
	"context"
	"crypto/rand"
	"encoding/base64"
	"errors"
	"fmt"
	"log/slog"
	"slices"
	"strings"
	"time"
	"unicode"
	"unicode/utf8"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/authd-dev/authd/oauth"
	"github.com/authd-dev/authd/store"
)

// UserStore is the part of the store this package uses.
type UserStore interface {
	CreateUser(ctx context.Context, u store.User) error
	GetUser(ctx context.Context, id string) (store.User, error)
	GetUserByUsername(ctx context.Context, username string) (store.User, error)
	ListUsers(ctx context.Context) ([]store.User, error)
	UpdateUser(ctx context.Context, id string, update func(*store.User) error) (store.User, error)
	DeleteUser(ctx context.Context, id string) error
}

// ErrInvalidCredentials: wrong username or wrong password (never which).
var ErrInvalidCredentials = errors.New("users: invalid credentials")

// Limits on user input.
const (
	MaxUsernameLen = 64 // characters
	MinPasswordLen = 8  // bytes
	MaxPasswordLen = 1024
	MaxEmailLen    = 254
)

// Revoker makes every access token of a subject issued at or before at
// inactive (the tokens service's denylist watermark).
type Revoker interface {
	RevokeSubject(ctx context.Context, sub string, at time.Time) error
}

// Config configures a Service.
type Config struct {
	Store  UserStore
	Hasher *Argon2id // nil: DefaultArgon2id()
	// Throttle limits login attempts (required).
	Throttle *Throttle
	// HashMemoryKiB is the memory budget of concurrent password hashes in
	// KiB (required: at least Hasher.MemoryKiB); each hash weighs its
	// argon2id memory.
	HashMemoryKiB int64
	// HashPerIP is how many password hashes one client address may run
	// at once (required, ≥ 1).
	HashPerIP int
	// Registerer receives the login metrics (nil: not registered).
	Registerer prometheus.Registerer
	Now        func() time.Time
	Logger     *slog.Logger

	// Revoker is required: revoking or deleting a user ends the user's
	// access tokens too, never only the refresh tokens.
	Revoker Revoker

	// CacheTTL keeps user records read by id (Lookup, Get) in memory this
	// long (0: no cache); every write through the Service drops the entry
	// at once. Notifier, if set, carries those invalidations to the other
	// replicas (Run follows them), so that the TTL only bounds staleness
	// while notifications are interrupted.
	CacheTTL time.Duration
	Notifier store.Notifier
}

// Service manages users and checks their passwords.
type Service struct {
	cfg Config
	// dummy is verified for unknown usernames, so that they cost what a
	// wrong password costs.
	dummy string
	// verify is cfg.Hasher.Verify; a field so tests can count calls.
	verify  func(phc, password string) (ok, needsRehash bool, err error)
	slots   *hashSlots
	metrics *loginMetrics
	cache   *userCache // nil without CacheTTL
}

// New validates cfg, fills its defaults and returns a Service.
func New(cfg Config) (*Service, error) {
	if cfg.Store == nil {
		return nil, errors.New("users: Store is required")
	}
	if cfg.Revoker == nil {
		return nil, errors.New("users: Revoker is required")
	}
	if cfg.Hasher == nil {
		cfg.Hasher = DefaultArgon2id()
	}
	h := *cfg.Hasher // our own copy: parameters cannot change under us
	if err := h.validate(); err != nil {
		return nil, err
	}
	cfg.Hasher = &h
	if cfg.Throttle == nil {
		return nil, errors.New("users: Throttle is required")
	}
	if cfg.HashMemoryKiB < int64(h.MemoryKiB) {
		return nil, fmt.Errorf("users: HashMemoryKiB (%d) must hold at least one hash (%d KiB)", cfg.HashMemoryKiB, h.MemoryKiB)
	}
	if cfg.HashPerIP < 1 {
		return nil, fmt.Errorf("users: HashPerIP must be at least 1, got %d", cfg.HashPerIP)
	}
	if cfg.CacheTTL < 0 {
		return nil, errors.New("users: CacheTTL must not be negative")
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
	var cache *userCache
	if cfg.CacheTTL > 0 {
		if cache, err = newUserCache(cfg.Store, cfg.Notifier, cfg.Logger, cfg.CacheTTL, 100_000, cfg.Now); err != nil {
			return nil, err
		}
		cfg.Store = cache
	}
	m := newLoginMetrics(cfg.Registerer)
	return &Service{cfg: cfg, dummy: dummy, verify: cfg.Hasher.Verify, metrics: m, cache: cache,
		slots: newHashSlots(cfg.HashMemoryKiB, cfg.HashPerIP, m.hashMemory)}, nil
}

// Run follows the user invalidations other replicas publish, dropping
// cached records as they change, until ctx ends. Without a cache or a
// Notifier there is nothing to follow and it returns at once.
func (s *Service) Run(ctx context.Context) error {
	if s.cache == nil {
		return nil
	}
	return s.cache.rc.Run(ctx)
}

// View is a user as the admin API shows it: never a password or its hash.
type View struct {
	ID        string    `json:"id"`
	Username  string    `json:"username"`
	Email     string    `json:"email"`
	Roles     []string  `json:"roles"`
	Profile             // profile.go
	CreatedAt time.Time `json:"created_at"`
}

func viewOf(u store.User) View {
	roles := u.Roles
	if roles == nil {
		roles = []string{}
	}
	return View{ID: u.ID, Username: u.Username, Email: u.Email, Roles: roles, Profile: profileView(u.Profile), CreatedAt: u.CreatedAt}
}

// CreateRequest is the body of POST /admin/users.
type CreateRequest struct {
	Username string   `json:"username"`
	Password string   `json:"password"`
	Email    string   `json:"email"`
	Roles    []string `json:"roles"`
	Profile           // optional OIDC profile fields (profile.go)
}

// PatchRequest is the body of PATCH /admin/users/{id}; nil fields stay as
// they are.
type PatchRequest struct {
	Email        *string   `json:"email"`
	Roles        *[]string `json:"roles"`
	Password     *string   `json:"password"`
	ProfilePatch           // profile.go
}

// newID returns 128 random bits, base64url-encoded: the user's "sub".
func newID() string {
	b := make([]byte, 16)
	rand.Read(b) // never fails (crypto/rand, Go ≥ 1.24)
	return base64.RawURLEncoding.EncodeToString(b)
}

// NormalizeUsername is the stored form of a username: trimmed and lower
// case. It must be 1 to 64 characters of valid UTF-8, without control
// characters or whitespace other than a plain space.
func NormalizeUsername(u string) (string, error) {
	valid := utf8.ValidString(u) // before ToLower, which replaces invalid bytes
	u = strings.ToLower(strings.TrimSpace(u))
	if u == "" || !valid || utf8.RuneCountInString(u) > MaxUsernameLen {
		return "", oauth.New(oauth.InvalidRequest, "username must be 1 to %d characters of UTF-8", MaxUsernameLen)
	}
	if strings.ContainsFunc(u, func(r rune) bool { return unicode.IsControl(r) || (unicode.IsSpace(r) && r != ' ') }) {
		return "", oauth.New(oauth.InvalidRequest, "username must not contain control characters or whitespace other than spaces")
	}
	return u, nil
}

func checkPassword(p string) error {
	if len(p) < MinPasswordLen || len(p) > MaxPasswordLen {
		return oauth.New(oauth.InvalidRequest, "password must be %d to %d bytes", MinPasswordLen, MaxPasswordLen)
	}
	return nil
}

// checkEmail is a plausibility check only (something@something); an empty
// address is allowed.
func checkEmail(e string) error {
	if e == "" {
		return nil
	}
	at := strings.LastIndexByte(e, '@')
	if len(e) > MaxEmailLen || at < 1 || at == len(e)-1 || !utf8.ValidString(e) ||
		strings.ContainsFunc(e, func(r rune) bool { return unicode.IsSpace(r) || unicode.IsControl(r) }) {
		return oauth.New(oauth.InvalidRequest, "malformed email %q", e)
	}
	return nil
}

// normalizeRoles checks roles (non-empty, no whitespace or control
// characters: they travel in a space-free JWT claim) and deduplicates them.
func normalizeRoles(roles []string) ([]string, error) {
	out := make([]string, 0, len(roles))
	for _, r := range roles {
		if r == "" || !utf8.ValidString(r) || strings.ContainsFunc(r, func(c rune) bool { return unicode.IsSpace(c) || unicode.IsControl(c) }) {
			return nil, oauth.New(oauth.InvalidRequest, "malformed role %q: roles are non-empty, without spaces", r)
		}
		if !slices.Contains(out, r) {
			out = append(out, r)
		}
	}
	return out, nil
}

func (s *Service) now() time.Time { return s.cfg.Now().UTC().Truncate(time.Microsecond) }

// Create adds a user with a random id. A taken username (compared in lower
// case) is a Conflict; malformed input is invalid_request.
func (s *Service) Create(ctx context.Context, req CreateRequest) (View, error) {
	username, err := NormalizeUsername(req.Username)
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
	profile, err := req.Profile.record()
	if err != nil {
		return View{}, err
	}
	hash, err := s.hash(ctx, req.Password)
	if err != nil {
		return View{}, err
	}
	now := s.now()
	u := store.User{ID: newID(), Username: username, Email: req.Email, PasswordHash: hash, Roles: roles, Profile: profile, CreatedAt: now, UpdatedAt: now}
	if err := s.cfg.Store.CreateUser(ctx, u); err != nil {
		if errors.Is(err, store.ErrExists) {
			return View{}, oauth.New(oauth.Conflict, "username %q is taken", username).WithCause(err)
		}
		return View{}, fmt.Errorf("users: create %q: %w", username, err)
	}
	s.cfg.Logger.InfoContext(ctx, "user created", "user_id", u.ID)
	return viewOf(u), nil
}

// notFound turns store.ErrNotFound into a NotFound OAuth error and wraps
// any other store error.
func notFound(op, id string, err error) error {
	switch {
	case err == nil:
		return nil
	case errors.Is(err, store.ErrNotFound):
		return oauth.New(oauth.NotFound, "no user %q", id).WithCause(err)
	default:
		return fmt.Errorf("users: %s %q: %w", op, id, err)
	}
}

// Get returns one user.
func (s *Service) Get(ctx context.Context, id string) (View, error) {
	u, err := s.cfg.Store.GetUser(ctx, id)
	if err != nil {
		return View{}, notFound("get", id, err)
	}
	return viewOf(u), nil
}

// List returns every user, ordered by username.
func (s *Service) List(ctx context.Context) ([]View, error) {
	list, err := s.cfg.Store.ListUsers(ctx)
	if err != nil {
		return nil, fmt.Errorf("users: list: %w", err)
	}
	out := make([]View, 0, len(list))
	for _, u := range list {
		out = append(out, viewOf(u))
	}
	return out, nil
}

// Lookup returns the stored record for the token layer. A missing user is
// an error wrapping store.ErrNotFound.
func (s *Service) Lookup(ctx context.Context, id string) (store.User, error) {
	u, err := s.cfg.Store.GetUser(ctx, id)
	if err != nil {
		return store.User{}, fmt.Errorf("users: lookup %q: %w", id, err)
	}
	return u, nil
}

// Patch changes email, roles or password (JSON merge semantics: absent
// fields stay). A password change also sets NotBefore to now, ending the
// user's earlier logins.
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
	// The profile is checked before any hashing; apply re-checks it
	// against the stored one inside the update.
	if _, err := req.ProfilePatch.apply(store.Profile{}); err != nil {
		return View{}, err
	}
	if req.Password != nil {
		if err := checkPassword(*req.Password); err != nil {
			return View{}, err
		}
		if hash, err = s.hash(ctx, *req.Password); err != nil {
			return View{}, err
		}
	}
	now := s.now()
	u, err := s.cfg.Store.UpdateUser(ctx, id, func(u *store.User) error {
		p, err := req.ProfilePatch.apply(u.Profile)
		if err != nil {
			return err
		}
		if req.Email != nil && *req.Email != u.Email && req.EmailVerified == nil {
			p.EmailVerified = false // a new address is not verified yet
		}
		u.Profile = p
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
		u.UpdatedAt = now
		return nil
	})
	if err != nil {
		return View{}, notFound("patch", id, err)
	}
	if req.Password != nil {
		s.cfg.Logger.InfoContext(ctx, "password changed; earlier logins revoked", "user_id", id)
	}
	return viewOf(u), nil
}

// Delete revokes the user, then deletes the record. Revocation comes
// first so that a failure at any step leaves a user who still exists and
// can be deleted again: the retry completes the job. A missing user is
// ErrNotFound (404); since the record goes last, that also answers a retry
// after a delete that succeeded, whose revocation is in place.
func (s *Service) Delete(ctx context.Context, id string) error {
	if _, err := s.Revoke(ctx, id); err != nil {
		return err
	}
	err := s.cfg.Store.DeleteUser(ctx, id)
	if errors.Is(err, store.ErrNotFound) {
		return nil // deleted by a concurrent request, after our revocation
	}
	if err != nil {
		return notFound("delete", id, err)
	}
	s.cfg.Logger.InfoContext(ctx, "user deleted", "user_id", id)
	return nil
}

// Revoke ends every login of the user that started until now: it sets
// NotBefore (which ends refresh-token families) and then the access-token
// watermark at the same instant, which it returns. It is safe to repeat;
// a failure in the second step leaves NotBefore set and the error to
// retry on.
func (s *Service) Revoke(ctx context.Context, id string) (time.Time, error) {
	now := s.now()
	_, err := s.cfg.Store.UpdateUser(ctx, id, func(u *store.User) error {
		u.NotBefore, u.UpdatedAt = now, now
		return nil
	})
	if err != nil {
		return time.Time{}, notFound("revoke", id, err)
	}
	if err := s.cfg.Revoker.RevokeSubject(ctx, id, now); err != nil {
		if errors.Is(err, store.ErrUnavailable) {
			e := oauth.New(oauth.TemporarilyUnavailable, "the store is unavailable, retry later").WithCause(err)
			e.RetryAfter = 1
			return time.Time{}, e
		}
		return time.Time{}, fmt.Errorf("users: revoke %q access tokens: %w", id, err)
	}
	s.cfg.Logger.InfoContext(ctx, "user revoked", "user_id", id, "not_before", now)
	return now, nil
}
