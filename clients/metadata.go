package clients

import (
	"encoding/json"
	"net"
	"net/url"
	"slices"
	"strings"
	"unicode/utf8"

	"github.com/go-jose/go-jose/v4"

	"github.com/authd-dev/authd/oauth"
	"github.com/authd-dev/authd/store"
)

// Token endpoint authentication methods (RFC 7591 §2).
const (
	AuthBasic         = "client_secret_basic"
	AuthPost          = "client_secret_post"
	AuthPrivateKeyJWT = "private_key_jwt"
	AuthNone          = "none"
)

// Known grant types, auth methods and signing algorithms.
var (
	grantTypes  = []string{"client_credentials", "password", "refresh_token", "authorization_code"}
	authMethods = []string{AuthBasic, AuthPost, AuthPrivateKeyJWT, AuthNone}
	signingAlgs = []string{"RS256", "ES256"}
)

// Metadata is a client as the admin API reads and writes it: RFC 7591 §2
// names plus authd's extensions. It never holds a secret.
type Metadata struct {
	ClientID                string          `json:"client_id,omitempty"`
	ClientIDIssuedAt        int64           `json:"client_id_issued_at,omitempty"`
	ClientName              string          `json:"client_name,omitempty"`
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
}

// Registered is the answer to a registration or a secret reset: the
// metadata and, shown only here, the secret (RFC 7591 §3.2.1).
type Registered struct {
	Metadata
	ClientSecret string `json:"client_secret,omitempty"`
	// ClientSecretExpiresAt is 0: secrets do not expire. Sent with a secret.
	ClientSecretExpiresAt *int64 `json:"client_secret_expires_at,omitempty"`
}

func metaErr(format string, args ...any) error {
	return oauth.New(oauth.InvalidClientMetadata, format, args...)
}

// normalize validates m (RFC 7591 §2, errors per §3.2.2), fills defaults
// and returns the record fields it describes.
func normalize(m Metadata) (store.Client, error) {
	c := store.Client{
		ID: m.ClientID, Name: m.ClientName, Scope: m.Scope, JWKSURI: m.JWKSURI,
		IDTokenSignedAlg: m.IDTokenSignedAlg, AccessTokenSigningAlg: m.AccessTokenSigningAlg,
		SkipConsent: m.SkipConsent, TokenEndpointAuthMethod: m.TokenEndpointAuthMethod,
	}
	if utf8.RuneCountInString(c.Name) > 200 {
		return c, metaErr("client_name is longer than 200 characters")
	}
	if c.ID != "" && !validClientID(c.ID) {
		return c, metaErr("client_id must be 1 to 128 visible ASCII characters without spaces, ':' or '%%'")
	}
	c.GrantTypes = dedupe(m.GrantTypes)
	if len(c.GrantTypes) == 0 {
		c.GrantTypes = []string{"client_credentials"}
	}
	for _, g := range c.GrantTypes {
		if !slices.Contains(grantTypes, g) {
			return c, metaErr("unknown grant type %q", g)
		}
	}
	if slices.Contains(c.GrantTypes, "refresh_token") && !slices.Contains(c.GrantTypes, "password") && !slices.Contains(c.GrantTypes, "authorization_code") {
		return c, metaErr("refresh_token needs password or authorization_code: nothing else issues refresh tokens")
	}
	for _, rt := range m.ResponseTypes {
		if rt != "code" || !slices.Contains(c.GrantTypes, "authorization_code") {
			return c, metaErr("response_types: only \"code\", with the authorization_code grant")
		}
	}
	if c.TokenEndpointAuthMethod == "" {
		c.TokenEndpointAuthMethod = AuthBasic
	}
	if !slices.Contains(authMethods, c.TokenEndpointAuthMethod) {
		return c, metaErr("unknown token_endpoint_auth_method %q", c.TokenEndpointAuthMethod)
	}
	if c.TokenEndpointAuthMethod == AuthNone && slices.Contains(c.GrantTypes, "client_credentials") {
		return c, metaErr("a public client (auth method none) cannot use client_credentials")
	}
	if err := checkKeys(&c, m.JWKS); err != nil {
		return c, err
	}
	for _, alg := range []struct{ name, v string }{{"id_token_signed_response_alg", c.IDTokenSignedAlg}, {"access_token_signing_alg", c.AccessTokenSigningAlg}} {
		if alg.v != "" && !slices.Contains(signingAlgs, alg.v) {
			return c, metaErr("%s must be RS256 or ES256, not %q", alg.name, alg.v)
		}
	}
	var err error
	if c.RedirectURIs, err = checkRedirects("redirect_uris", m.RedirectURIs); err != nil {
		return c, err
	}
	if c.PostLogoutRedirectURIs, err = checkRedirects("post_logout_redirect_uris", m.PostLogoutRedirectURIs); err != nil {
		return c, err
	}
	if slices.Contains(c.GrantTypes, "authorization_code") && len(c.RedirectURIs) == 0 {
		return c, oauth.New(oauth.InvalidRedirectURI, "authorization_code needs at least one redirect_uri")
	}
	if c.Scope, err = checkScope(m.Scope); err != nil {
		return c, err
	}
	for _, a := range m.Audience {
		if a == "" || strings.ContainsAny(a, " \t\r\n") {
			return c, metaErr("malformed audience %q", a)
		}
	}
	c.Audience = dedupe(m.Audience)
	return c, nil
}

