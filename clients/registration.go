package clients

import (
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net/netip"
	"net/url"
	"slices"
	"strings"
	"time"

	"github.com/authd-dev/authd/oauth"
	"github.com/authd-dev/authd/store"
)

// Modes of dynamic client registration (RegistrarConfig.Mode).
const (
	// RegistrationToken: registering needs an initial access token
	// (RFC 7591 §3) issued by IssueInitialToken.
	RegistrationToken = "token"
	// RegistrationOpen: anyone may register (RFC 7591 §3, "open
	// registration"), within the Policy and the per-address throttle.
	RegistrationOpen = "open"
)

// Redirect-URI kinds a Policy may allow. Whatever the policy, a redirect
// URI is first held to checkRedirects (the admin API's rule).
const (
	RedirectHTTPS      = "https"
	RedirectHTTP       = "http"        // loopback hosts only (RFC 8252 §7.3)
	RedirectPrivateUse = "private-use" // com.example.app:/cb (RFC 8252 §7.1)
)

// Limits of initial access tokens (IssueInitialToken).
const (
	DefaultInitialTokenTTL = 24 * time.Hour
	MaxInitialTokenTTL     = 366 * 24 * time.Hour
	MaxInitialTokenUses    = 1_000_000
)

// Policy is what an operator lets dynamically registered clients have, on
// top of the metadata validation every client passes (normalize). RFC 7591
// §5 leaves the policy to the server; these are its knobs.
type Policy struct {
	// GrantTypes a client may register (non-empty).
	GrantTypes []string
	// Scopes a client may register; a client that names none gets all of
	// them (RFC 7591 §2 "scope": the server may register a default set).
	Scopes []string
	// RedirectKinds are the redirect-URI kinds allowed (RedirectHTTPS,
	// RedirectHTTP, RedirectPrivateUse; non-empty).
	RedirectKinds []string
	// AllowPublicClients lets a client register token_endpoint_auth_method
	// "none" (native apps, RFC 8252 §8.4; PKCE is then required).
	AllowPublicClients bool
}

// ClientDeleter deletes a client and ends its tokens: the admin API's
// delete (admin.Service.DeleteClient), reused by RFC 7592 §2.3.
type ClientDeleter interface {
	DeleteClient(ctx context.Context, id string) error
}

// RegistrarConfig configures a Registrar.
type RegistrarConfig struct {
	Registry *Registry
	// Mode is RegistrationToken or RegistrationOpen.
	Mode   string
	Policy Policy
	// Tokens keeps initial access tokens. Required.
	Tokens store.RegistrationTokens
	// Throttle limits requests per client address: PerMinute refill each
	// minute, Burst at once (both ≥ 1). Required.
	Throttle         store.ThrottleStore
	PerMinute, Burst int
	// Deleter removes a client for RFC 7592 §2.3. Required.
	Deleter ClientDeleter
	Now     func() time.Time
	Logger  *slog.Logger
}

// Registrar is the dynamic-registration use case: the registration
// endpoint of RFC 7591 §3 and the client configuration endpoint of RFC
// 7592 §2, plus the initial access tokens an operator hands out.
type Registrar struct {
	cfg    RegistrarConfig
	bucket store.Bucket
}

// NewRegistrar validates cfg and returns a Registrar.
func NewRegistrar(cfg RegistrarConfig) (*Registrar, error) {
	switch {
	case cfg.Registry == nil || cfg.Tokens == nil || cfg.Throttle == nil || cfg.Deleter == nil:
		return nil, errors.New("clients: Registry, Tokens, Throttle and Deleter are required")
	case cfg.Mode != RegistrationToken && cfg.Mode != RegistrationOpen:
		return nil, fmt.Errorf("clients: unknown registration mode %q", cfg.Mode)
	case cfg.PerMinute < 1 || cfg.Burst < 1:
		return nil, errors.New("clients: registration PerMinute and Burst must be at least 1")
	case len(cfg.Policy.GrantTypes) == 0 || len(cfg.Policy.RedirectKinds) == 0:
		return nil, errors.New("clients: the registration policy needs grant types and redirect kinds")
	}
	for _, k := range cfg.Policy.RedirectKinds {
		if k != RedirectHTTPS && k != RedirectHTTP && k != RedirectPrivateUse {
			return nil, fmt.Errorf("clients: unknown redirect kind %q", k)
		}
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.Default()
	}
	cfg.Policy.GrantTypes = slices.Clone(cfg.Policy.GrantTypes)
	cfg.Policy.Scopes = slices.Clone(cfg.Policy.Scopes)
	return &Registrar{cfg: cfg, bucket: store.Bucket{Every: time.Minute / time.Duration(cfg.PerMinute), Burst: cfg.Burst}}, nil
}

