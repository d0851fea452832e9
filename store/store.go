// Package store defines the records authd keeps and the per-aggregate
// interfaces every storage backend implements (store/bolt, store/redis).
//
// Read-modify-write steps are named domain operations (UpdateClient,
// RotateRefresh, SwapKeySet …) that each backend makes atomic; the
// conformance suite in store/storetest proves it for every backend.
//
// This package imports only the standard library.
package store

import (
	"context"
	"errors"
	"time"
)

// Sentinel errors. Backends wrap them with %w; callers test with errors.Is.
var (
	// ErrNotFound: the record does not exist (or has expired).
	ErrNotFound = errors.New("store: not found")
	// ErrExists: a record with the same unique key already exists.
	ErrExists = errors.New("store: already exists")
	// ErrConflict: a compare-and-swap lost against a concurrent writer.
	ErrConflict = errors.New("store: conflicting update")
	// ErrReused: a refresh token that was already rotated was presented
	// again outside the leeway; the backend has revoked the whole family.
	ErrReused = errors.New("store: refresh token reused")
	// ErrRevoked: the refresh-token family was revoked earlier.
	ErrRevoked = errors.New("store: family revoked")
	// ErrUnavailable: the backend cannot be reached; retrying later may work.
	ErrUnavailable = errors.New("store: unavailable")
)

// Store is everything a backend provides. Consumers should depend on the
// narrow interfaces below, not on Store.
type Store interface {
	ClientStore
	UserStore
	KeyStore
	FamilyStore
	DenyList
	RevocationFeed
	ReplayCache
	Notifier
	ThrottleStore
	SessionStore
	ConsentStore
	PushedRequests
	RegistrationTokens
	DeviceAuthStore
	// Ping reports whether the backend is reachable (for /readyz).
	Ping(ctx context.Context) error
	// Close releases the backend's resources.
	Close() error
}

// Client is a registered OAuth client (RFC 7591 metadata plus extensions).
type Client struct {
	ID string `json:"client_id"`
	// SecretDigest is a keyed digest of the client secret; never the secret.
	// Empty for public clients (token_endpoint_auth_method "none").
	SecretDigest []byte `json:"secret_digest,omitempty"`
	// SealedSecret is the secret itself, encrypted under a key derived
	// from the KEK, for client_secret_jwt only: an HMAC key must be
	// known to verify with (RFC 7523 §2.2 with HS256). Empty otherwise.
	SealedSecret            []byte   `json:"sealed_secret,omitempty"`
	Name                    string   `json:"client_name,omitempty"`
	LogoURI                 string   `json:"logo_uri,omitempty"`
	PolicyURI               string   `json:"policy_uri,omitempty"`
	TOSURI                  string   `json:"tos_uri,omitempty"`
	GrantTypes              []string `json:"grant_types,omitempty"`
	RedirectURIs            []string `json:"redirect_uris,omitempty"`
	PostLogoutRedirectURIs  []string `json:"post_logout_redirect_uris,omitempty"`
	Scope                   string   `json:"scope,omitempty"`
	TokenEndpointAuthMethod string   `json:"token_endpoint_auth_method,omitempty"`
	JWKS                    []byte   `json:"jwks,omitempty"` // raw JSON JWK Set
	JWKSURI                 string   `json:"jwks_uri,omitempty"`
	IDTokenSignedAlg        string   `json:"id_token_signed_response_alg,omitempty"`
	Audience                []string `json:"audience,omitempty"`
	AccessTokenSigningAlg   string   `json:"access_token_signing_alg,omitempty"`
	SkipConsent             bool     `json:"skip_consent,omitempty"`
	// DPoPBoundAccessTokens: the client always sends a DPoP proof to the
	// token endpoint, and a request without one is refused (RFC 9449 §5.2).
	DPoPBoundAccessTokens bool      `json:"dpop_bound_access_tokens,omitempty"`
	IssuedAt              time.Time `json:"client_id_issued_at"`
	UpdatedAt             time.Time `json:"updated_at"`

	// BackchannelLogoutURI receives logout tokens (OIDC Back-Channel
	// Logout 1.0 §2.2); BackchannelLogoutSessionRequired says the client
	// needs their sid. FrontchannelLogoutURI is loaded in an iframe of
	// the signed-out page (OIDC Front-Channel Logout 1.0 §2), with iss
	// and sid when FrontchannelLogoutSessionRequired.
	BackchannelLogoutURI              string `json:"backchannel_logout_uri,omitempty"`
	BackchannelLogoutSessionRequired  bool   `json:"backchannel_logout_session_required,omitempty"`
	FrontchannelLogoutURI             string `json:"frontchannel_logout_uri,omitempty"`
	FrontchannelLogoutSessionRequired bool   `json:"frontchannel_logout_session_required,omitempty"`
	// RequirePushedAuthorizationRequests: the client's authorization
	// requests must come through the pushed authorization request
	// endpoint (RFC 9126 §6).
	RequirePushedAuthorizationRequests bool `json:"require_pushed_authorization_requests,omitempty"`

	// Token exchange policy (RFC 8693; tokens/grant_token_exchange.go).
	// TokenExchangeImpersonation allows an exchange without an actor_token
	// (impersonation, §1.1); TokenExchangeRefresh allows
	// requested_token_type refresh_token (§2.1). Both default to false.
	TokenExchangeImpersonation bool `json:"token_exchange_impersonation,omitempty"`
	TokenExchangeRefresh       bool `json:"token_exchange_refresh,omitempty"`
	// RegistrationTokenDigest is a keyed digest of the registration access
	// token of a dynamically registered client (RFC 7592 §3); empty for a
	// client the admin API registered, which RFC 7592 cannot manage.
	RegistrationTokenDigest []byte `json:"registration_token_digest,omitempty"`
}

