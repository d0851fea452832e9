package clients

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rsa"
	"encoding/json"
	"net"
	"net/url"
	"slices"
	"strings"
	"unicode/utf8"

	"github.com/go-jose/go-jose/v4"

	"github.com/authd-dev/authd/keys"
	"github.com/authd-dev/authd/oauth"
	"github.com/authd-dev/authd/store"
)

// Token endpoint authentication methods (RFC 7591 §2, RFC 7523 §2.2).
// Declared once in package oauth.
const (
	AuthBasic         = oauth.AuthClientSecretBasic
	AuthPost          = oauth.AuthClientSecretPost
	AuthPrivateKeyJWT = oauth.AuthPrivateKeyJWT
	AuthSecretJWT     = oauth.AuthClientSecretJWT
	AuthNone          = oauth.AuthNone
)

// Grant types a client may register (RFC 7591 §2; declared in package oauth).
const (
	GrantClientCredentials = oauth.GrantClientCredentials
	GrantPassword          = oauth.GrantPassword
	GrantRefreshToken      = oauth.GrantRefreshToken
	GrantAuthorizationCode = oauth.GrantAuthorizationCode
	GrantTokenExchange     = oauth.GrantTokenExchange
)

// Limits on client metadata.
const (
	MaxClientIDLen   = 128
	MaxClientNameLen = 200 // characters
	minRSABits       = 2048
)

// Metadata is a client as the admin API reads and writes it: RFC 7591 §2
// names plus authd's extensions (audience, access_token_signing_alg,
// skip_consent). It never holds a secret. ResponseTypes is derived: ["code"]
// when the authorization_code grant is allowed.
type Metadata struct {
	ClientID                string          `json:"client_id,omitempty"`
	ClientIDIssuedAt        int64           `json:"client_id_issued_at,omitempty"`
	ClientName              string          `json:"client_name,omitempty"`
	LogoURI                 string          `json:"logo_uri,omitempty"`
	PolicyURI               string          `json:"policy_uri,omitempty"`
	TOSURI                  string          `json:"tos_uri,omitempty"`
	GrantTypes              []string        `json:"grant_types,omitempty"`
	ResponseTypes           []string        `json:"response_types,omitempty"`
	RedirectURIs            []string        `json:"redirect_uris,omitempty"`
	PostLogoutRedirectURIs  []string        `json:"post_logout_redirect_uris,omitempty"`
	Scope                   string          `json:"scope,omitempty"`
	TokenEndpointAuthMethod string          `json:"token_endpoint_auth_method,omitempty"`
	JWKS                    json.RawMessage `json:"jwks,omitempty"`
	JWKSURI                 string          `json:"jwks_uri,omitempty"`
	IDTokenSignedAlg        string          `json:"id_token_signed_response_alg,omitempty"`
	Audience                []string        `json:"audience,omitempty"`
	AccessTokenSigningAlg   string          `json:"access_token_signing_alg,omitempty"`
	SkipConsent             bool            `json:"skip_consent,omitempty"`
	// DPoPBoundAccessTokens is RFC 9449 §5.2: the client always uses DPoP
	// at the token endpoint.
	DPoPBoundAccessTokens bool `json:"dpop_bound_access_tokens,omitempty"`
	// OIDC Back-Channel Logout 1.0 §2.2 and Front-Channel Logout 1.0 §2
	// (see logoutURIs).
	BackchannelLogoutURI             string `json:"backchannel_logout_uri,omitempty"`
	BackchannelLogoutSessionRequired bool   `json:"backchannel_logout_session_required,omitempty"`
	FrontchannelLogoutURI            string `json:"frontchannel_logout_uri,omitempty"`
	// RequirePushedAuthorizationRequests: the authorization endpoint takes
	// this client's requests only through a pushed request_uri (RFC 9126 §6).
	RequirePushedAuthorizationRequests bool `json:"require_pushed_authorization_requests,omitempty"`
	// Token exchange policy (RFC 8693; see store.Client).
	TokenExchangeImpersonation bool `json:"token_exchange_impersonation,omitempty"`
	TokenExchangeRefresh       bool `json:"token_exchange_refresh,omitempty"`
	// FrontchannelLogoutSessionRequired: the front-channel logout URI is
	// loaded with iss and sid (Front-Channel Logout 1.0 §2).
	FrontchannelLogoutSessionRequired bool `json:"frontchannel_logout_session_required,omitempty"`
}