// checkKeys validates jwks / jwks_uri for private_key_jwt.
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
		if err != nil || u.Scheme != "https" || u.Host == "" {
			return metaErr("jwks_uri must be an absolute https URL")
		}
		return nil
	}
	var set jose.JSONWebKeySet
	if err := json.Unmarshal(raw, &set); err != nil || len(set.Keys) == 0 {
		return metaErr("jwks is not a JWK set with at least one key")
	}
	for _, k := range set.Keys {
		if !k.IsPublic() || !k.Valid() {
			return metaErr("jwks must hold valid public keys only")
		}
	}
	c.JWKS = append([]byte(nil), raw...)
	return nil
}

// checkRedirects: absolute URIs without a fragment (RFC 6749 §3.1.2); https
// unless the host is loopback (RFC 8252 §7.3) or a private-use scheme
// (RFC 8252 §7.1, a dot in the scheme).
func checkRedirects(field string, uris []string) ([]string, error) {
	for _, raw := range uris {
		u, err := url.Parse(raw)
		if err != nil || !u.IsAbs() || u.Fragment != "" || strings.Contains(raw, "#") {
			return nil, oauth.New(oauth.InvalidRedirectURI, "%s: %q must be an absolute URI without a fragment", field, raw)
		}
		switch {
		case u.Scheme == "https" && u.Host != "":
		case u.Scheme == "http" && isLoopback(u.Hostname()):
		case strings.Contains(u.Scheme, ".") && u.Scheme != "http" && u.Scheme != "https":
		default:
			return nil, oauth.New(oauth.InvalidRedirectURI, "%s: %q must use https (http only for loopback; or a private-use scheme like com.example.app:/cb)", field, raw)
		}
	}
	return dedupe(uris), nil
}

func isLoopback(host string) bool {
	if host == "localhost" {
		return true
	}
	ip := net.ParseIP(host)
	return ip != nil && ip.IsLoopback()
}

// checkScope validates scope tokens (RFC 6749 §3.3) and deduplicates them.
func checkScope(scope string) (string, error) {
	var out []string
	for _, s := range strings.Fields(scope) {
		for i := 0; i < len(s); i++ {
			if c := s[i]; c < 0x21 || c == 0x22 || c == 0x5c || c > 0x7e {
				return "", metaErr("malformed scope %q", s)
			}
		}
		if !slices.Contains(out, s) {
			out = append(out, s)
		}
	}
	return strings.Join(out, " "), nil
}

// validClientID: RFC 6749 §A.1 VSCHAR without space, and without ':' and
// '%' so that Basic credentials stay unambiguous.
func validClientID(id string) bool {
	if len(id) > 128 {
		return false
	}
	for i := 0; i < len(id); i++ {
		if c := id[i]; c <= 0x20 || c > 0x7e || c == ':' || c == '%' {
			return false
		}
	}
	return id != ""
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
		ClientID: c.ID, ClientIDIssuedAt: c.IssuedAt.Unix(), ClientName: c.Name, GrantTypes: c.GrantTypes,
		RedirectURIs: c.RedirectURIs, PostLogoutRedirectURIs: c.PostLogoutRedirectURIs, Scope: c.Scope,
		TokenEndpointAuthMethod: c.TokenEndpointAuthMethod, JWKSURI: c.JWKSURI, IDTokenSignedAlg: c.IDTokenSignedAlg,
		Audience: c.Audience, AccessTokenSigningAlg: c.AccessTokenSigningAlg, SkipConsent: c.SkipConsent,
	}
	if len(c.JWKS) > 0 {
		m.JWKS = json.RawMessage(c.JWKS)
	}
	if slices.Contains(c.GrantTypes, "authorization_code") {
		m.ResponseTypes = []string{"code"}
	}
	return m
}
