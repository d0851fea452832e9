// Package tokens issues tokens: the grant registry behind the token endpoint
// (RFC 6749 §3.2), access tokens per RFC 9068, and refresh-token families
// with rotation and reuse detection.
//
// The token endpoint's shared steps are owned here, centrally, so that no
// grant can forget them: the client must be allowed the grant type
// (unauthorized_client), and the requested scope and audience are checked
// against the client before a grant runs.
package tokens

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/url"
	"slices"
	"strings"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/authd-dev/authd/oauth"
	"github.com/authd-dev/authd/store"
)

// Grant types of RFC 6749 and RFC 8693 (declared once in package oauth).
const (
	GrantClientCredentials = oauth.GrantClientCredentials
	GrantPassword          = oauth.GrantPassword
	GrantRefreshToken      = oauth.GrantRefreshToken
	GrantAuthorizationCode = oauth.GrantAuthorizationCode
	GrantTokenExchange     = oauth.GrantTokenExchange
)

// Signer signs a JSON payload as a compact JWS with the active key of alg.
type Signer interface {
	Sign(alg, typ string, payload []byte) (token, kid string, err error)
}

// Families is the part of the store that keeps refresh-token families.
type Families interface {
	CreateFamily(ctx context.Context, f store.Family) error
	GetFamily(ctx context.Context, id string) (store.Family, error)
	RotateRefresh(ctx context.Context, r store.Rotation) (store.RotateResult, error)
	RevokeFamily(ctx context.Context, id string) error
}

// DenyWriter records access-token revocations.
type DenyWriter interface {
	Deny(ctx context.Context, d store.Denial) error
}

// Users logs resource owners in (throttled, within the hashing budget:
// users.Service.Login) and reads their current record.
type Users interface {
	Login(ctx context.Context, username, password, remoteIP string) (store.User, error)
	Lookup(ctx context.Context, id string) (store.User, error)
}

// SecurityEvent is reported when a refresh token is reused.
type SecurityEvent struct {
	Type     string    `json:"type"` // "refresh_token_reuse"
	ClientID string    `json:"client_id"`
	Subject  string    `json:"sub,omitempty"`
	FamilyID string    `json:"sid"`
	SourceIP string    `json:"source_ip,omitempty"`
	Time     time.Time `json:"time"`
}

// Config configures a Service. internal/config is the one source of
// defaults: New fills none of these, it rejects missing or invalid values.
type Config struct {
	Issuer          string   // absolute URL without a trailing slash
	DefaultAudience []string // aud when neither request nor client names one
	DefaultAlg      string   // RS256 or ES256

	AccessTokenTTL          time.Duration // > 0
	IDTokenTTL              time.Duration // > 0
	RefreshTokenTTL         time.Duration // idle lifetime, > 0
	RefreshTokenMaxLifetime time.Duration // absolute lifetime of a family, ≥ RefreshTokenTTL
	// RefreshReuseLeeway is how long after a rotation the previous refresh
	// token counts as a retry; 0: never (every replay is reuse).
	RefreshReuseLeeway time.Duration
	// RefreshReuseMaxRetries bounds the retries honoured inside the leeway;
	// 0: none (the leeway then has no effect).
	RefreshReuseMaxRetries int

	// RefreshMACKeys authenticate refresh tokens: the first signs, all
	// verify (the second is the key derived from the previous KEK).
	RefreshMACKeys [][]byte
	// CodeKey seals authorization codes and pending authorization
	// requests (32 bytes, derived from the KEK).
	CodeKey []byte

	Signer   Signer   // required
	Families Families // required
	Deny     DenyWriter
	// DenyReader is required: introspection reads the denylist, and a
	// revoked login's "sid" entry is checked (and completed) through it.
	DenyReader DenyReader
	// Verifier serves introspection and revocation of access tokens;
	// without one no access token is ever active.
	Verifier Verifier
	Users    Users // required: the password and refresh grants read users

	// DPoP configures sender-constrained tokens (dpop.go; zero: off).
	DPoP DPoPConfig
	// Devices keeps device authorizations (RFC 8628); nil: the device
	// grant is off. DeviceCodeTTL (expires_in) and DevicePollInterval
	// (interval) are then required, positive, whole seconds.
	Devices            Devices
	DeviceCodeTTL      time.Duration
	DevicePollInterval time.Duration
	// DeviceThrottle limits device authorization requests per client and,
	// for public clients, per address (device_throttle.go).
	DeviceThrottle DeviceThrottle
	// Sessions reads SSO sessions, so that a device approved in a session
	// that was logged out before the device's first successful poll gets
	// no tokens (its login would otherwise begin after the logout ended
	// the session's logins); nil: not checked.
	Sessions SessionReader
	// DenyMirrorStaleness, if positive, lets introspection answer from a
	// local copy of the denylist that follows DenyFeed (RunDenyMirror)
	// and is never staler than this; when it is, introspection reads the
	// store. 0: every introspection reads the store.
	DenyMirrorStaleness time.Duration
	DenyFeed            DenyFeed

	// OnSecurityEvent, if set, is called (synchronously; keep it cheap) for
	// every refresh-token reuse, after the family has been revoked.
	OnSecurityEvent func(SecurityEvent)

	Registerer prometheus.Registerer
	Now        func() time.Time
	Logger     *slog.Logger
}