// ClientStore keeps registered clients.
type ClientStore interface {
	// CreateClient stores a new client; ErrExists if the ID is taken.
	CreateClient(ctx context.Context, c Client) error
	// GetClient returns the client; ErrNotFound if there is none.
	GetClient(ctx context.Context, id string) (Client, error)
	// ListClients returns every client, ordered by ID.
	ListClients(ctx context.Context) ([]Client, error)
	// UpdateClient atomically applies update to the stored client and
	// stores the result. update runs under the store's write lock: it must
	// not call the store. It may run more than once (a backend retries on a
	// conflict), so it must be safe to repeat. An error from update aborts without writing and is
	// returned unchanged. ErrNotFound if there is no such client. The ID
	// cannot change.
	UpdateClient(ctx context.Context, id string, update func(*Client) error) (Client, error)
	// DeleteClient removes the client; ErrNotFound if there is none.
	DeleteClient(ctx context.Context, id string) error
}

// User is a resource owner who logs in with a password.
type User struct {
	ID           string    `json:"id"`
	Username     string    `json:"username"`
	Email        string    `json:"email,omitempty"`
	PasswordHash string    `json:"password_hash"` // PHC string (argon2id)
	Roles        []string  `json:"roles,omitempty"`
	Profile                // optional OIDC profile (profile.go)
	CreatedAt    time.Time `json:"created_at"`
	UpdatedAt    time.Time `json:"updated_at"`
	// NotBefore revokes every login (refresh-token family) that started
	// before it: set by an admin revoke or a password change.
	NotBefore time.Time `json:"not_before,omitempty"`
}

// UserStore keeps users. Usernames are unique (exact match; callers
// normalise case before storing).
type UserStore interface {
	// CreateUser stores a new user; ErrExists if the ID or username is taken.
	CreateUser(ctx context.Context, u User) error
	GetUser(ctx context.Context, id string) (User, error)
	GetUserByUsername(ctx context.Context, username string) (User, error)
	// ListUsers returns every user, ordered by username.
	ListUsers(ctx context.Context) ([]User, error)
	// UpdateUser atomically applies update to the stored user. ID and
	// Username cannot change (a changed value is ignored). An error from
	// update aborts without writing and is returned unchanged. update may
	// run more than once and must not call the store.
	UpdateUser(ctx context.Context, id string, update func(*User) error) (User, error)
	DeleteUser(ctx context.Context, id string) error
}

// Key states.
const (
	KeyNext    = "next"    // published in the JWKS, not signing yet
	KeyActive  = "active"  // signs new tokens
	KeyRetired = "retired" // published until ExpiresAt, not signing
)

