// Package clients is the client registry: RFC 7591 metadata validation,
// server-generated secrets stored only as keyed digests, and client
// authentication at the token endpoint (RFC 6749 §2.3, RFC 7523 §2.2).
package clients

import (
	"context"
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"errors"
	"fmt"
	"log/slog"
	"time"

	"github.com/authd-dev/authd/oauth"
	"github.com/authd-dev/authd/store"
)

// ClientStore is the part of the store this package uses.
type ClientStore interface {
	CreateClient(ctx context.Context, c store.Client) error
	GetClient(ctx context.Context, id string) (store.Client, error)
	ListClients(ctx context.Context) ([]store.Client, error)
	UpdateClient(ctx context.Context, id string, update func(*store.Client) error) (store.Client, error)
	DeleteClient(ctx context.Context, id string) error
}

// Config configures a Registry.
type Config struct {
	Store ClientStore
	// SecretKey keys the HMAC-SHA-256 digests of client secrets (≥ 32
	// bytes). Changing it invalidates every stored secret.
	SecretKey []byte
	// Issuer is the issuer identifier (RFC 8414 §2): the one accepted
	// "aud" of private_key_jwt client assertions
	// (draft-ietf-oauth-rfc7523bis). Required.
	Issuer string
	// TokenEndpoint is the token endpoint URL. It is accepted as the aud of
	// a client assertion at the token endpoint only with
	// AcceptTokenEndpointAudience, and always at the pushed authorization
	// request endpoint (RFC 9126 §2).
	TokenEndpoint string
	// PAREndpoint is the pushed authorization request endpoint URL,
	// accepted as the aud of a client assertion there (RFC 9126 §2) and
	// nowhere else. Empty: not accepted anywhere.
	PAREndpoint string
	// AcceptTokenEndpointAudience also accepts assertions whose aud is
	// TokenEndpoint, for clients written to RFC 7523 §3 / OpenID Connect
	// Core §9 (off by default: draft-ietf-oauth-rfc7523bis).
	AcceptTokenEndpointAudience bool
	// Replay records used assertion ids for every replica (RFC 7523 §3
	// item 7). Required.
	Replay store.ReplayCache
	// Notifier, if set, carries client invalidations between replicas
	// (see Run). Without it, another replica's change is seen after
	// CacheTTL.
	Notifier store.Notifier
	// CacheTTL keeps client records in memory this long (0: no cache).
	// Local writes take effect at once; another replica's as soon as its
	// notification arrives, and after at most the TTL.
	CacheTTL time.Duration
	// SecretSealKeys seal the secrets of client_secret_jwt clients (32
	// bytes each): the first seals, every one opens (a key derived from
	// the KEK first, then one from the previous KEK). Without any,
	// client_secret_jwt cannot be registered.
	SecretSealKeys [][]byte
	// KeyFetcher fetches the JWK sets of private_key_jwt clients that
	// registered a jwks_uri. Without it such clients cannot authenticate.
	KeyFetcher *KeyFetcher
	Now        func() time.Time
	Logger     *slog.Logger
}

// Registry manages clients and authenticates them.
type Registry struct {
	cfg   Config
	cache *clientCache // nil without CacheTTL
	seal  *secretSealer
	// direct is the store itself, never the cache: for checks that must
	// see another replica's last write (registration access tokens).
	direct ClientStore
	// dummy is compared against when the client is unknown, so that an
	// unknown client costs what a wrong secret costs.
	dummy []byte
	// equal compares digests; a field so tests can see both paths use it.
	equal func(a, b []byte) bool
}

// NewRegistry validates cfg, fills its defaults and returns a Registry.
func NewRegistry(cfg Config) (*Registry, error) {
	if cfg.Store == nil {
		return nil, errors.New("clients: Store is required")
	}
	if len(cfg.SecretKey) < 32 {
		return nil, errors.New("clients: SecretKey must be at least 32 bytes")
	}
	if cfg.Replay == nil {
		return nil, errors.New("clients: Replay is required")
	}
	if cfg.Issuer == "" {
		return nil, errors.New("clients: Issuer is required")
	}
	if cfg.AcceptTokenEndpointAudience && cfg.TokenEndpoint == "" {
		return nil, errors.New("clients: AcceptTokenEndpointAudience needs TokenEndpoint")
	}
	if cfg.CacheTTL < 0 {
		return nil, errors.New("clients: CacheTTL must not be negative")
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.Default()
	}
	cfg.SecretKey = append([]byte(nil), cfg.SecretKey...)
	seal, err := newSecretSealer(cfg.SecretSealKeys)
	if err != nil {
		return nil, err
	}
	r := &Registry{equal: hmac.Equal, seal: seal, direct: cfg.Store}
	if cfg.CacheTTL > 0 {
		if r.cache, err = newClientCache(cfg.Store, cfg.Notifier, cfg.Logger, cfg.CacheTTL, 10_000, cfg.Now); err != nil {
			return nil, err
		}
		cfg.Store = r.cache
	}
	r.cfg = cfg
	r.dummy = r.digest(newSecret())
	return r, nil
}

