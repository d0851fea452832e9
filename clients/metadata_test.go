package clients

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/rsa"
	"encoding/json"
	"net/http"
	"slices"
	"strings"
	"sync"
	"testing"

	"github.com/go-jose/go-jose/v4"

	"github.com/authd-dev/authd/oauth"
)

var (
	keysOnce sync.Once
	ecKey    *ecdsa.PrivateKey
	rsaKey   *rsa.PrivateKey
)

// testKeys returns one P-256 and one RSA-2048 key, made once per run.
func testKeys(t testing.TB) (*ecdsa.PrivateKey, *rsa.PrivateKey) {
	t.Helper()
	keysOnce.Do(func() {
		var err error
		if ecKey, err = ecdsa.GenerateKey(elliptic.P256(), rand.Reader); err != nil {
			panic(err)
		}
		if rsaKey, err = rsa.GenerateKey(rand.Reader, 2048); err != nil {
			panic(err)
		}
	})
	return ecKey, rsaKey
}

// jwksOf is the JSON of a JWK set holding keys.
func jwksOf(t testing.TB, keys ...jose.JSONWebKey) json.RawMessage {
	t.Helper()
	b, err := json.Marshal(jose.JSONWebKeySet{Keys: keys})
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func TestNormalize(t *testing.T) {
	ec, rk := testKeys(t)
	p384, _ := ecdsa.GenerateKey(elliptic.P384(), rand.Reader)
	small, _ := rsa.GenerateKey(rand.Reader, 1024)
	goodJWKS := jwksOf(t, jose.JSONWebKey{Key: ec.Public(), KeyID: "ec", Use: "sig"}, jose.JSONWebKey{Key: rk.Public(), KeyID: "rsa", Algorithm: "RS256"})
	pkj := func(m Metadata) Metadata { m.TokenEndpointAuthMethod = AuthPrivateKeyJWT; return m }
	code := func(m Metadata) Metadata {
		m.GrantTypes = []string{"authorization_code"}
		if m.RedirectURIs == nil {
			m.RedirectURIs = []string{"https://app.example/cb"}
		}
		return m
	}
	uris := func(u ...string) Metadata { return code(Metadata{RedirectURIs: u}) }

	tests := []struct {
		name    string
		in      Metadata
		errCode string // "" = valid
		check   func(t *testing.T, m Metadata)
	}{
		{name: "defaults", in: Metadata{}, check: func(t *testing.T, m Metadata) {
			if !slices.Equal(m.GrantTypes, []string{"client_credentials"}) || m.TokenEndpointAuthMethod != AuthBasic || m.ResponseTypes != nil {
				t.Errorf("defaults = %+v", m)
			}
		}},
		{name: "unknown grant", in: Metadata{GrantTypes: []string{"implicit"}}, errCode: oauth.InvalidClientMetadata},
		{name: "unknown urn grant", in: Metadata{GrantTypes: []string{"urn:ietf:params:oauth:grant-type:unknown"}}, errCode: oauth.InvalidClientMetadata},
		{name: "device grant with refresh_token", in: Metadata{GrantTypes: []string{oauth.GrantDeviceCode, "refresh_token"}, TokenEndpointAuthMethod: "none"}, check: func(t *testing.T, m Metadata) {
			if len(m.GrantTypes) != 2 {
				t.Errorf("grant_types = %v", m.GrantTypes)
			}
		}},
		{name: "refresh_token alone", in: Metadata{GrantTypes: []string{"refresh_token"}}, errCode: oauth.InvalidClientMetadata},
		{name: "refresh_token with client_credentials", in: Metadata{GrantTypes: []string{"client_credentials", "refresh_token"}}, errCode: oauth.InvalidClientMetadata},
		{name: "refresh_token with password", in: Metadata{GrantTypes: []string{"password", "refresh_token", "password"}}, check: func(t *testing.T, m Metadata) {
			if !slices.Equal(m.GrantTypes, []string{"password", "refresh_token"}) {
				t.Errorf("grant_types = %v, want deduplicated", m.GrantTypes)
			}
		}},
		{name: "code grant derives response_types", in: code(Metadata{}), check: func(t *testing.T, m Metadata) {
			if !slices.Equal(m.ResponseTypes, []string{"code"}) {
				t.Errorf("response_types = %v, want [code]", m.ResponseTypes)
			}
		}},
		{name: "response_types echoed", in: code(Metadata{ResponseTypes: []string{"code"}})},
		{name: "response_types token", in: code(Metadata{ResponseTypes: []string{"token"}}), errCode: oauth.InvalidClientMetadata},
		{name: "response_types without code grant", in: Metadata{ResponseTypes: []string{"code"}}, errCode: oauth.InvalidClientMetadata},
		{name: "unknown auth method", in: Metadata{TokenEndpointAuthMethod: "tls_client_auth"}, errCode: oauth.InvalidClientMetadata},
		{name: "post", in: Metadata{TokenEndpointAuthMethod: AuthPost}},
		{name: "none with client_credentials", in: Metadata{TokenEndpointAuthMethod: AuthNone}, errCode: oauth.InvalidClientMetadata},
		{name: "none with code", in: code(Metadata{TokenEndpointAuthMethod: AuthNone})},
		{name: "private_key_jwt jwks", in: pkj(Metadata{JWKS: goodJWKS}), check: func(t *testing.T, m Metadata) {
			if string(m.JWKS) != string(goodJWKS) {
				t.Errorf("jwks = %s", m.JWKS)
			}
		}},
		{name: "private_key_jwt jwks_uri", in: pkj(Metadata{JWKSURI: "https://app.example/jwks.json"})},
		{name: "private_key_jwt without keys", in: pkj(Metadata{}), errCode: oauth.InvalidClientMetadata},
		{name: "private_key_jwt null jwks", in: pkj(Metadata{JWKS: json.RawMessage("null")}), errCode: oauth.InvalidClientMetadata},
		{name: "private_key_jwt both", in: pkj(Metadata{JWKS: goodJWKS, JWKSURI: "https://app.example/jwks.json"}), errCode: oauth.InvalidClientMetadata},
		{name: "jwks_uri http", in: pkj(Metadata{JWKSURI: "http://app.example/jwks.json"}), errCode: oauth.InvalidClientMetadata},
		{name: "jwks_uri relative", in: pkj(Metadata{JWKSURI: "/jwks.json"}), errCode: oauth.InvalidClientMetadata},
		{name: "jwks not a set", in: pkj(Metadata{JWKS: json.RawMessage(`{"kty":"EC"}`)}), errCode: oauth.InvalidClientMetadata},
		{name: "jwks empty set", in: pkj(Metadata{JWKS: json.RawMessage(`{"keys":[]}`)}), errCode: oauth.InvalidClientMetadata},
		{name: "jwks garbage", in: pkj(Metadata{JWKS: json.RawMessage(`[1,2]`)}), errCode: oauth.InvalidClientMetadata},
		{name: "jwks private key", in: pkj(Metadata{JWKS: jwksOf(t, jose.JSONWebKey{Key: ec, KeyID: "p"})}), errCode: oauth.InvalidClientMetadata},
		{name: "jwks symmetric key", in: pkj(Metadata{JWKS: json.RawMessage(`{"keys":[{"kty":"oct","k":"c2VjcmV0c2VjcmV0c2VjcmV0c2VjcmV0"}]}`)}), errCode: oauth.InvalidClientMetadata},
		{name: "jwks P-384", in: pkj(Metadata{JWKS: jwksOf(t, jose.JSONWebKey{Key: p384.Public()})}), errCode: oauth.InvalidClientMetadata},
		{name: "jwks RSA-1024", in: pkj(Metadata{JWKS: jwksOf(t, jose.JSONWebKey{Key: small.Public()})}), errCode: oauth.InvalidClientMetadata},
		{name: "jwks use enc", in: pkj(Metadata{JWKS: jwksOf(t, jose.JSONWebKey{Key: ec.Public(), Use: "enc"})}), errCode: oauth.InvalidClientMetadata},
		{name: "jwks alg PS256", in: pkj(Metadata{JWKS: jwksOf(t, jose.JSONWebKey{Key: rk.Public(), Algorithm: "PS256"})}), errCode: oauth.InvalidClientMetadata},
		{name: "jwks for a basic client", in: Metadata{JWKS: goodJWKS}, errCode: oauth.InvalidClientMetadata},
		{name: "jwks_uri for a basic client", in: Metadata{JWKSURI: "https://app.example/jwks.json"}, errCode: oauth.InvalidClientMetadata},
		{name: "id token alg ES256", in: Metadata{IDTokenSignedAlg: "ES256", AccessTokenSigningAlg: "RS256"}},
		{name: "id token alg HS256", in: Metadata{IDTokenSignedAlg: "HS256"}, errCode: oauth.InvalidClientMetadata},
		{name: "id token alg none", in: Metadata{IDTokenSignedAlg: "none"}, errCode: oauth.InvalidClientMetadata},
		{name: "access token alg PS256", in: Metadata{AccessTokenSigningAlg: "PS256"}, errCode: oauth.InvalidClientMetadata},
		{name: "access token alg lower case", in: Metadata{AccessTokenSigningAlg: "rs256"}, errCode: oauth.InvalidClientMetadata},
		{name: "code without redirect_uris", in: Metadata{GrantTypes: []string{"authorization_code"}}, errCode: oauth.InvalidRedirectURI},
		{name: "redirect https", in: uris("https://app.example/cb?x=1")},
		{name: "redirect http 127.0.0.1", in: uris("http://127.0.0.1:5000/cb")},
		{name: "redirect http [::1]", in: uris("http://[::1]:5000/cb")},
		{name: "redirect http localhost", in: uris("http://localhost/cb")},
		{name: "redirect private-use scheme", in: uris("com.example.app:/cb")},
		{name: "redirect deduplicated", in: uris("https://a.example/cb", "https://a.example/cb"), check: func(t *testing.T, m Metadata) {
			if len(m.RedirectURIs) != 1 {
				t.Errorf("redirect_uris = %v", m.RedirectURIs)
			}
		}},
		{name: "redirect http elsewhere", in: uris("http://app.example/cb"), errCode: oauth.InvalidRedirectURI},
		{name: "redirect http localhost lookalike", in: uris("http://localhost.evil.example/cb"), errCode: oauth.InvalidRedirectURI},
		{name: "redirect relative", in: uris("/cb"), errCode: oauth.InvalidRedirectURI},
		{name: "redirect empty", in: uris(""), errCode: oauth.InvalidRedirectURI},
		{name: "redirect fragment", in: uris("https://app.example/cb#frag"), errCode: oauth.InvalidRedirectURI},
		{name: "redirect empty fragment", in: uris("https://app.example/cb#"), errCode: oauth.InvalidRedirectURI},
		{name: "redirect scheme without dot", in: uris("myapp:/cb"), errCode: oauth.InvalidRedirectURI},
		{name: "redirect javascript", in: uris("javascript:alert(1)"), errCode: oauth.InvalidRedirectURI},
		{name: "redirect https without host", in: uris("https:///cb"), errCode: oauth.InvalidRedirectURI},
		{name: "redirect malformed", in: uris("https://app.example:port/cb"), errCode: oauth.InvalidRedirectURI},
		{name: "post logout redirect checked", in: Metadata{PostLogoutRedirectURIs: []string{"http://app.example/"}}, errCode: oauth.InvalidRedirectURI},
		{name: "post logout redirect ok", in: Metadata{PostLogoutRedirectURIs: []string{"https://app.example/bye"}}},
		{name: "backchannel logout https", in: Metadata{BackchannelLogoutURI: "https://app.example/bc?x=1", BackchannelLogoutSessionRequired: true}, check: func(t *testing.T, m Metadata) {
			if m.BackchannelLogoutURI != "https://app.example/bc?x=1" || !m.BackchannelLogoutSessionRequired {
				t.Errorf("back-channel metadata not kept: %+v", m)
			}
		}},
		{name: "backchannel logout http loopback", in: Metadata{BackchannelLogoutURI: "http://127.0.0.1:8080/bc"}},
		{name: "backchannel logout http elsewhere", in: Metadata{BackchannelLogoutURI: "http://app.example/bc"}, errCode: oauth.InvalidClientMetadata},
		{name: "backchannel logout fragment", in: Metadata{BackchannelLogoutURI: "https://app.example/bc#x"}, errCode: oauth.InvalidClientMetadata},
		{name: "backchannel logout relative", in: Metadata{BackchannelLogoutURI: "/bc"}, errCode: oauth.InvalidClientMetadata},
		{name: "backchannel logout userinfo", in: Metadata{BackchannelLogoutURI: "https://u:p@app.example/bc"}, errCode: oauth.InvalidClientMetadata},
		{name: "backchannel session required alone", in: Metadata{BackchannelLogoutSessionRequired: true}, errCode: oauth.InvalidClientMetadata},
		{name: "frontchannel logout checked", in: Metadata{FrontchannelLogoutURI: "javascript:alert(1)"}, errCode: oauth.InvalidClientMetadata},
		{name: "frontchannel logout ok", in: Metadata{FrontchannelLogoutURI: "https://app.example/fc"}},
		{name: "frontchannel session ok", in: Metadata{FrontchannelLogoutURI: "https://app.example/fc?x=1", FrontchannelLogoutSessionRequired: true}},
		{name: "frontchannel session without uri", in: Metadata{FrontchannelLogoutSessionRequired: true}, errCode: oauth.InvalidClientMetadata},
		{name: "scope deduplicated", in: Metadata{Scope: "  read write  read  openid "}, check: func(t *testing.T, m Metadata) {
			if m.Scope != "read write openid" {
				t.Errorf("scope = %q", m.Scope)
			}
		}},
		{name: "scope NQCHAR edges", in: Metadata{Scope: "! # [ ] ~ a:b https://api.example/x"}},
		{name: "scope with quote", in: Metadata{Scope: `read "write"`}, errCode: oauth.InvalidClientMetadata},
		{name: "scope with backslash", in: Metadata{Scope: `read\write`}, errCode: oauth.InvalidClientMetadata},
		{name: "scope with tab", in: Metadata{Scope: "read\twrite"}, errCode: oauth.InvalidClientMetadata},
		{name: "scope non-ASCII", in: Metadata{Scope: "lecture écriture"}, errCode: oauth.InvalidClientMetadata},
		{name: "audience", in: Metadata{Audience: []string{"https://api.example", "https://api.example", "billing"}}, check: func(t *testing.T, m Metadata) {
			if !slices.Equal(m.Audience, []string{"https://api.example", "billing"}) {
				t.Errorf("audience = %v", m.Audience)
			}
		}},
		{name: "audience empty entry", in: Metadata{Audience: []string{""}}, errCode: oauth.InvalidClientMetadata},
		{name: "audience with space", in: Metadata{Audience: []string{"my api"}}, errCode: oauth.InvalidClientMetadata},
		{name: "client_name 200 characters", in: Metadata{ClientName: strings.Repeat("é", 200)}},
		{name: "client_name 201 characters", in: Metadata{ClientName: strings.Repeat("a", 201)}, errCode: oauth.InvalidClientMetadata},
		{name: "client_id VSCHAR", in: Metadata{ClientID: "svc:reports+nightly%~!"}},
		{name: "client_id 128", in: Metadata{ClientID: strings.Repeat("x", 128)}},
		{name: "client_id 129", in: Metadata{ClientID: strings.Repeat("x", 129)}, errCode: oauth.InvalidClientMetadata},
		{name: "client_id with space", in: Metadata{ClientID: "my client"}, errCode: oauth.InvalidClientMetadata},
		{name: "client_id non-ASCII", in: Metadata{ClientID: "clïent"}, errCode: oauth.InvalidClientMetadata},
		{name: "client_id control", in: Metadata{ClientID: "a\x00b"}, errCode: oauth.InvalidClientMetadata},
		{name: "token exchange policy kept", in: Metadata{GrantTypes: []string{GrantTokenExchange, "refresh_token"},
			TokenExchangeImpersonation: true, TokenExchangeRefresh: true}, check: func(t *testing.T, m Metadata) {
			if !m.TokenExchangeImpersonation || !m.TokenExchangeRefresh {
				t.Errorf("token exchange policy lost: %+v", m)
			}
		}},
		{name: "token exchange defaults off", in: Metadata{GrantTypes: []string{GrantTokenExchange}}, check: func(t *testing.T, m Metadata) {
			if m.TokenExchangeImpersonation || m.TokenExchangeRefresh {
				t.Errorf("policy %+v; want both off", m)
			}
		}},
		{name: "token exchange policy without the grant", in: Metadata{TokenExchangeImpersonation: true}, errCode: oauth.InvalidClientMetadata},
		{name: "token_exchange_refresh without refresh_token", in: Metadata{GrantTypes: []string{GrantTokenExchange}, TokenExchangeRefresh: true}, errCode: oauth.InvalidClientMetadata},
		{name: "refresh_token with token exchange but no refresh policy", in: Metadata{GrantTypes: []string{GrantTokenExchange, "refresh_token"}}, errCode: oauth.InvalidClientMetadata},
		{name: "public client token exchange", in: Metadata{GrantTypes: []string{GrantTokenExchange}, TokenEndpointAuthMethod: AuthNone}, errCode: oauth.InvalidClientMetadata},
		{name: "skip_consent kept", in: Metadata{SkipConsent: true}, check: func(t *testing.T, m Metadata) {
			if !m.SkipConsent {
				t.Error("skip_consent lost")
			}
		}},
		{name: "require_pushed_authorization_requests kept", in: Metadata{GrantTypes: []string{GrantAuthorizationCode},
			RedirectURIs: []string{"https://app.example/cb"}, RequirePushedAuthorizationRequests: true}, check: func(t *testing.T, m Metadata) {
			if !m.RequirePushedAuthorizationRequests {
				t.Error("require_pushed_authorization_requests lost")
			}
		}},
		{name: "require_pushed_authorization_requests without the code grant", in: Metadata{RequirePushedAuthorizationRequests: true},
			errCode: oauth.InvalidClientMetadata},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c, err := normalize(tt.in)
			if tt.errCode != "" {
				wantOAuth(t, err, tt.errCode, http.StatusBadRequest)
				return
			}
			if err != nil {
				t.Fatalf("normalize: %v", err)
			}
			if tt.check != nil {
				tt.check(t, metadataOf(c))
			}
		})
	}
}

func TestRegisteredJSON(t *testing.T) {
	tests := []struct {
		name     string
		reg      Registered
		contains []string
		absent   []string
	}{
		{"with secret", Registered{Metadata: Metadata{ClientID: "a"}, ClientSecret: "s3"},
			[]string{`"client_id":"a"`, `"client_secret":"s3"`, `"client_secret_expires_at":0`}, nil},
		{"without secret", Registered{Metadata: Metadata{ClientID: "a"}},
			[]string{`"client_id":"a"`}, []string{"client_secret"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			b, err := json.Marshal(tt.reg)
			if err != nil {
				t.Fatal(err)
			}
			for _, s := range tt.contains {
				if !strings.Contains(string(b), s) {
					t.Errorf("%s lacks %s", b, s)
				}
			}
			for _, s := range tt.absent {
				if strings.Contains(string(b), s) {
					t.Errorf("%s has %s", b, s)
				}
			}
		})
	}
}