// Key is one signing key. The private key is only ever stored sealed
// (encrypted under the KEK); the public JWK is kept in clear for listing.
type Key struct {
	ID          string    `json:"kid"`
	Alg         string    `json:"alg"`
	State       string    `json:"state"`
	Sealed      []byte    `json:"sealed"`     // encrypted private JWK
	PublicJWK   []byte    `json:"public_jwk"` // JSON of the public JWK
	CreatedAt   time.Time `json:"created_at"`
	ActivatesAt time.Time `json:"activates_at,omitempty"` // when a next key is due to sign
	ActivatedAt time.Time `json:"activated_at,omitempty"`
	RetiredAt   time.Time `json:"retired_at,omitempty"`
	ExpiresAt   time.Time `json:"expires_at,omitempty"` // leaves the JWKS (retired keys)
}

// KeySet is the whole set of signing keys with a version for
// compare-and-swap; replicas coordinate rotation through it.
type KeySet struct {
	Version uint64 `json:"version"`
	Keys    []Key  `json:"keys"`
}

// KeyStore keeps the key set.
type KeyStore interface {
	// GetKeySet returns the current set; an empty set with Version 0 when
	// none was stored yet.
	GetKeySet(ctx context.Context) (KeySet, error)
	// SwapKeySet stores keys as the new set if the stored version still
	// equals expect, and returns the stored set (version expect+1).
	// ErrConflict if another writer got there first.
	SwapKeySet(ctx context.Context, expect uint64, keys []Key) (KeySet, error)
}

// Family is one login: the chain of refresh tokens issued from one
// authentication. Its ID is the "sid" claim of every token of the login.
type Family struct {
	ID        string    `json:"id"`
	ClientID  string    `json:"client_id"`
	Subject   string    `json:"sub"`
	Scope     string    `json:"scope,omitempty"`
	Audience  []string  `json:"aud,omitempty"`
	AuthTime  time.Time `json:"auth_time"`
	CreatedAt time.Time `json:"created_at"`
	// ExpiresAt is the absolute end of the login (max lifetime).
	ExpiresAt time.Time `json:"expires_at"`
	// IdleExpiresAt ends the current refresh token if it is not used.
	IdleExpiresAt time.Time `json:"idle_expires_at"`
	// Current is the digest of the refresh token that may be used next.
	Current []byte `json:"current"`
	// Previous is the digest of the token Current replaced, RotatedAt when.
	Previous  []byte    `json:"previous,omitempty"`
	RotatedAt time.Time `json:"rotated_at,omitempty"`
	// SealedCurrent is the current refresh token encrypted under a key
	// derived from the previous one, so a retry inside the leeway returns
	// the same successor and a copy of the store cannot mint it.
	SealedCurrent []byte `json:"sealed_current,omitempty"`
	// Retries counts how often Previous was accepted again in the leeway.
	Retries int `json:"retries,omitempty"`
	// Generation counts rotations (0 for the first token).
	Generation int  `json:"gen"`
	Revoked    bool `json:"revoked,omitempty"`
	// SessionID is the SSO session the login began in ("" for none): the
	// "sid" of its ID tokens.
	SessionID string `json:"session_id,omitempty"`
	// JKT is the RFC 7638 thumbprint of the DPoP key the login's refresh
	// tokens are bound to ("" for none): RFC 9449 §5 binds a public
	// client's refresh tokens to the key of the proof that obtained them.
	// It stays the same across rotations.
	JKT string `json:"jkt,omitempty"`
}

// Rotation asks to rotate the refresh token of one family.
type Rotation struct {
	FamilyID string
	// Presented is the digest of the refresh token the client sent.
	Presented []byte
	// Next is the digest of the successor token, SealedNext the successor
	// sealed under a key derived from the presented token.
	Next       []byte
	SealedNext []byte
	Now        time.Time
	// IdleTTL is the new idle window (capped by the family's ExpiresAt).
	IdleTTL time.Duration
	// Leeway is how long after a rotation Previous is accepted again;
	// MaxRetries bounds how often.
	Leeway     time.Duration
	MaxRetries int
	// BindJKT, when not empty, binds the family to this DPoP key
	// thumbprint with the rotation (Family.JKT): an authorization code's
	// family becomes bound when the code is exchanged with a proof. The
	// caller passes it only for a family that has no JKT; a retry or a
	// failed rotation binds nothing.
	BindJKT string
}