// InitialToken is a new initial access token, shown only once.
type InitialToken struct {
	// ID names the token in GET and DELETE /admin/registration-tokens.
	ID        string `json:"id"`
	Token     string `json:"token"`
	ExpiresAt int64  `json:"expires_at"` // Unix seconds
	Uses      int    `json:"uses"`
}

// IssueInitialToken creates an initial access token that authorizes uses
// registrations until ttl has passed (0: DefaultInitialTokenTTL and 1
// use). The store keeps only its digest.
func (g *Registrar) IssueInitialToken(ctx context.Context, ttl time.Duration, uses int) (InitialToken, error) {
	if ttl == 0 {
		ttl = DefaultInitialTokenTTL
	}
	if uses == 0 {
		uses = 1
	}
	if ttl < time.Second || ttl > MaxInitialTokenTTL {
		return InitialToken{}, oauth.New(oauth.InvalidRequest, "expires_in must be between 1 and %d seconds", int64(MaxInitialTokenTTL/time.Second))
	}
	if uses < 1 || uses > MaxInitialTokenUses {
		return InitialToken{}, oauth.New(oauth.InvalidRequest, "uses must be between 1 and %d", MaxInitialTokenUses)
	}
	tok := newSecret()
	now := g.cfg.Registry.now()
	t := store.RegistrationToken{Digest: g.initialDigest(tok), Uses: uses, CreatedAt: now, ExpiresAt: now.Add(ttl)}
	if err := g.cfg.Tokens.CreateRegistrationToken(ctx, t); err != nil {
		return InitialToken{}, fmt.Errorf("clients: create initial access token: %w", err)
	}
	g.cfg.Logger.InfoContext(ctx, "initial access token issued", "id", store.RegistrationTokenID(t.Digest), "uses", uses, "expires_at", t.ExpiresAt)
	return InitialToken{ID: store.RegistrationTokenID(t.Digest), Token: tok, ExpiresAt: t.ExpiresAt.Unix(), Uses: uses}, nil
}

// InitialTokenInfo describes a live initial access token for the admin
// API's list: never the token (the store has only its digest).
type InitialTokenInfo struct {
	ID        string `json:"id"`
	ExpiresAt int64  `json:"expires_at"` // Unix seconds
	Uses      int    `json:"uses"`       // left
	CreatedAt int64  `json:"created_at"` // Unix seconds
}

// ListInitialTokens lists the live initial access tokens, oldest first.
func (g *Registrar) ListInitialTokens(ctx context.Context) ([]InitialTokenInfo, error) {
	ts, err := g.cfg.Tokens.ListRegistrationTokens(ctx)
	if err != nil {
		return nil, fmt.Errorf("clients: list initial access tokens: %w", err)
	}
	out := make([]InitialTokenInfo, 0, len(ts))
	for _, t := range ts {
		out = append(out, InitialTokenInfo{ID: t.ID, ExpiresAt: t.ExpiresAt.Unix(), Uses: t.Uses, CreatedAt: t.CreatedAt.Unix()})
	}
	return out, nil
}

// RevokeInitialToken ends the initial access token id at once (a leaked
// or no longer wanted token): not_found (404) if there is no live one.
func (g *Registrar) RevokeInitialToken(ctx context.Context, id string) error {
	err := g.cfg.Tokens.DeleteRegistrationToken(ctx, id)
	switch {
	case errors.Is(err, store.ErrNotFound):
		return oauth.New(oauth.NotFound, "no live initial access token %q", id).WithCause(err)
	case err != nil:
		return fmt.Errorf("clients: revoke initial access token: %w", err)
	}
	g.cfg.Logger.InfoContext(ctx, "initial access token revoked", "id", id)
	return nil
}

// initialDigest separates the digests of initial access tokens from those
// of client secrets and registration access tokens.
func (g *Registrar) initialDigest(tok string) []byte {
	return g.cfg.Registry.digest("initial-access-token\x00" + tok)
}

func (g *Registrar) accessDigest(tok string) []byte {
	return g.cfg.Registry.digest("registration-access-token\x00" + tok)
}

