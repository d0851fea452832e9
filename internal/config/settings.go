package config

import (
	"encoding/base64"
	"fmt"
	"math"
	"net/netip"
	"strconv"
	"strings"
	"time"

	"github.com/authd-dev/authd/keys"
)

// flagConfig names the YAML file; it is not itself a key of the file.
const flagConfig = "config"

// setting is one row of the settings table: a flag, its default text and
// the Config field it fills (the field's type decides how text is parsed).
type setting struct {
	name, def, usage string
	field            func(c *Config) any
}

// settings is the table of CONTRACT.md ("authd serve settings") plus the
// operational extras. Order is the order of help and of error checks.
var settings = []setting{
	{"addr", "127.0.0.1:8080", "public listener (token, JWKS, discovery, authorize, …)", func(c *Config) any { return &c.Addr }},
	{"admin-addr", "127.0.0.1:8081", "admin listener (/admin/…, /metrics)", func(c *Config) any { return &c.AdminAddr }},
	{"issuer", "", "the iss value and base of discovery; https unless the host is loopback or --dev (default: http:// on --addr)", func(c *Config) any { return &c.Issuer }},
	{"dev", "false", "development mode: generates and keeps an admin token and a KEK in the data dir; never for production", func(c *Config) any { return &c.Dev }},
	// The help of store names the registered backends; their own settings
	// follow data-dir (see StoreBackend).
	{"store", "bolt", "storage backend", func(c *Config) any { return &c.Store }},
	{"data-dir", "./data", "where the bolt store and the dev-mode secrets live", func(c *Config) any { return &c.DataDir }},
	{"admin-token", "", "bearer token of the admin API, at least " + strconv.Itoa(MinAdminTokenLen) + " characters (required unless --dev)", func(c *Config) any { return &c.AdminToken }},
	{"kek", "", "base64 of 32 random bytes; encrypts private signing keys at rest (required unless --dev)", func(c *Config) any { return &c.KEK }},
	{"kek-previous", "", "base64 of the previous 32-byte KEK, while changing the KEK", func(c *Config) any { return &c.KEKPrevious }},
	{"signing-alg", keys.RS256, "default alg of access tokens: " + strings.Join(keys.Algorithms(), " or "), func(c *Config) any { return &c.SigningAlg }},
	{"rsa-key-bits", "2048", "size of generated RSA signing keys: 2048, 3072 or 4096", func(c *Config) any { return &c.RSAKeyBits }},
	{"access-token-ttl", "15m", "lifetime of access tokens", func(c *Config) any { return &c.AccessTokenTTL }},
	{"id-token-ttl", "1h", "lifetime of ID tokens", func(c *Config) any { return &c.IDTokenTTL }},
	{"refresh-token-ttl", "72h", "idle lifetime of a refresh token; every rotation starts a new window", func(c *Config) any { return &c.RefreshTokenTTL }},
	{"refresh-token-max-lifetime", "720h", "absolute lifetime of a refresh-token family (a login)", func(c *Config) any { return &c.RefreshTokenMaxLifetime }},
	{"session-idle-ttl", "24h", "SSO session: how long a browser stays signed in without using it", func(c *Config) any { return &c.SessionIdleTTL }},
	{"par-lifetime", "60s", "lifetime of a pushed authorization request's request_uri (RFC 9126 §2.2), 5s to 10m", func(c *Config) any { return &c.PARLifetime }},
	{"require-pushed-authorization-requests", "false", "take authorization requests only through the pushed authorization request endpoint, for every client (RFC 9126 §5)", func(c *Config) any { return &c.RequirePushedAuthorizationRequests }},
	{"device-code-ttl", "10m", "device authorization grant (RFC 8628): lifetime of a device_code and its user_code (expires_in), whole seconds, 10s to 1h", func(c *Config) any { return &c.DeviceCodeTTL }},
	{"device-poll-interval", "5s", "device authorization grant: the polling interval a device is told (interval), whole seconds, 1s to 60s; a faster poll gets slow_down", func(c *Config) any { return &c.DevicePollInterval }},
	{"device-verify-ip-per-minute", "5", "wrong user codes per client address (IPv6: per /64) on the device verification page that refill each minute", func(c *Config) any { return &c.DeviceVerifyIPPerMinute }},
	{"device-authorization-client-per-minute", "600", "device authorization requests (RFC 8628 §3.1) per client that refill each minute; past the burst the endpoint answers 429 slow_down with Retry-After", func(c *Config) any { return &c.DeviceAuthorizationClientPerMinute }},
	{"device-authorization-client-burst", "600", "device authorization requests per client allowed at once", func(c *Config) any { return &c.DeviceAuthorizationClientBurst }},
	{"device-authorization-ip-per-minute", "10", "device authorization requests of public clients per client address (IPv6: per /64) that refill each minute", func(c *Config) any { return &c.DeviceAuthorizationIPPerMinute }},
	{"device-authorization-ip-burst", "20", "device authorization requests of public clients per client address allowed at once", func(c *Config) any { return &c.DeviceAuthorizationIPBurst }},
	{"device-verify-ip-burst", "10", "wrong user codes per client address allowed at once; past them the page answers 429 with Retry-After", func(c *Config) any { return &c.DeviceVerifyIPBurst }},
	{"session-max-lifetime", "720h", "SSO session: how long a sign-in lasts at most (at least --session-idle-ttl)", func(c *Config) any { return &c.SessionMaxLifetime }},
	{"refresh-reuse-leeway", "0s", "window after a rotation in which the previous refresh token counts as a retry, not theft", func(c *Config) any { return &c.RefreshReuseLeeway }},
	{"refresh-reuse-max-retries", "3", "how many retries are honoured inside the reuse leeway (0: none, every replay is reuse)", func(c *Config) any { return &c.RefreshReuseMaxRetries }},
	{"dpop-proof-max-age", "60s", "how old (by its iat) a DPoP proof may be; its jti is remembered this long (RFC 9449 §11.1)", func(c *Config) any { return &c.DPoPProofMaxAge }},
	{"dpop-nonce", "false", "require server-provided nonces in DPoP proofs (RFC 9449 §8); stateless, every replica accepts every replica's nonce", func(c *Config) any { return &c.DPoPNonce }},
	{"key-rotation-period", "720h", "how long a signing key stays active", func(c *Config) any { return &c.KeyRotationPeriod }},
	{"key-publish-ahead", "1h", "how long the next key is in the JWKS before it signs (≥ the JWKS max-age)", func(c *Config) any { return &c.KeyPublishAhead }},
	{"default-audience", "", "aud of access tokens when neither the request nor the client names one (default: the issuer)", func(c *Config) any { return &c.DefaultAudience }},
	{"security-webhook-url", "", "URL that receives security events (e.g. refresh-token reuse); never logged (log lines name its host only)", func(c *Config) any { return &c.SecurityWebhookURL }},
	{"security-webhook-secret", "", "whsec_ + base64 of 24 to 64 random bytes: signs every security event per the Standard Webhooks specification (required with --security-webhook-url unless --dev)", func(c *Config) any { return &c.SecurityWebhookSecret }},
	{"metrics-token", "", "bearer token scrapers must send for /metrics (at least 16 characters; the admin token is accepted too)", func(c *Config) any { return &c.MetricsToken }},
	{"metrics-require-auth", "false", "require a bearer token (the admin token, or --metrics-token) for /metrics on the admin listener", func(c *Config) any { return &c.MetricsRequireAuth }},
	{"log-level", "info", "debug, info, warn or error", func(c *Config) any { return &c.LogLevel }},
	{"log-format", "text", "text or json", func(c *Config) any { return &c.LogFormat }},
	{"log-flush-interval", "100ms", "log lines are buffered and written at least this often (and on shutdown); a crash loses at most this long's lines; 0 writes every line at once", func(c *Config) any { return &c.LogFlushInterval }},
	{"argon2-time", "2", "argon2id time (iterations) parameter of password hashes", func(c *Config) any { return &c.Argon2Time }},
	{"argon2-memory", "19456", "argon2id memory parameter in KiB", func(c *Config) any { return &c.Argon2MemoryKiB }},
	{"argon2-threads", "1", "argon2id parallelism parameter", func(c *Config) any { return &c.Argon2Threads }},
	{"shutdown-timeout", "15s", "how long SIGTERM waits for in-flight requests", func(c *Config) any { return &c.ShutdownTimeout }},
	{"client-assertion-audience-token-endpoint", "false", "also accept the token endpoint URL (not only the issuer) as the aud of private_key_jwt client assertions, for clients written to RFC 7523 / OpenID Connect Core; draft-ietf-oauth-rfc7523bis wants the issuer only", func(c *Config) any { return &c.ClientAssertionAudienceTokenEndpoint }},
	{"client-jwks-timeout", "5s", "how long fetching a private_key_jwt client's jwks_uri may take (connect, TLS, headers, body)", func(c *Config) any { return &c.ClientJWKSTimeout }},
	{"client-jwks-allow-private", "false", "let client jwks_uri fetches and back-channel logout POSTs reach loopback, private (RFC 1918, fc00::/7), link-local (169.254/16, fe80::/10) and CGNAT addresses; off, they are refused (SSRF); --dev admits loopback only", func(c *Config) any { return &c.ClientJWKSAllowPrivate }},
	{"trusted-proxies", "", "comma-separated CIDRs (or addresses) of reverse proxies whose X-Forwarded-For / Forwarded header names the client; from anyone else the header is ignored", func(c *Config) any { return &c.TrustedProxies }},
	{"password-hash-memory", "256", "memory budget in MiB of the password hashes running at once (each weighs --argon2-memory); a login that finds it full gets 503 at once", func(c *Config) any { return &c.PasswordHashMemoryMiB }},
	{"password-hash-per-ip", "4", "how many password hashes one client address may run at once", func(c *Config) any { return &c.PasswordHashPerIP }},
	{"login-username-per-minute", "5", "login attempts per username that refill each minute (shared by every replica through the store)", func(c *Config) any { return &c.LoginUsernamePerMinute }},
	{"login-username-burst", "10", "login attempts per username allowed at once", func(c *Config) any { return &c.LoginUsernameBurst }},
	{"login-ip-per-minute", "20", "login attempts per client address (IPv6: per /64) that refill each minute", func(c *Config) any { return &c.LoginIPPerMinute }},
	{"login-ip-burst", "50", "login attempts per client address allowed at once", func(c *Config) any { return &c.LoginIPBurst }},
	{"redis-feed-retention", "0s", "how long the Redis revocation feed keeps records; at least --access-token-ttl + 2m (0: --access-token-ttl + 10m)", func(c *Config) any { return &c.RedisFeedRetention }},
	{"revocation-feed-max-subscribers", "512", "revocation-feed streams one replica serves at once; more get 503 with Retry-After", func(c *Config) any { return &c.RevocationFeedMaxSubscribers }},
	{"revocation-feed-queue", "1024", "revocation-feed events queued per subscriber; one that falls this far behind is cut (it resumes with Last-Event-ID)", func(c *Config) any { return &c.RevocationFeedQueue }},
	{"revocation-feed-write-timeout", "10s", "a revocation-feed subscriber whose connection takes a write longer than this is cut (it reconnects with Last-Event-ID)", func(c *Config) any { return &c.RevocationFeedWriteTimeout }},
	{"client-cache-ttl", "1s", "how long a replica keeps a client record in memory (0 turns the cache off; another replica's change to a client is seen after at most this long)", func(c *Config) any { return &c.ClientCacheTTL }},
	{"user-cache-ttl", "1s", "how long a replica keeps a user record in memory for refreshes and userinfo (0 turns the cache off); changes made through any replica reach the others at once by the store's notifications, this bounds staleness only while they are interrupted", func(c *Config) any { return &c.UserCacheTTL }},
	{"deny-mirror-staleness", "10ms", "Redis only: introspection answers from a local copy of the denylist that follows the revocation feed and is never staler than this, so a revocation made on another replica is reflected within it (this replica's own at once); when the copy is staler, introspection reads Redis (0: always read Redis; at most 10ms)", func(c *Config) any { return &c.DenyMirrorStaleness }},
	{"ui-dir", "", "directory of page templates (layout.html, login.html, consent.html, error.html) and static files (custom.css, logo.svg, …) that replace or extend the built-in pages; read and checked at start (docs/ui.md)", func(c *Config) any { return &c.UIDir }},
	{"dynamic-registration", "off", "dynamic client registration (RFC 7591/7592) at the registration endpoint: off (not mounted), token (needs an initial access token from POST /admin/registration-tokens) or open", func(c *Config) any { return &c.DynamicRegistration }},
	{"registration-grant-types", "authorization_code,refresh_token", "grant types a dynamically registered client may have", func(c *Config) any { return &c.RegistrationGrantTypes }},
	{"registration-scopes", "openid,profile,email,phone,offline_access", "scope values a dynamically registered client may register (its scope defaults to all of them)", func(c *Config) any { return &c.RegistrationScopes }},
	{"registration-redirect-schemes", "https,http,private-use", "redirect-URI kinds a dynamically registered client may use: https, http (loopback hosts only, RFC 8252 §7.3), private-use (com.example.app:/cb, RFC 8252 §7.1)", func(c *Config) any { return &c.RegistrationRedirectSchemes }},
	{"registration-allow-public-clients", "true", "whether a dynamically registered client may be public (token_endpoint_auth_method none, PKCE required), as native apps are (RFC 8252 §8.4)", func(c *Config) any { return &c.RegistrationAllowPublicClients }},
	{"registration-ip-per-minute", "10", "registration-endpoint requests per client address (IPv6: per /64) that refill each minute", func(c *Config) any { return &c.RegistrationIPPerMinute }},
	{"registration-ip-burst", "20", "registration-endpoint requests per client address allowed at once", func(c *Config) any { return &c.RegistrationIPBurst }},
	{"scope-descriptions", "", "comma-separated scope=Description entries: what the consent page says each scope lets an application do (e.g. invoices:read=See your invoices); rewords built-in scopes too", func(c *Config) any { return &c.ScopeDescriptions }},
}