// RotateResult says what RotateRefresh did.
type RotateResult struct {
	Family Family // the family as stored afterwards
	// Retried is true when the presented token was the previous one inside
	// the leeway: nothing rotated and Family.SealedCurrent holds the
	// successor the client should get again.
	Retried bool
}

// FamilyStore keeps refresh-token families. Records expire by themselves
// at Family.LiveUntil, min(IdleExpiresAt, ExpiresAt) (a revoked family is
// kept until then so a replay is still recognised). RotateRefresh judges expiry by r.Now;
// GetFamily, RevokeFamily and the deny list use the backend's clock.
type FamilyStore interface {
	// CreateFamily stores a new family; ErrExists if the ID is taken.
	CreateFamily(ctx context.Context, f Family) error
	// GetFamily returns a live family (revoked ones too); ErrNotFound if it
	// is missing or expired.
	GetFamily(ctx context.Context, id string) (Family, error)
	// RotateRefresh is the atomic rotate-or-detect-reuse step:
	//   - family missing or expired at r.Now → ErrNotFound
	//   - family revoked → ErrRevoked
	//   - Presented == Current → Previous=Current, Current=Next,
	//     SealedCurrent=SealedNext, RotatedAt=Now, Retries=0, Generation+1,
	//     IdleExpiresAt=min(Now+IdleTTL, ExpiresAt), and JKT=BindJKT when
	//     BindJKT is set (otherwise JKT stays)
	//   - Presented == Previous, Leeway > 0, Now-RotatedAt <= Leeway and
	//     Retries < MaxRetries → Retries+1, Retried=true, nothing else changes
	//   - anything else → the family is marked revoked, ErrReused
	// A backend that acknowledges a write only once replicas hold it
	// (Redis with WAIT) can answer ErrUnavailable for a rotation that did
	// commit; it then lets the same Presented rotate once more, replacing
	// the successor nobody received (store/redis durable.go), so the
	// client's retry of a 503 is never judged reuse.
	RotateRefresh(ctx context.Context, r Rotation) (RotateResult, error)
	// RevokeFamily marks the family revoked; ErrNotFound if it is gone.
	RevokeFamily(ctx context.Context, id string) error
}

// Deny kinds: what a denylist entry covers.
const (
	DenyJTI     = "jti"    // one token
	DenySID     = "sid"    // every token of a login (family)
	DenySubject = "sub"    // tokens of a subject issued at or before At
	DenyClient  = "client" // tokens of a client issued at or before At
)

// Denial is one denylist entry. It expires by itself at ExpiresAt, the end
// of life of the longest-lived token it covers.
type Denial struct {
	Kind      string
	Value     string
	At        time.Time // when it was revoked
	ExpiresAt time.Time
}

// DenyQuery names the identifiers of one token.
type DenyQuery struct {
	JTI, SID, Subject, ClientID string
}

// DenyState is what the denylist holds for one token's identifiers; a zero
// time means no entry.
type DenyState struct {
	JTI, SID, Subject, Client time.Time
}

// DenyList records revocations of access tokens.
type DenyList interface {
	// Deny adds or extends an entry: a later At and a later ExpiresAt win.
	Deny(ctx context.Context, d Denial) error
	// DenyState reads every entry that may cover one token, in a single
	// round trip.
	DenyState(ctx context.Context, q DenyQuery) (DenyState, error)
}

// ErrCursorExpired: a revocation-feed cursor is older than what the store
// keeps; the reader must start again from a snapshot.
var ErrCursorExpired = errors.New("store: feed cursor expired")

// FeedEntry is one denylist entry as the revocation feed carries it.
type FeedEntry struct {
	// Cursor orders entries; opaque to callers.
	Cursor string
	Denial Denial
}

// RevocationFeed lets every replica follow the denylist as it grows: each
// Deny is also appended to the feed (until the entry expires).
type RevocationFeed interface {
	// Denials returns every live entry and the cursor of the newest entry
	// in the feed ("" when empty).
	Denials(ctx context.Context) ([]Denial, string, error)
	// DenialsAfter returns the entries added after cursor ("" = from the
	// start), waiting up to wait for at least one. No entry in time → an
	// empty slice and no error. ErrCursorExpired if cursor is gone.
	DenialsAfter(ctx context.Context, cursor string, wait time.Duration) ([]FeedEntry, error)
}