// Run follows the client invalidations other replicas publish, dropping
// cached records as they change, until ctx ends. Without a cache or a
// Notifier there is nothing to follow and it returns at once.
func (r *Registry) Run(ctx context.Context) error {
	if r.cache == nil {
		return nil
	}
	return r.cache.rc.Run(ctx)
}

// newSecret returns 256 random bits, base64url-encoded (43 characters).
func newSecret() string {
	b := make([]byte, 32)
	rand.Read(b) // never fails (crypto/rand, Go ≥ 1.24)
	return base64.RawURLEncoding.EncodeToString(b)
}

// newClientID returns 128 random bits, base64url-encoded (22 characters).
func newClientID() string {
	b := make([]byte, 16)
	rand.Read(b)
	return base64.RawURLEncoding.EncodeToString(b)
}

// digest is what the store keeps of a secret: HMAC-SHA-256 under
// SecretKey. A fast keyed digest is right for 256-bit random secrets: there
// is nothing to brute-force, and a slow hash would cap the token endpoint.
func (r *Registry) digest(secret string) []byte {
	m := hmac.New(sha256.New, r.cfg.SecretKey)
	m.Write([]byte(secret))
	return m.Sum(nil)
}

func needsSecret(method string) bool {
	return method == AuthBasic || method == AuthPost || method == AuthSecretJWT
}

// secretFields returns what the record keeps of a new secret: its digest
// and, for client_secret_jwt, the secret sealed (RFC 7523 §2.2: HS256
// needs the key itself).
func (r *Registry) secretFields(id, method, secret string) (digest, sealed []byte, err error) {
	digest = r.digest(secret)
	if method != AuthSecretJWT {
		return digest, nil, nil
	}
	if sealed, err = r.seal.seal(id, secret); err != nil {
		return nil, nil, metaErr("client_secret_jwt is not available on this server")
	}
	return digest, sealed, nil
}

func withSecret(m Metadata, secret string) Registered {
	return Registered{Metadata: m, ClientSecret: secret}
}

func (r *Registry) now() time.Time { return r.cfg.Now().UTC().Truncate(time.Microsecond) }

// Create registers a client (RFC 7591 §3.2.1). The id is the caller's
// client_id (RFC 3986 unreserved characters only: ValidNewClientID) or a
// random one. Clients of client_secret_basic, client_secret_post and
// client_secret_jwt get a secret, returned here and nowhere else (for
// client_secret_jwt also kept sealed, see secretFields). A taken client_id is a Conflict.
func (r *Registry) Create(ctx context.Context, m Metadata) (Registered, error) {
	if m.ClientID != "" && !ValidNewClientID(m.ClientID) {
		return Registered{}, metaErr("client_id must be 1 to %d characters of A-Z, a-z, 0-9, '-', '.', '_' and '~' (RFC 3986 unreserved), and not '.' or '..'", MaxClientIDLen)
	}
	return r.create(ctx, m, nil)
}

// create is Create after the client_id check; extra, if set, completes
// the record before it is stored.
func (r *Registry) create(ctx context.Context, m Metadata, extra func(*store.Client)) (Registered, error) {
	c, err := normalize(m)
	if err != nil {
		return Registered{}, err
	}
	if c.ID == "" {
		c.ID = newClientID()
	}
	now := r.now()
	c.IssuedAt, c.UpdatedAt = now, now
	var secret string
	if needsSecret(c.TokenEndpointAuthMethod) {
		secret = newSecret()
		if c.SecretDigest, c.SealedSecret, err = r.secretFields(c.ID, c.TokenEndpointAuthMethod, secret); err != nil {
			return Registered{}, err
		}
	}
	if extra != nil {
		extra(&c)
	}
	if err := r.cfg.Store.CreateClient(ctx, c); err != nil {
		if errors.Is(err, store.ErrExists) {
			return Registered{}, oauth.New(oauth.Conflict, "client_id %q is taken", c.ID).WithCause(err)
		}
		return Registered{}, fmt.Errorf("clients: create %q: %w", c.ID, err)
	}
	r.cfg.Logger.InfoContext(ctx, "client registered", "client_id", c.ID, "auth_method", c.TokenEndpointAuthMethod)
	return withSecret(metadataOf(c), secret), nil
}

// notFound turns store.ErrNotFound into a NotFound OAuth error and wraps
// any other store error.
func notFound(op, id string, err error) error {
	switch {
	case err == nil:
		return nil
	case errors.Is(err, store.ErrNotFound):
		return oauth.New(oauth.NotFound, "no client %q", id).WithCause(err)
	default:
		return fmt.Errorf("clients: %s %q: %w", op, id, err)
	}
}

