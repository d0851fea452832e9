package oauth

// The one vocabulary of authd: every grant type, client authentication
// method, scope, claim and parameter value that more than one package
// names is declared here once. Discovery, metadata validation, the grants
// registry and the CLI derive their lists from these declarations.

// Grant types (RFC 6749 §4, RFC 7591 §2 "grant_types").
const (
	GrantAuthorizationCode = "authorization_code"
	GrantClientCredentials = "client_credentials"
	GrantPassword          = "password"
	GrantRefreshToken      = "refresh_token"
	// GrantTokenExchange is RFC 8693 §2.1.
	GrantTokenExchange = "urn:ietf:params:oauth:grant-type:token-exchange"
	// GrantDeviceCode is the device authorization grant (RFC 8628 §3.4).
	GrantDeviceCode = "urn:ietf:params:oauth:grant-type:device_code"
)

// GrantTypes returns every grant type authd implements, in the order
// discovery lists them.
func GrantTypes() []string {
	return []string{GrantAuthorizationCode, GrantClientCredentials, GrantPassword, GrantRefreshToken, GrantTokenExchange, GrantDeviceCode}
}

// Token type identifiers of RFC 8693 §3, for subject_token_type,
// actor_token_type, requested_token_type and issued_token_type.
const (
	TokenTypeAccessToken  = "urn:ietf:params:oauth:token-type:access_token"
	TokenTypeRefreshToken = "urn:ietf:params:oauth:token-type:refresh_token"
	TokenTypeIDToken      = "urn:ietf:params:oauth:token-type:id_token"
	TokenTypeJWT          = "urn:ietf:params:oauth:token-type:jwt"
)

// TokenTypeNA is the token_type of an issued token that is not an access
// token (RFC 8693 §2.2.1).
const TokenTypeNA = "N_A"

// Client authentication methods at the token endpoint (RFC 7591 §2
// "token_endpoint_auth_method", RFC 7523 §2.2).
const (
	AuthClientSecretBasic = "client_secret_basic"
	AuthClientSecretPost  = "client_secret_post"
	AuthPrivateKeyJWT     = "private_key_jwt"
	// AuthClientSecretJWT is an HS256 assertion keyed with the client
	// secret (RFC 7523 §2.2, OIDC Core §9).
	AuthClientSecretJWT = "client_secret_jwt"
	AuthNone            = "none"
)

// AuthMethods returns every token-endpoint authentication method, the
// public-client "none" last.
func AuthMethods() []string {
	return []string{AuthClientSecretBasic, AuthClientSecretPost, AuthPrivateKeyJWT, AuthClientSecretJWT, AuthNone}
}

// ConfidentialAuthMethods returns the methods that prove the client's
// identity: the ones revocation and introspection accept (RFC 7662 §2.1).
func ConfidentialAuthMethods() []string {
	return []string{AuthClientSecretBasic, AuthClientSecretPost, AuthPrivateKeyJWT, AuthClientSecretJWT}
}

// Signature algorithms (RFC 7518 §3.1) authd signs and verifies with. The
// keys package generates keys for exactly these (keys.Algorithms).
const (
	AlgRS256 = "RS256"
	AlgES256 = "ES256"
	// AlgHS256 is the one MAC algorithm: client_secret_jwt assertions only.
	AlgHS256 = "HS256"
)

// AssertionAlgs returns the algorithms of client authentication JWTs
// (discovery's token_endpoint_auth_signing_alg_values_supported):
// RS256 and ES256 for private_key_jwt, HS256 for client_secret_jwt.
func AssertionAlgs() []string { return []string{AlgRS256, AlgES256, AlgHS256} }

// Response types, response modes and PKCE methods of the authorization
// endpoint (RFC 6749 §3.1.1, OAuth 2.0 Multiple Response Types §2.1,
// RFC 7636 §4.3).
const (
	ResponseTypeCode  = "code"
	ResponseModeQuery = "query"
	// ResponseModeFormPost is OAuth 2.0 Form Post Response Mode §2.
	ResponseModeFormPost = "form_post"
	PKCEMethodS256       = "S256"
)

// ResponseModes returns the response modes of the authorization endpoint,
// as discovery lists them (OIDC Discovery §3 "response_modes_supported").
func ResponseModes() []string { return []string{ResponseModeQuery, ResponseModeFormPost} }

// Scopes with a meaning of their own (OIDC Core §3.1.2.1, §5.4, §11).
const (
	ScopeOpenID        = "openid"
	ScopeProfile       = "profile"
	ScopeEmail         = "email"
	ScopePhone         = "phone"
	ScopeOfflineAccess = "offline_access"
	// ScopeRoles releases the user's roles claim (an authd scope, in the
	// manner of §5.4).
	ScopeRoles = "roles"
)

// Scopes returns the scopes with a protocol meaning, as discovery lists
// them (clients may register further scopes of their own).
func Scopes() []string {
	return []string{ScopeOpenID, ScopeProfile, ScopeEmail, ScopePhone, ScopeRoles, ScopeOfflineAccess}
}