// RegistrationRequest is one call of the registration or client
// configuration endpoint.
type RegistrationRequest struct {
	Metadata Metadata
	// ClientSecret is the client_secret of an update request (RFC 7592
	// §2.2: if sent, it must be the current one).
	ClientSecret string
	// SoftwareStatement is the software_statement member (RFC 7591 §2.3).
	SoftwareStatement string
	// Bearer is the token of the Authorization header ("" for none): an
	// initial access token at the registration endpoint, the registration
	// access token at the client configuration endpoint.
	Bearer string
	// RemoteIP is the client's address, for the throttle.
	RemoteIP string
	// Invalid is the HTTP layer's failure to read the body (malformed
	// JSON, a member of the wrong type, too large), nil if it read it. It
	// is returned only once the caller is admitted (throttle, then its
	// bearer token): a caller without a valid token learns nothing of how
	// its body would be judged.
	Invalid error
}

// ClientInformation is the client information response (RFC 7591 §3.2.1,
// RFC 7592 §3). RegistrationClientURI is the HTTP layer's to fill.
type ClientInformation struct {
	Registered
	// RegistrationAccessToken is sent on registration and update only:
	// the store keeps its digest, so a read cannot show it again.
	RegistrationAccessToken string
	RegistrationClientURI   string
}

// MarshalJSON is the registered metadata plus the two RFC 7592 §3 members.
func (ci ClientInformation) MarshalJSON() ([]byte, error) {
	b, err := json.Marshal(ci.Registered)
	if err != nil {
		return nil, err
	}
	var m map[string]json.RawMessage
	if err := json.Unmarshal(b, &m); err != nil {
		return nil, err
	}
	for k, v := range map[string]string{"registration_access_token": ci.RegistrationAccessToken, "registration_client_uri": ci.RegistrationClientURI} {
		if v != "" {
			m[k], _ = json.Marshal(v)
		}
	}
	return json.Marshal(m)
}

// invalidToken is RFC 6750 §3.1 invalid_token (401): the one answer to a
// missing, unknown, expired or used-up bearer token here.
func invalidToken(format string, args ...any) *oauth.Error {
	return oauth.New(oauth.InvalidToken, format, args...)
}

// throttle takes one request from the address's bucket (reserve, then
// work: the attempt counts before anything runs).
func (g *Registrar) throttle(ctx context.Context, ip string) error {
	key := ipBucketKey(ip)
	if key == "" {
		return nil
	}
	b := g.bucket
	b.Key = key
	wait, err := g.cfg.Throttle.TakeAttempt(ctx, g.cfg.Now(), []store.Bucket{b})
	if err != nil {
		return fmt.Errorf("clients: registration throttle: %w", err)
	}
	if wait > 0 {
		e := oauth.Errorf(429, oauth.SlowDown, "too many registration requests from this address; retry later")
		e.RetryAfter = int((wait + time.Second - 1) / time.Second)
		return e
	}
	return nil
}

// Register is the registration endpoint (RFC 7591 §3.1 → §3.2), in this
// order: the address's throttle; in token mode the initial access token is
// checked (invalid_token, 401, before anything of the request is judged:
// RFC 7591 §3 lets the server refuse an unauthorized caller, and one
// without a valid token must not learn which metadata would pass); then
// the body (req.Invalid), the admin API's validation and the Policy; and
// only then is one use of the token taken, atomically (a rejected request
// spends none; a token used up meanwhile by a parallel request is 401).
// The client id is generated.
func (g *Registrar) Register(ctx context.Context, req RegistrationRequest) (ClientInformation, error) {
	if err := g.throttle(ctx, req.RemoteIP); err != nil {
		return ClientInformation{}, err
	}
	if g.cfg.Mode == RegistrationToken {
		if err := g.checkInitial(ctx, req.Bearer); err != nil {
			return ClientInformation{}, err
		}
	}
	if req.Invalid != nil {
		return ClientInformation{}, req.Invalid
	}
	if req.SoftwareStatement != "" {
		return ClientInformation{}, oauth.New(oauth.UnapprovedSoftwareStatement, "software statements are not supported")
	}
	m := req.Metadata
	if m.ClientID != "" {
		return ClientInformation{}, metaErr("client_id is issued by the server (RFC 7591 §3.2.1)")
	}
	if req.ClientSecret != "" {
		return ClientInformation{}, metaErr("client_secret is issued by the server (RFC 7591 §3.2.1)")
	}
	g.defaults(&m)
	c, err := normalize(m)
	if err != nil {
		return ClientInformation{}, err
	}
	if err := g.allowed(m, c); err != nil {
		return ClientInformation{}, err
	}
	if g.cfg.Mode == RegistrationToken {
		if err := g.cfg.Tokens.UseRegistrationToken(ctx, g.initialDigest(req.Bearer)); err != nil {
			if errors.Is(err, store.ErrNotFound) {
				return ClientInformation{}, invalidToken("the initial access token is unknown, expired or used up").WithCause(err)
			}
			return ClientInformation{}, fmt.Errorf("clients: use initial access token: %w", err)
		}
	}
	access := newSecret()
	reg, err := g.cfg.Registry.create(ctx, m, func(c *store.Client) { c.RegistrationTokenDigest = g.accessDigest(access) })
	if err != nil {
		return ClientInformation{}, err
	}
	g.cfg.Logger.InfoContext(ctx, "client registered dynamically", "client_id", reg.ClientID)
	return ClientInformation{Registered: reg, RegistrationAccessToken: access}, nil
}