// Request is one token request from an authenticated client.
type Request struct {
	Client   store.Client
	Form     url.Values
	RemoteIP string
	// DPoP is the request's DPoP proof (RFC 9449 §4; none: a bearer
	// token), with htm POST and htu the token endpoint under the issuer.
	DPoP DPoPRequest
}

// Response is the successful token response of RFC 6749 §5.1.
type Response struct {
	AccessToken  string `json:"access_token"`
	TokenType    string `json:"token_type"`
	ExpiresIn    int64  `json:"expires_in"`
	RefreshToken string `json:"refresh_token,omitempty"`
	Scope        string `json:"scope,omitempty"`
	IDToken      string `json:"id_token,omitempty"`
	// IssuedTokenType is set by token exchange (RFC 8693 §2.2.1).
	IssuedTokenType string `json:"issued_token_type,omitempty"`
	// DPoPNonce, when set, is sent as a DPoP-Nonce header: the nonce the
	// client's next proof must carry (RFC 9449 §8).
	DPoPNonce string `json:"-"`
}

// grantFunc runs one grant after the shared checks. scope and audience are
// the checked values of the request (empty when the request named none).
type grantFunc func(ctx context.Context, req *Request, scope string, audience []string) (*Response, error)

// Service issues tokens.
type Service struct {
	cfg      Config
	grants   map[string]grantFunc
	metrics  *metrics
	verified *verifiedCache
	codes    *sealer
	mirror   *denyMirror // nil without DenyMirrorStaleness
	families *familyCache
}

// Errors of New.
var (
	// ErrInvalidConfig: a Config value is missing or out of range.
	ErrInvalidConfig = errors.New("tokens: invalid configuration")
)

// New validates cfg and returns a Service. It fills no defaults (those
// come from internal/config); an invalid value is an error.
func New(cfg Config) (*Service, error) {
	if err := cfg.validate(); err != nil {
		return nil, err
	}
	if err := cfg.DPoP.validate(); err != nil {
		return nil, err
	}
	cfg.DPoP.Algorithms = slices.Clone(cfg.DPoP.Algorithms)
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.Default()
	}
	codes, err := newSealer(cfg.CodeKey)
	if err != nil {
		return nil, err
	}
	cfg.DefaultAudience = slices.Clone(cfg.DefaultAudience)
	s := &Service{cfg: cfg, metrics: newMetrics(cfg.Registerer), verified: newVerifiedCache(100_000), codes: codes,
		families: newFamilyCache(familyCacheSize)}
	if cfg.DenyMirrorStaleness > 0 {
		s.mirror = newDenyMirror(cfg.DenyFeed, cfg.DenyMirrorStaleness, cfg.Now, cfg.Logger)
		s.cfg.Deny = mirroredDeny{DenyWriter: cfg.Deny, m: s.mirror}
	}
	s.grants = map[string]grantFunc{
		GrantClientCredentials: s.clientCredentials,
		GrantRefreshToken:      s.refresh,
		GrantPassword:          s.password,
		GrantAuthorizationCode: s.authorizationCode,
		GrantTokenExchange:     s.tokenExchange,
	}
	if cfg.Devices != nil {
		s.grants[GrantDeviceCode] = s.deviceCode
	}
	return s, nil
}