// ScopeClaims returns the user claims each scope releases (OIDC Core
// §5.4, limited to the claims authd keeps).
func ScopeClaims() map[string][]string {
	return map[string][]string{
		ScopeProfile: {ClaimName, ClaimGivenName, ClaimFamilyName, ClaimPreferredUsername, ClaimPicture, ClaimLocale, ClaimUpdatedAt},
		ScopeEmail:   {ClaimEmail, ClaimEmailVerified},
		ScopePhone:   {ClaimPhoneNumber},
		ScopeRoles:   {ClaimRoles},
	}
}

// UserClaims returns every user claim a scope or the claims request
// parameter (OIDC Core §5.5) can release, in a fixed order.
func UserClaims() []string {
	return []string{ClaimName, ClaimGivenName, ClaimFamilyName, ClaimPreferredUsername, ClaimPicture, ClaimLocale,
		ClaimUpdatedAt, ClaimEmail, ClaimEmailVerified, ClaimPhoneNumber, ClaimRoles}
}

// Claims that authd puts in access tokens (RFC 9068 §2.2), ID tokens (OIDC
// Core §2) and userinfo answers (OIDC Core §5.1).
const (
	ClaimIssuer    = "iss"
	ClaimSubject   = "sub"
	ClaimAudience  = "aud"
	ClaimExpiry    = "exp"
	ClaimIssuedAt  = "iat"
	ClaimJWTID     = "jti"
	ClaimClientID  = "client_id"
	ClaimScope     = "scope"
	ClaimRoles     = "roles"
	ClaimSessionID = "sid"
	ClaimAuthTime  = "auth_time"
	// ClaimACR and ClaimAMR say how the user authenticated (OIDC Core §2,
	// RFC 8176).
	ClaimACR               = "acr"
	ClaimAMR               = "amr"
	ClaimNonce             = "nonce"
	ClaimAccessTokenHash   = "at_hash"
	ClaimAuthorizedParty   = "azp"
	ClaimPreferredUsername = "preferred_username"
	ClaimEmail             = "email"
	// Standard claims of OIDC Core §5.1.
	ClaimName          = "name"
	ClaimGivenName     = "given_name"
	ClaimFamilyName    = "family_name"
	ClaimPicture       = "picture"
	ClaimLocale        = "locale"
	ClaimUpdatedAt     = "updated_at"
	ClaimEmailVerified = "email_verified"
	ClaimPhoneNumber   = "phone_number"
	// ClaimActor names the acting party of a delegated token (RFC 8693 §4.1).
	ClaimActor = "act"
)

// Claims returns every claim name authd issues (discovery's
// claims_supported).
func Claims() []string {
	return []string{ClaimIssuer, ClaimSubject, ClaimAudience, ClaimExpiry, ClaimIssuedAt, ClaimJWTID,
		ClaimClientID, ClaimScope, ClaimRoles, ClaimSessionID, ClaimAuthTime, ClaimACR, ClaimAMR, ClaimNonce,
		ClaimAccessTokenHash, ClaimAuthorizedParty, ClaimPreferredUsername, ClaimEmail,
		ClaimName, ClaimGivenName, ClaimFamilyName, ClaimPicture, ClaimLocale, ClaimUpdatedAt,
		ClaimEmailVerified, ClaimPhoneNumber, ClaimActor}
}

// ACRPassword is the acr of a password sign-in: "1", the level of OIDC
// Core §2's example ("a password … meets ISO/IEC 29115 level 1"). It is
// the only authentication context class authd reaches today.
const ACRPassword = "1"

// AMRPassword is the amr of a password sign-in (RFC 8176 §2 "pwd").
const AMRPassword = "pwd"

// ACRValues returns the acr values authd issues (discovery's
// acr_values_supported, OIDC Discovery §3), which an essential acr
// request (OIDC Core §5.5.1.1) is judged against.
func ACRValues() []string { return []string{ACRPassword} }

// Authorization error codes of OIDC Core §3.1.2.6 (sent to the redirect_uri).
const (
	LoginRequired   = "login_required"
	ConsentRequired = "consent_required"
	// RequestNotSupported and RequestURINotSupported answer the request
	// and request_uri parameters (OIDC Core §6), which authd does not take.
	RequestNotSupported    = "request_not_supported"
	RequestURINotSupported = "request_uri_not_supported"
	// InvalidRequestURI answers a request_uri that names no live request
	// (OIDC Core §3.1.2.6, RFC 9101 §7): a pushed request that is unknown,
	// used or expired (RFC 9126 §4).
	InvalidRequestURI = "invalid_request_uri"
)

// RequestURIPrefix starts every request_uri the pushed authorization
// request endpoint returns (RFC 9126 §2.2: a URN of the
// urn:ietf:params:oauth:request_uri namespace, §10.2).
const RequestURIPrefix = "urn:ietf:params:oauth:request_uri:"

// InsufficientScope is the RFC 6750 §3.1 error of a token that lacks a
// required scope (403).
const InsufficientScope = "insufficient_scope"