// Registered is the answer to a registration, a secret reset, or a
// replacement that created a secret: the metadata and, shown only here, the
// secret (RFC 7591 §3.2.1).
type Registered struct {
	Metadata
	ClientSecret string `json:"client_secret,omitempty"`
	// ClientSecretExpiresAt is 0: secrets do not expire (RFC 7591 §3.2.1).
	// It is sent only together with a secret.
	ClientSecretExpiresAt int64 `json:"client_secret_expires_at"`
}

// MarshalJSON leaves client_secret_expires_at out when there is no secret:
// RFC 7591 §3.2.1 requires it only if client_secret is issued.
func (r Registered) MarshalJSON() ([]byte, error) {
	type plain Registered // without this method
	if r.ClientSecret != "" {
		return json.Marshal(plain(r))
	}
	return json.Marshal(struct {
		plain
		// Shallower than plain's field, so it hides it; nil, so omitted.
		ClientSecretExpiresAt *int64 `json:"client_secret_expires_at,omitempty"`
	}{plain: plain(r)})
}

func metaErr(format string, args ...any) *oauth.Error {
	return oauth.New(oauth.InvalidClientMetadata, format, args...)
}

func redirectErr(format string, args ...any) *oauth.Error {
	return oauth.New(oauth.InvalidRedirectURI, format, args...)
}