// checkInitial checks an initial access token without taking a use.
func (g *Registrar) checkInitial(ctx context.Context, bearer string) error {
	if bearer == "" {
		return invalidToken("an initial access token is required (Authorization: Bearer)")
	}
	err := g.cfg.Tokens.CheckRegistrationToken(ctx, g.initialDigest(bearer))
	switch {
	case errors.Is(err, store.ErrNotFound):
		return invalidToken("the initial access token is unknown, expired or used up").WithCause(err)
	case err != nil:
		return fmt.Errorf("clients: check initial access token: %w", err)
	}
	return nil
}

// defaults applies RFC 7591 §2's defaults where the admin API has its own
// (grant_types: authorization_code) and the Policy's default scope.
func (g *Registrar) defaults(m *Metadata) {
	if len(m.GrantTypes) == 0 {
		m.GrantTypes = []string{GrantAuthorizationCode}
	}
	if strings.TrimSpace(m.Scope) == "" {
		m.Scope = strings.Join(g.cfg.Policy.Scopes, " ")
	}
}

// allowed holds the normalized client c (from m) to the Policy, and
// refuses what only an operator may set.
func (g *Registrar) allowed(m Metadata, c store.Client) error {
	p := g.cfg.Policy
	switch {
	case m.SkipConsent:
		return metaErr("skip_consent is set by an operator only")
	case len(m.Audience) > 0:
		return metaErr("audience is set by an operator only")
	case m.TokenExchangeImpersonation || m.TokenExchangeRefresh:
		// RFC 8693 §5: who may act for whom is the server's policy.
		return metaErr("token_exchange_impersonation and token_exchange_refresh are set by an operator only")
	case c.TokenEndpointAuthMethod == AuthNone && !p.AllowPublicClients:
		return metaErr("public clients (token_endpoint_auth_method none) may not register here")
	}
	for _, gt := range c.GrantTypes {
		if !slices.Contains(p.GrantTypes, gt) {
			return metaErr("grant type %q may not be registered here (allowed: %s)", gt, strings.Join(p.GrantTypes, ", "))
		}
	}
	for _, s := range strings.Fields(c.Scope) {
		if !slices.Contains(p.Scopes, s) {
			return metaErr("scope %q may not be registered here (allowed: %s)", s, strings.Join(p.Scopes, " "))
		}
	}
	for _, uris := range [][]string{c.RedirectURIs, c.PostLogoutRedirectURIs} {
		for _, raw := range uris {
			u, _ := url.Parse(raw) // checkRedirects parsed it
			kind := RedirectPrivateUse
			if u.Scheme == "https" || u.Scheme == "http" {
				kind = u.Scheme
			}
			if !slices.Contains(p.RedirectKinds, kind) {
				return redirectErr("%q: %s redirect URIs may not be registered here (allowed: %s)", raw, kind, strings.Join(p.RedirectKinds, ", "))
			}
		}
	}
	return nil
}

// authorize returns the client id names if token is its registration
// access token (compared in constant time). Every failure is invalid_token
// (RFC 7592 §2.1: an unknown client is 401 too, so ids cannot be probed);
// a client the admin API registered has no token and cannot be managed.
func (g *Registrar) authorize(ctx context.Context, id, token string) (store.Client, error) {
	if token == "" {
		return store.Client{}, invalidToken("a registration access token is required (Authorization: Bearer)")
	}
	// From the store, not the cache: a token another replica rotated out
	// a moment ago must not work here.
	c, err := g.cfg.Registry.direct.GetClient(ctx, id)
	if errors.Is(err, store.ErrNotFound) {
		c = store.Client{}
	} else if err != nil {
		return store.Client{}, fmt.Errorf("clients: read client %q: %w", id, err)
	}
	want := c.RegistrationTokenDigest
	if len(want) == 0 {
		want = g.cfg.Registry.dummy // the same work for an unknown client
	}
	if !hmac.Equal(g.accessDigest(token), want) || len(c.RegistrationTokenDigest) == 0 {
		return store.Client{}, invalidToken("the registration access token is not valid for this client")
	}
	return c, nil
}