func (cfg *Config) validate() error {
	bad := func(format string, args ...any) error {
		return fmt.Errorf("%w: "+format, append([]any{ErrInvalidConfig}, args...)...)
	}
	switch {
	case cfg.Issuer == "":
		return bad("Issuer is required")
	case strings.HasSuffix(cfg.Issuer, "/"):
		return bad("Issuer %q must not end in a slash", cfg.Issuer)
	case len(cfg.DefaultAudience) == 0 || slices.Contains(cfg.DefaultAudience, ""):
		return bad("DefaultAudience is required")
	case cfg.DefaultAlg != oauth.AlgRS256 && cfg.DefaultAlg != oauth.AlgES256:
		return bad("DefaultAlg must be RS256 or ES256, got %q", cfg.DefaultAlg)
	case cfg.Signer == nil || cfg.Families == nil || cfg.Deny == nil || cfg.DenyReader == nil || cfg.Users == nil:
		return bad("Signer, Families, Deny, DenyReader and Users are required")
	case len(cfg.RefreshMACKeys) == 0 || len(cfg.RefreshMACKeys[0]) < 32:
		return bad("a refresh MAC key of at least 32 bytes is required")
	case len(cfg.CodeKey) != 32:
		return bad("a 32-byte CodeKey is required")
	case cfg.AccessTokenTTL <= 0 || cfg.IDTokenTTL <= 0 || cfg.RefreshTokenTTL <= 0 || cfg.RefreshTokenMaxLifetime <= 0:
		return bad("AccessTokenTTL, IDTokenTTL, RefreshTokenTTL and RefreshTokenMaxLifetime must be positive")
	case cfg.RefreshTokenMaxLifetime < cfg.RefreshTokenTTL:
		return bad("RefreshTokenMaxLifetime (%s) is shorter than RefreshTokenTTL (%s)", cfg.RefreshTokenMaxLifetime, cfg.RefreshTokenTTL)
	case cfg.RefreshReuseLeeway < 0:
		return bad("RefreshReuseLeeway must not be negative, got %s", cfg.RefreshReuseLeeway)
	case cfg.RefreshReuseMaxRetries < 0:
		return bad("RefreshReuseMaxRetries must not be negative, got %d", cfg.RefreshReuseMaxRetries)
	case cfg.Devices != nil && (cfg.DeviceCodeTTL < time.Second || cfg.DevicePollInterval < time.Second ||
		cfg.DeviceCodeTTL%time.Second != 0 || cfg.DevicePollInterval%time.Second != 0):
		return bad("DeviceCodeTTL and DevicePollInterval must be whole seconds, at least 1s, got %s and %s", cfg.DeviceCodeTTL, cfg.DevicePollInterval)
	case cfg.DenyMirrorStaleness < 0 || cfg.DenyMirrorStaleness > 0 && cfg.DenyFeed == nil:
		return bad("DenyMirrorStaleness must not be negative, and needs a DenyFeed")
	}
	if err := cfg.DeviceThrottle.validate(); err != nil {
		return bad("%v", err)
	}
	return nil
}

// GrantTypes lists the grant types this service handles.
func (s *Service) GrantTypes() []string {
	out := make([]string, 0, len(s.grants))
	for _, g := range oauth.GrantTypes() {
		if _, ok := s.grants[g]; ok {
			out = append(out, g)
		}
	}
	return out
}