// normalize validates m (RFC 7591 §2; error codes of §3.2.2), fills the
// defaults and returns the record it describes (without ID defaults,
// timestamps or secret).
func normalize(m Metadata) (store.Client, error) {
	c := store.Client{
		ID: m.ClientID, Name: m.ClientName, JWKSURI: m.JWKSURI,
		LogoURI: m.LogoURI, PolicyURI: m.PolicyURI, TOSURI: m.TOSURI,
		IDTokenSignedAlg: m.IDTokenSignedAlg, AccessTokenSigningAlg: m.AccessTokenSigningAlg,
		SkipConsent: m.SkipConsent, TokenEndpointAuthMethod: m.TokenEndpointAuthMethod,
		BackchannelLogoutURI: m.BackchannelLogoutURI, BackchannelLogoutSessionRequired: m.BackchannelLogoutSessionRequired,
		FrontchannelLogoutURI: m.FrontchannelLogoutURI, FrontchannelLogoutSessionRequired: m.FrontchannelLogoutSessionRequired,
		RequirePushedAuthorizationRequests: m.RequirePushedAuthorizationRequests,
		TokenExchangeImpersonation:         m.TokenExchangeImpersonation, TokenExchangeRefresh: m.TokenExchangeRefresh,
		DPoPBoundAccessTokens: m.DPoPBoundAccessTokens,
	}
	if utf8.RuneCountInString(c.Name) > MaxClientNameLen || !utf8.ValidString(c.Name) {
		return c, metaErr("client_name must be valid UTF-8 of at most %d characters", MaxClientNameLen)
	}
	if err := checkPageURIs(m); err != nil {
		return c, err
	}
	if err := checkLogoutURIs(m); err != nil {
		return c, err
	}
	if c.ID != "" && !ValidClientID(c.ID) {
		return c, metaErr("client_id must be 1 to %d visible ASCII characters without spaces", MaxClientIDLen)
	}

	c.GrantTypes = dedupe(m.GrantTypes)
	if len(c.GrantTypes) == 0 {
		c.GrantTypes = []string{GrantClientCredentials}
	}
	for _, g := range c.GrantTypes {
		if !slices.Contains(oauth.GrantTypes(), g) {
			return c, metaErr("unknown grant type %q", g)
		}
	}
	has := func(g string) bool { return slices.Contains(c.GrantTypes, g) }
	if has(GrantRefreshToken) && !has(GrantPassword) && !has(GrantAuthorizationCode) && !has(oauth.GrantDeviceCode) && !c.TokenExchangeRefresh {
		return c, metaErr("refresh_token needs password, authorization_code, the device grant or token_exchange_refresh: nothing else issues refresh tokens")
	}
	// response_types is derived; a caller may echo the derived value back.
	for _, rt := range m.ResponseTypes {
		if rt != "code" || !has(GrantAuthorizationCode) {
			return c, metaErr("response_types: only \"code\", and only with the authorization_code grant")
		}
	}

	if c.TokenEndpointAuthMethod == "" {
		c.TokenEndpointAuthMethod = AuthBasic
	}
	switch c.TokenEndpointAuthMethod {
	case AuthBasic, AuthPost, AuthPrivateKeyJWT, AuthSecretJWT, AuthNone:
	default:
		return c, metaErr("unknown token_endpoint_auth_method %q", c.TokenEndpointAuthMethod)
	}
	if c.TokenEndpointAuthMethod == AuthNone && has(GrantClientCredentials) {
		return c, metaErr("a public client (token_endpoint_auth_method none) cannot use client_credentials")
	}
	if err := checkTokenExchange(c); err != nil {
		return c, err
	}
	if err := checkKeys(&c, m.JWKS); err != nil {
		return c, err
	}
	for _, alg := range []struct{ field, v string }{
		{"id_token_signed_response_alg", c.IDTokenSignedAlg},
		{"access_token_signing_alg", c.AccessTokenSigningAlg},
	} {
		if alg.v != "" && !slices.Contains(keys.Algorithms(), alg.v) {
			return c, metaErr("%s must be one of %s, not %q", alg.field, strings.Join(keys.Algorithms(), ", "), alg.v)
		}
	}

	var err error
	if c.RedirectURIs, err = checkRedirects("redirect_uris", m.RedirectURIs); err != nil {
		return c, err
	}
	if c.PostLogoutRedirectURIs, err = checkRedirects("post_logout_redirect_uris", m.PostLogoutRedirectURIs); err != nil {
		return c, err
	}
	if c.RequirePushedAuthorizationRequests && !has(GrantAuthorizationCode) {
		// RFC 9126 §6 governs authorization requests: without the
		// authorization_code grant the client makes none.
		return c, metaErr("require_pushed_authorization_requests needs the authorization_code grant")
	}
	if has(GrantAuthorizationCode) && len(c.RedirectURIs) == 0 {
		return c, redirectErr("the authorization_code grant needs at least one redirect_uri")
	}
	if c.Scope, err = checkScope(m.Scope); err != nil {
		return c, err
	}
	for _, a := range m.Audience {
		if a == "" || strings.ContainsFunc(a, func(r rune) bool { return r <= ' ' || r == 0x7f }) {
			return c, metaErr("audience entries must be non-empty and without spaces, not %q", a)
		}
	}
	c.Audience = dedupe(m.Audience)
	return c, nil
}

// checkTokenExchange validates the token-exchange policy fields: they
// need the grant (RFC 8693), token_exchange_refresh also the refresh_token
// grant that uses what it issues; a public client may not exchange tokens
// (the policy binds subject tokens to an authenticated client).
func checkTokenExchange(c store.Client) error {
	has := func(g string) bool { return slices.Contains(c.GrantTypes, g) }
	switch {
	case (c.TokenExchangeImpersonation || c.TokenExchangeRefresh) && !has(GrantTokenExchange):
		return metaErr("token_exchange_impersonation and token_exchange_refresh need the %s grant", GrantTokenExchange)
	case c.TokenExchangeRefresh && !has(GrantRefreshToken):
		return metaErr("token_exchange_refresh needs the refresh_token grant")
	case has(GrantTokenExchange) && c.TokenEndpointAuthMethod == AuthNone:
		return metaErr("a public client (token_endpoint_auth_method none) cannot use token exchange")
	}
	return nil
}