// Read is RFC 7592 §2.1: the client's current metadata. The secret and
// the registration access token are kept as digests and not shown again.
func (g *Registrar) Read(ctx context.Context, id string, req RegistrationRequest) (ClientInformation, error) {
	if err := g.throttle(ctx, req.RemoteIP); err != nil {
		return ClientInformation{}, err
	}
	c, err := g.authorize(ctx, id, req.Bearer)
	if err != nil {
		return ClientInformation{}, err
	}
	return ClientInformation{Registered: Registered{Metadata: metadataOf(c)}}, nil
}

// Update is RFC 7592 §2.2: the metadata is replaced as a whole, held to
// the same validation and Policy as a registration. A client_secret in the
// request must be the current one (a client cannot choose its secret).
// The registration access token is checked and rotated atomically with
// the write; the new one is returned and the old one stops working.
func (g *Registrar) Update(ctx context.Context, id string, req RegistrationRequest) (ClientInformation, error) {
	if err := g.throttle(ctx, req.RemoteIP); err != nil {
		return ClientInformation{}, err
	}
	if _, err := g.authorize(ctx, id, req.Bearer); err != nil {
		return ClientInformation{}, err
	}
	if req.Invalid != nil { // judged only for the client's own token
		return ClientInformation{}, req.Invalid
	}
	if req.SoftwareStatement != "" {
		return ClientInformation{}, oauth.New(oauth.UnapprovedSoftwareStatement, "software statements are not supported")
	}
	m := req.Metadata
	g.defaults(&m)
	presented := g.accessDigest(req.Bearer)
	access := newSecret()
	reg, err := g.cfg.Registry.replace(ctx, id, m, func(old store.Client, next *store.Client) error {
		// Checked again under the store's lock: a concurrent update that
		// rotated the token wins, and this one is refused.
		if len(old.RegistrationTokenDigest) == 0 || !hmac.Equal(presented, old.RegistrationTokenDigest) {
			return invalidToken("the registration access token is not valid for this client")
		}
		if req.ClientSecret != "" && (len(old.SecretDigest) == 0 || !hmac.Equal(g.cfg.Registry.digest(req.ClientSecret), old.SecretDigest)) {
			return metaErr("client_secret does not match the current secret; a client cannot choose its secret (RFC 7592 §2.2)")
		}
		if err := g.allowed(m, *next); err != nil {
			return err
		}
		next.RegistrationTokenDigest = g.accessDigest(access)
		return nil
	})
	if err != nil {
		if e := oauth.As(err); e != nil && e.Code == oauth.NotFound {
			return ClientInformation{}, invalidToken("the registration access token is not valid for this client")
		}
		return ClientInformation{}, err
	}
	return ClientInformation{Registered: reg, RegistrationAccessToken: access}, nil
}

// Delete is RFC 7592 §2.3: the client is deleted the way the admin API
// deletes one (its tokens end with it).
func (g *Registrar) Delete(ctx context.Context, id string, req RegistrationRequest) error {
	if err := g.throttle(ctx, req.RemoteIP); err != nil {
		return err
	}
	if _, err := g.authorize(ctx, id, req.Bearer); err != nil {
		return err
	}
	if err := g.cfg.Deleter.DeleteClient(ctx, id); err != nil {
		return err
	}
	g.cfg.Logger.InfoContext(ctx, "dynamically registered client deleted itself", "client_id", id)
	return nil
}

// ipBucketKey is the registration throttle's bucket of a client address:
// "reg:" and the address, or its /64 for IPv6 (one host usually holds a
// whole /64); input that is not an address is digested. "" for none.
func ipBucketKey(ip string) string {
	if ip == "" {
		return ""
	}
	a, err := netip.ParseAddr(ip)
	if err != nil {
		sum := sha256.Sum256([]byte(ip))
		return "reg?" + hex.EncodeToString(sum[:16])
	}
	a = a.Unmap().WithZone("")
	if a.Is6() {
		p, _ := a.Prefix(64)
		return "reg:" + p.String()
	}
	return "reg:" + a.String()
}
