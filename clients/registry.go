// Package clients is the client registry: RFC 7591 metadata validation,
// server-generated secrets stored only as digests, and client
// authentication at the token endpoint (RFC 6749 §2.3, RFC 7523 §2.2).
package clients

import (
	"context"
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"errors"
	"log/slog"
	"time"

	"github.com/authd-dev/authd/oauth"
	"github.com/authd-dev/authd/store"
)

// Store is the part of the store this package uses.
type Store interface {
	CreateClient(ctx context.Context, c store.Client) error
	GetClient(ctx context.Context, id string) (store.Client, error)
	ListClients(ctx context.Context) ([]store.Client, error)
	UpdateClient(ctx context.Context, id string, update func(*store.Client) error) (store.Client, error)
	DeleteClient(ctx context.Context, id string) error
}

// Config configures a Registry.
type Config struct {
	Store Store
	// SecretKey keys the HMAC-SHA-256 digests of client secrets (≥ 32 bytes).
	SecretKey []byte
	// Audiences are the accepted "aud" values of private_key_jwt client
	// assertions (the issuer and the token endpoint URL).
	Audiences []string
	Now       func() time.Time
	Logger    *slog.Logger
}

// Registry manages clients.
type Registry struct {
	cfg    Config
	replay *replayCache
}

// NewRegistry validates cfg and returns a Registry.
func NewRegistry(cfg Config) (*Registry, error) {
	if cfg.Store == nil {
		return nil, errors.New("clients: Store is required")
	}
	if len(cfg.SecretKey) < 32 {
		return nil, errors.New("clients: SecretKey must be at least 32 bytes")
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.Default()
	}
	return &Registry{cfg: cfg, replay: newReplayCache(100_000)}, nil
}

// newSecret returns 256 random bits, base64url-encoded.
func newSecret() string {
	b := make([]byte, 32)
	rand.Read(b)
	return base64.RawURLEncoding.EncodeToString(b)
}

// digest is what the store keeps of a secret. A fast keyed digest is right
// for 256-bit random secrets: nothing to brute-force, and a slow hash
// would cap the token endpoint.
func (r *Registry) digest(secret string) []byte {
	m := hmac.New(sha256.New, r.cfg.SecretKey)
	m.Write([]byte(secret))
	return m.Sum(nil)
}

func needsSecret(method string) bool { return method == AuthBasic || method == AuthPost }

func withSecret(m Metadata, secret string) Registered {
	reg := Registered{Metadata: m}
	if secret != "" {
		zero := int64(0)
		reg.ClientSecret, reg.ClientSecretExpiresAt = secret, &zero
	}
	return reg
}

// Create registers a client; its secret (for secret-based methods) is in
// the answer and nowhere else.
func (r *Registry) Create(ctx context.Context, m Metadata) (Registered, error) {
	c, err := normalize(m)
	if err != nil {
		return Registered{}, err
	}
	if c.ID == "" {
		c.ID = newSecret()[:22]
	}
	now := r.cfg.Now().UTC().Truncate(time.Microsecond)
	c.IssuedAt, c.UpdatedAt = now, now
	var secret string
	if needsSecret(c.TokenEndpointAuthMethod) {
		secret = newSecret()
		c.SecretDigest = r.digest(secret)
	}
	if err := r.cfg.Store.CreateClient(ctx, c); err != nil {
		if errors.Is(err, store.ErrExists) {
			return Registered{}, oauth.New(oauth.Conflict, "client_id %q is taken", c.ID)
		}
		return Registered{}, err
	}
	return withSecret(metadataOf(c), secret), nil
}

func notFound(err error) error {
	if errors.Is(err, store.ErrNotFound) {
		return oauth.New(oauth.NotFound, "no such client")
	}
	return err
}

// Get returns a client's metadata.
func (r *Registry) Get(ctx context.Context, id string) (Metadata, error) {
	c, err := r.cfg.Store.GetClient(ctx, id)
	if err != nil {
		return Metadata{}, notFound(err)
	}
	return metadataOf(c), nil
}

// List returns every client's metadata, ordered by ID.
func (r *Registry) List(ctx context.Context) ([]Metadata, error) {
	list, err := r.cfg.Store.ListClients(ctx)
	if err != nil {
		return nil, err
	}
	out := make([]Metadata, 0, len(list))
	for _, c := range list {
		out = append(out, metadataOf(c))
	}
	return out, nil
}

// Lookup returns the stored record for the token layer.
func (r *Registry) Lookup(ctx context.Context, id string) (store.Client, error) {
	return r.cfg.Store.GetClient(ctx, id)
}

// Replace is PUT: the metadata is replaced as a whole and validated; the
// secret is kept, dropped when the client becomes public, and created (and
// returned) when a public client starts using a secret.
func (r *Registry) Replace(ctx context.Context, id string, m Metadata) (Registered, error) {
	if m.ClientID != "" && m.ClientID != id {
		return Registered{}, metaErr("client_id in the body (%q) differs from the path", m.ClientID)
	}
	m.ClientID = id
	next, err := normalize(m)
	if err != nil {
		return Registered{}, err
	}
	var secret string
	c, err := r.cfg.Store.UpdateClient(ctx, id, func(c *store.Client) error {
		digest := c.SecretDigest
		switch {
		case !needsSecret(next.TokenEndpointAuthMethod):
			digest = nil
		case len(digest) == 0:
			secret = newSecret()
			digest = r.digest(secret)
		}
		issued := c.IssuedAt
		*c = next
		c.ID, c.IssuedAt, c.SecretDigest = id, issued, digest
		c.UpdatedAt = r.cfg.Now().UTC().Truncate(time.Microsecond)
		return nil
	})
	if err != nil {
		return Registered{}, notFound(err)
	}
	return withSecret(metadataOf(c), secret), nil
}

// Delete removes a client.
func (r *Registry) Delete(ctx context.Context, id string) error {
	return notFound(r.cfg.Store.DeleteClient(ctx, id))
}

// ResetSecret issues a new secret; the old one stops working at once.
func (r *Registry) ResetSecret(ctx context.Context, id string) (Registered, error) {
	secret := newSecret()
	c, err := r.cfg.Store.UpdateClient(ctx, id, func(c *store.Client) error {
		if !needsSecret(c.TokenEndpointAuthMethod) {
			return oauth.New(oauth.InvalidRequest, "client %q does not authenticate with a secret", id)
		}
		c.SecretDigest = r.digest(secret)
		c.UpdatedAt = r.cfg.Now().UTC().Truncate(time.Microsecond)
		return nil
	})
	if err != nil {
		if e := oauth.As(err); e != nil {
			return Registered{}, e
		}
		return Registered{}, notFound(err)
	}
	return withSecret(metadataOf(c), secret), nil
}