// checkKeys validates jwks / jwks_uri: only for private_key_jwt, which needs
// exactly one of them (RFC 7591 §2). The JWK set must hold public RSA
// (≥ 2048 bits) or P-256 keys: the keys RS256 and ES256 verify with.
func checkKeys(c *store.Client, raw json.RawMessage) error {
	hasJWKS := len(raw) > 0 && string(raw) != "null"
	if c.TokenEndpointAuthMethod != AuthPrivateKeyJWT {
		if hasJWKS || c.JWKSURI != "" {
			return metaErr("jwks and jwks_uri are only for private_key_jwt")
		}
		return nil
	}
	if hasJWKS == (c.JWKSURI != "") {
		return metaErr("private_key_jwt needs exactly one of jwks and jwks_uri")
	}
	if c.JWKSURI != "" {
		u, err := url.Parse(c.JWKSURI)
		if err != nil || u.Scheme != "https" || u.Host == "" || u.Fragment != "" {
			return metaErr("jwks_uri must be an absolute https URL")
		}
		return nil
	}
	var set jose.JSONWebKeySet
	if err := json.Unmarshal(raw, &set); err != nil || len(set.Keys) == 0 {
		return metaErr("jwks is not a JWK set with at least one key")
	}
	for i := range set.Keys {
		k := &set.Keys[i]
		if !k.IsPublic() || !k.Valid() {
			return metaErr("jwks must hold public keys only")
		}
		switch pub := k.Key.(type) {
		case *rsa.PublicKey:
			if pub.N.BitLen() < minRSABits {
				return metaErr("jwks: RSA keys must have at least %d bits", minRSABits)
			}
		case *ecdsa.PublicKey:
			if pub.Curve != elliptic.P256() {
				return metaErr("jwks: EC keys must be on P-256 (ES256)")
			}
		default:
			return metaErr("jwks: only RSA (RS256) and P-256 (ES256) keys are accepted")
		}
		if k.Use != "" && k.Use != "sig" {
			return metaErr("jwks: key use must be \"sig\"")
		}
		if k.Algorithm != "" && k.Algorithm != string(jose.RS256) && k.Algorithm != string(jose.ES256) {
			return metaErr("jwks: key alg must be RS256 or ES256, not %q", k.Algorithm)
		}
	}
	c.JWKS = append([]byte(nil), raw...)
	return nil
}

// checkRedirects validates redirect URIs and deduplicates them: absolute,
// without a fragment (RFC 6749 §3.1.2); https, except http on a loopback
// host (RFC 8252 §7.3) and private-use schemes with a dot, like
// com.example.app:/cb (RFC 8252 §7.1).
func checkRedirects(field string, uris []string) ([]string, error) {
	for _, raw := range uris {
		u, err := url.Parse(raw)
		if err != nil || !u.IsAbs() || strings.Contains(raw, "#") {
			return nil, redirectErr("%s: %q must be an absolute URI without a fragment", field, raw)
		}
		switch {
		case u.Scheme == "https" && u.Host != "":
		case u.Scheme == "http" && u.Host != "" && isLoopback(u.Hostname()):
		case strings.Contains(u.Scheme, "."):
		default:
			return nil, redirectErr("%s: %q must use https (http only on a loopback host, or a private-use scheme like com.example.app:/cb)", field, raw)
		}
	}
	return dedupe(uris), nil
}

// isLoopback: localhost, 127.0.0.0/8 or ::1 (RFC 8252 §7.3, §8.3).
func isLoopback(host string) bool {
	if host == "localhost" {
		return true
	}
	ip := net.ParseIP(host)
	return ip != nil && ip.IsLoopback()
}