// Token handles a token request (RFC 6749 §3.2) from an authenticated
// client: it runs the shared checks, then the grant.
func (s *Service) Token(ctx context.Context, req *Request) (*Response, error) {
	gt := req.Form.Get("grant_type")
	if gt == "" {
		return nil, oauth.New(oauth.InvalidRequest, "grant_type is required")
	}
	grant, ok := s.grants[gt]
	if !ok {
		return nil, oauth.New(oauth.UnsupportedGrantType, "grant type %q is not supported", gt)
	}
	if !contains(req.Client.GrantTypes, gt) {
		return nil, oauth.New(oauth.UnauthorizedClient, "the client is not allowed the grant type %q", gt)
	}
	if err := singleValued(req.Form, "grant_type", "scope", "username", "password", "refresh_token", "code", "redirect_uri", "code_verifier", "device_code"); err != nil {
		return nil, err
	}
	scope, err := checkScope(req.Form.Get("scope"), req.Client.Scope)
	if err != nil {
		return nil, err
	}
	audience, err := checkAudience(req.Form, req.Client.Audience)
	if err != nil {
		return nil, err
	}
	// RFC 9449 §5: a DPoP proof binds every access token of the answer,
	// whatever the grant; a client registered with
	// dpop_bound_access_tokens must send one (§5.2).
	proof, err := s.checkProof(ctx, req.DPoP, true)
	if err != nil {
		return nil, err
	}
	if proof.JKT == "" && req.Client.DPoPBoundAccessTokens {
		return nil, invalidProof("this client must send a DPoP proof (dpop_bound_access_tokens)")
	}
	resp, err := grant(withJKT(ctx, proof.JKT), req, scope, audience)
	if err != nil {
		return nil, err
	}
	if proof.JKT != "" && resp.TokenType == TokenTypeBearer {
		// Only an access token is bound: a token exchange answering a
		// refresh token (token_type N_A) keeps its type.
		resp.TokenType = TokenTypeDPoP
	}
	resp.DPoPNonce = proof.Nonce
	s.metrics.issued.WithLabelValues(gt).Inc()
	return resp, nil
}

// singleValued enforces RFC 6749 §3.2: request parameters must not be
// included more than once.
func singleValued(form url.Values, names ...string) error {
	for _, n := range names {
		if len(form[n]) > 1 {
			return oauth.New(oauth.InvalidRequest, "parameter %q is repeated", n)
		}
	}
	return nil
}

// checkScope validates the requested scope (RFC 6749 §3.3) against the
// scopes the client may ask for and returns it normalised. An empty
// request means the client's registered scope.
func checkScope(requested, allowed string) (string, error) {
	if requested == "" {
		return allowed, nil
	}
	allowedSet := strings.Fields(allowed)
	var out []string
	for _, s := range strings.Split(requested, " ") {
		if s == "" {
			continue // tolerate doubled spaces
		}
		if !validScopeToken(s) {
			return "", oauth.New(oauth.InvalidScope, "malformed scope %q", s)
		}
		if !contains(allowedSet, s) {
			return "", oauth.New(oauth.InvalidScope, "scope %q is not allowed for this client", s)
		}
		if !contains(out, s) {
			out = append(out, s)
		}
	}
	return strings.Join(out, " "), nil
}

// validScopeToken: scope-token = 1*( %x21 / %x23-5B / %x5D-7E ).
func validScopeToken(s string) bool {
	for i := 0; i < len(s); i++ {
		c := s[i]
		if c < 0x21 || c == 0x22 || c == 0x5c || c > 0x7e {
			return false
		}
	}
	return s != ""
}

// narrowScope checks that requested is within granted (RFC 6749 §6: a
// refresh may narrow scope, never widen it).
func narrowScope(requested, granted string) (string, error) {
	if requested == "" {
		return granted, nil
	}
	return checkScope(requested, granted)
}

// checkAudience reads the requested audiences ("audience", and RFC 8707
// "resource") and checks each is allowed for the client (invalid_target).
func checkAudience(form url.Values, allowed []string) ([]string, error) {
	var req []string
	req = append(req, form["audience"]...)
	req = append(req, form["resource"]...)
	if len(req) == 0 {
		return nil, nil
	}
	var out []string
	for _, a := range req {
		for _, a := range strings.Fields(a) {
			if !contains(allowed, a) {
				return nil, oauth.New(oauth.InvalidTarget, "audience %q is not allowed for this client", a)
			}
			if !contains(out, a) {
				out = append(out, a)
			}
		}
	}
	return out, nil
}

func contains(list []string, s string) bool {
	for _, v := range list {
		if v == s {
			return true
		}
	}
	return false
}

// storeError maps a store failure to the OAuth error the client sees.
func storeError(err error, what string) error {
	if errors.Is(err, store.ErrUnavailable) {
		e := oauth.New(oauth.TemporarilyUnavailable, "the token store is unavailable, retry later").WithCause(err)
		e.RetryAfter = 1
		return e
	}
	return fmt.Errorf("%s: %w", what, err)
}