// Get returns a client's metadata (never its secret).
func (r *Registry) Get(ctx context.Context, id string) (Metadata, error) {
	c, err := r.cfg.Store.GetClient(ctx, id)
	if err != nil {
		return Metadata{}, notFound("get", id, err)
	}
	return metadataOf(c), nil
}

// List returns every client's metadata, ordered by client_id.
func (r *Registry) List(ctx context.Context) ([]Metadata, error) {
	list, err := r.cfg.Store.ListClients(ctx)
	if err != nil {
		return nil, fmt.Errorf("clients: list: %w", err)
	}
	out := make([]Metadata, 0, len(list))
	for _, c := range list {
		out = append(out, metadataOf(c))
	}
	return out, nil
}

// Lookup returns the stored record for the token layer. A missing client is
// an error wrapping store.ErrNotFound.
func (r *Registry) Lookup(ctx context.Context, id string) (store.Client, error) {
	c, err := r.cfg.Store.GetClient(ctx, id)
	if err != nil {
		return store.Client{}, fmt.Errorf("clients: lookup %q: %w", id, err)
	}
	return c, nil
}

// Replace is PUT (RFC 7592 §2.2): the metadata is replaced as a whole and
// validated; client_id and client_id_issued_at stay. The secret is kept
// while the method uses one, dropped when it no longer does, and created
// (and returned, the only time) when a client starts using a secret.
func (r *Registry) Replace(ctx context.Context, id string, m Metadata) (Registered, error) {
	return r.replace(ctx, id, m, nil)
}

// replace is Replace with check, which runs inside the store's atomic
// update on the stored record and the next one (check may refuse, or set
// fields of next); nil checks nothing. The registration token digest is
// kept unless check changes it.
func (r *Registry) replace(ctx context.Context, id string, m Metadata, check func(old store.Client, next *store.Client) error) (Registered, error) {
	if m.ClientID != "" && m.ClientID != id {
		return Registered{}, metaErr("client_id in the body (%q) differs from the one in the path", m.ClientID)
	}
	m.ClientID = id
	next, err := normalize(m)
	if err != nil {
		return Registered{}, err
	}
	var secret string
	c, err := r.cfg.Store.UpdateClient(ctx, id, func(c *store.Client) error {
		secret = "" // the store may run update more than once
		digest, sealed := c.SecretDigest, c.SealedSecret
		method := next.TokenEndpointAuthMethod
		switch {
		case !needsSecret(method):
			digest, sealed = nil, nil
		case len(digest) == 0 || (method == AuthSecretJWT && len(sealed) == 0):
			// A new secret, also when a client moves to client_secret_jwt:
			// only the digest of its old secret is known, not the secret.
			secret = newSecret()
			var err error
			if digest, sealed, err = r.secretFields(id, method, secret); err != nil {
				return err
			}
		case method != AuthSecretJWT:
			sealed = nil // no longer needed as a key: keep only the digest
		}
		old, n := *c, next
		n.ID, n.IssuedAt, n.SecretDigest, n.SealedSecret = id, old.IssuedAt, digest, sealed
		n.RegistrationTokenDigest = old.RegistrationTokenDigest
		n.UpdatedAt = r.now()
		if check != nil {
			if err := check(old, &n); err != nil {
				return err
			}
		}
		*c = n
		return nil
	})
	if err != nil {
		if e := oauth.As(err); e != nil {
			return Registered{}, e
		}
		return Registered{}, notFound("replace", id, err)
	}
	return withSecret(metadataOf(c), secret), nil
}

// Delete removes a client.
func (r *Registry) Delete(ctx context.Context, id string) error {
	return notFound("delete", id, r.cfg.Store.DeleteClient(ctx, id))
}

// ResetSecret issues a new secret and returns it (the only time); the old
// one stops working at once. Clients without a secret (none,
// private_key_jwt) get invalid_request.
func (r *Registry) ResetSecret(ctx context.Context, id string) (Registered, error) {
	secret := newSecret()
	c, err := r.cfg.Store.UpdateClient(ctx, id, func(c *store.Client) error {
		if !needsSecret(c.TokenEndpointAuthMethod) {
			return oauth.New(oauth.InvalidRequest, "client %q (%s) does not authenticate with a secret", id, c.TokenEndpointAuthMethod)
		}
		// client_secret_jwt: the new secret is sealed again (under the
		// current KEK's key).
		digest, sealed, err := r.secretFields(id, c.TokenEndpointAuthMethod, secret)
		if err != nil {
			return err
		}
		c.SecretDigest, c.SealedSecret = digest, sealed
		c.UpdatedAt = r.now()
		return nil
	})
	if err != nil {
		if e := oauth.As(err); e != nil {
			return Registered{}, e
		}
		return Registered{}, notFound("reset secret of", id, err)
	}
	r.cfg.Logger.InfoContext(ctx, "client secret reset", "client_id", id)
	return withSecret(metadataOf(c), secret), nil
}