// checkScope validates space-separated scope tokens (RFC 6749 §3.3:
// scope-token = 1*NQCHAR, NQCHAR = %x21 / %x23-5B / %x5D-7E) and removes
// duplicates, keeping the first occurrence's order.
func checkScope(scope string) (string, error) {
	var out []string
	for _, s := range strings.Split(scope, " ") {
		if s == "" {
			continue
		}
		for i := 0; i < len(s); i++ {
			if c := s[i]; c < 0x21 || c == '"' || c == '\\' || c > 0x7e {
				return "", metaErr("malformed scope token %q", s)
			}
		}
		if !slices.Contains(out, s) {
			out = append(out, s)
		}
	}
	return strings.Join(out, " "), nil
}

// ValidNewClientID reports whether id may be given to a new client: 1 to
// 128 RFC 3986 §2.3 unreserved characters (ALPHA, DIGIT, "-", ".", "_",
// "~"), and not "." or ".." (dot segments, RFC 3986 §5.2.4). Such an id
// is the same in a URL path, a form and Basic credentials, so every admin
// route can name it. Ids stored by older versions only need ValidClientID.
func ValidNewClientID(id string) bool {
	if id == "" || len(id) > MaxClientIDLen || id == "." || id == ".." {
		return false
	}
	for i := 0; i < len(id); i++ {
		switch c := id[i]; {
		case 'a' <= c && c <= 'z', 'A' <= c && c <= 'Z', '0' <= c && c <= '9':
		case c == '-', c == '.', c == '_', c == '~':
		default:
			return false
		}
	}
	return true
}

// ValidClientID reports whether id is 1 to 128 VSCHARs (RFC 6749 §A.1)
// other than space. Characters like ':' and '%' are allowed: in HTTP Basic
// credentials the id is form-urlencoded (RFC 6749 §2.3.1).
func ValidClientID(id string) bool {
	if id == "" || len(id) > MaxClientIDLen {
		return false
	}
	for i := 0; i < len(id); i++ {
		if c := id[i]; c < 0x21 || c > 0x7e {
			return false
		}
	}
	return true
}

func dedupe(in []string) []string {
	var out []string
	for _, s := range in {
		if !slices.Contains(out, s) {
			out = append(out, s)
		}
	}
	return out
}

// metadataOf is the admin view of a stored client.
func metadataOf(c store.Client) Metadata {
	m := Metadata{
		ClientID: c.ID, ClientName: c.Name, GrantTypes: c.GrantTypes,
		LogoURI: c.LogoURI, PolicyURI: c.PolicyURI, TOSURI: c.TOSURI,
		RedirectURIs: c.RedirectURIs, PostLogoutRedirectURIs: c.PostLogoutRedirectURIs, Scope: c.Scope,
		TokenEndpointAuthMethod: c.TokenEndpointAuthMethod, JWKSURI: c.JWKSURI, IDTokenSignedAlg: c.IDTokenSignedAlg,
		Audience: c.Audience, AccessTokenSigningAlg: c.AccessTokenSigningAlg, SkipConsent: c.SkipConsent,
		BackchannelLogoutURI: c.BackchannelLogoutURI, BackchannelLogoutSessionRequired: c.BackchannelLogoutSessionRequired,
		FrontchannelLogoutURI: c.FrontchannelLogoutURI, FrontchannelLogoutSessionRequired: c.FrontchannelLogoutSessionRequired,
		RequirePushedAuthorizationRequests: c.RequirePushedAuthorizationRequests,
		TokenExchangeImpersonation:         c.TokenExchangeImpersonation, TokenExchangeRefresh: c.TokenExchangeRefresh,
		DPoPBoundAccessTokens: c.DPoPBoundAccessTokens,
	}
	if !c.IssuedAt.IsZero() {
		m.ClientIDIssuedAt = c.IssuedAt.Unix()
	}
	if len(c.JWKS) > 0 {
		m.JWKS = json.RawMessage(c.JWKS)
	}
	if slices.Contains(c.GrantTypes, GrantAuthorizationCode) {
		m.ResponseTypes = []string{"code"}
	}
	return m
}