// kind is the type name shown in help.
func (s setting) kind() string {
	switch s.field(&Config{}).(type) {
	case *bool:
		return "bool"
	case *time.Duration:
		return "duration"
	case *int, *uint32, *uint8:
		return "int"
	case *[]string:
		return "strings"
	case *[]netip.Prefix:
		return "cidrs"
	case *[]byte:
		return "base64"
	default:
		return "string"
	}
}

// parseError is a message without the setting's name; Load adds it.
type parseError struct{ msg string }

func perr(format string, args ...any) *parseError {
	return &parseError{fmt.Sprintf(format, args...)}
}

// parse sets the setting's field from raw text. Secret (base64) values are
// never echoed in the message.
func (s setting) parse(c *Config, raw string) *parseError {
	raw = strings.TrimSpace(raw)
	switch p := s.field(c).(type) {
	case *string:
		*p = raw
	case *bool:
		b, err := strconv.ParseBool(raw)
		if err != nil {
			return perr("invalid boolean %q", raw)
		}
		*p = b
	case *time.Duration:
		d, err := time.ParseDuration(raw)
		if err != nil {
			return perr("invalid duration %q (use Go syntax, e.g. 15m, 72h)", raw)
		}
		*p = d
	case *int:
		n, err := strconv.Atoi(raw)
		if err != nil {
			return perr("invalid integer %q", raw)
		}
		*p = n
	case *uint32:
		n, err := strconv.ParseUint(raw, 10, 32)
		if err != nil {
			return perr("invalid integer %q (0 to %d)", raw, uint32(math.MaxUint32))
		}
		*p = uint32(n)
	case *uint8:
		n, err := strconv.ParseUint(raw, 10, 8)
		if err != nil {
			return perr("invalid integer %q (0 to 255)", raw)
		}
		*p = uint8(n)
	case *[]string:
		*p = nil
		for part := range strings.SplitSeq(raw, ",") {
			if part = strings.TrimSpace(part); part != "" {
				*p = append(*p, part)
			}
		}
	case *[]netip.Prefix:
		*p = nil
		for part := range strings.SplitSeq(raw, ",") {
			if part = strings.TrimSpace(part); part == "" {
				continue
			}
			pfx, err := netip.ParsePrefix(part)
			if err != nil {
				a, aerr := netip.ParseAddr(part) // one address: its /32 or /128
				if aerr != nil || a.Zone() != "" {
					return perr("invalid CIDR %q (want e.g. 10.0.0.0/8, 2001:db8::/32 or one address)", part)
				}
				pfx = netip.PrefixFrom(a.Unmap(), a.Unmap().BitLen())
			}
			*p = append(*p, pfx.Masked())
		}
	case *[]byte:
		*p = nil
		if raw == "" {
			return nil
		}
		key, err := decodeKey(raw)
		if err != nil {
			return perr("%v", err)
		}
		*p = key
	default:
		panic(fmt.Sprintf("config: setting %s has unsupported type %T", s.name, p))
	}
	return nil
}

// KeySize is the length of a KEK in bytes (AES-256).
const KeySize = 32

// decodeKey decodes base64 (standard or URL alphabet, padded or not) of
// exactly KeySize bytes. The error never contains the input.
func decodeKey(s string) ([]byte, error) {
	for _, enc := range []*base64.Encoding{base64.StdEncoding, base64.RawStdEncoding, base64.URLEncoding, base64.RawURLEncoding} {
		b, err := enc.DecodeString(s)
		if err != nil {
			continue
		}
		if len(b) != KeySize {
			return nil, fmt.Errorf("must be base64 of exactly %d bytes, got %d bytes", KeySize, len(b))
		}
		return b, nil
	}
	return nil, fmt.Errorf("must be base64 of exactly %d bytes (not valid base64)", KeySize)
}
