// Package config turns the settings of `authd serve` — flags, their AUTHD_*
// environment twins and an optional strict YAML file — into one typed,
// validated Config. Precedence: flag > environment > file > default.
//
// The package never prints or returns a secret (admin token, KEKs): errors
// name the setting and describe the problem without echoing the value.
package config

import (
	"errors"
	"fmt"
	"net/netip"
	"strings"
	"time"

	"github.com/spf13/pflag"
)

// Config is the complete, validated configuration of one authd instance.
type Config struct {
	// Addr is the public listener (token, JWKS, discovery, authorize, …).
	Addr string
	// AdminAddr is the admin listener (/admin/…, /metrics).
	AdminAddr string
	// Issuer is the `iss` value and the base of discovery, without a
	// trailing slash (OpenID Connect Discovery 1.0 §3, RFC 8414 §2).
	Issuer string
	// Dev is development mode: missing secrets are generated and kept in
	// DataDir.
	Dev bool
	// Store names the backend: "bolt" or "redis".
	Store string
	// DataDir holds the bolt database and the dev-mode secrets.
	DataDir string
	// Stores holds each registered backend's options, keyed by its name,
	// as its settings filled them (StoreBackend); StoreOptions returns the
	// selected one's.
	Stores map[string]any
	// AdminToken is the bearer token of the admin API.
	AdminToken string
	// KEK is the 32-byte key that encrypts private signing keys at rest.
	KEK []byte
	// KEKPrevious is the former KEK during a KEK change (nil if none).
	KEKPrevious []byte
	// SigningAlg is the default `alg` of access tokens: RS256 or ES256.
	SigningAlg string
	// AccessTokenTTL is the lifetime of access tokens.
	AccessTokenTTL time.Duration
	// IDTokenTTL is the lifetime of ID tokens.
	IDTokenTTL time.Duration
	// RefreshTokenTTL is the idle lifetime of a refresh token.
	RefreshTokenTTL time.Duration
	// RefreshTokenMaxLifetime is the absolute lifetime of a refresh-token
	// family; never shorter than RefreshTokenTTL.
	RefreshTokenMaxLifetime time.Duration
	// SessionIdleTTL and SessionMaxLifetime bound an SSO session: idle
	// and absolute lifetime (the latter never shorter).
	SessionIdleTTL     time.Duration
	SessionMaxLifetime time.Duration
	// PARLifetime is how long a pushed authorization request lives (RFC
	// 9126 §2.2): 5s to 10m.
	PARLifetime time.Duration
	// RequirePushedAuthorizationRequests refuses authorization requests
	// that were not pushed, for every client (RFC 9126 §5).
	RequirePushedAuthorizationRequests bool
	// DeviceCodeTTL and DevicePollInterval are the device grant's
	// expires_in and interval (RFC 8628 §3.2), whole seconds.
	DeviceCodeTTL      time.Duration
	DevicePollInterval time.Duration
	// DeviceVerifyIPPerMinute and DeviceVerifyIPBurst throttle wrong user
	// codes per client address on the verification page (RFC 8628 §5.1).
	DeviceVerifyIPPerMinute, DeviceVerifyIPBurst int
	// DeviceAuthorizationClientPerMinute and DeviceAuthorizationClientBurst
	// throttle device authorization requests per client;
	// DeviceAuthorizationIPPerMinute and DeviceAuthorizationIPBurst per
	// client address for public clients (RFC 8628 §3.1, §5.2).
	DeviceAuthorizationClientPerMinute, DeviceAuthorizationClientBurst int
	DeviceAuthorizationIPPerMinute, DeviceAuthorizationIPBurst         int
	// RefreshReuseLeeway is the window after a rotation in which the
	// previous refresh token is treated as a retry (0 disables it).
	RefreshReuseLeeway time.Duration
	// DPoPProofMaxAge is how old a DPoP proof may be (its iat window,
	// RFC 9449 §11.1); between 1s and 10m.
	DPoPProofMaxAge time.Duration
	// DPoPNonce makes the server require nonces in DPoP proofs (§8).
	DPoPNonce bool
	// KeyRotationPeriod is how long a signing key stays active.
	KeyRotationPeriod time.Duration
	// KeyPublishAhead is how long the next key is published before it
	// signs; shorter than KeyRotationPeriod.
	KeyPublishAhead time.Duration
	// ShutdownTimeout bounds the graceful drain on SIGTERM/SIGINT.
	ShutdownTimeout time.Duration
	// RedisFeedRetention is how long the Redis revocation feed keeps
	// records: at least AccessTokenTTL + 2m; derived (AccessTokenTTL +
	// FeedRetentionMargin) when not set.
	RedisFeedRetention time.Duration
	// RevocationFeedMaxSubscribers bounds the feed streams of one replica.
	RevocationFeedMaxSubscribers int
	// RevocationFeedQueue is each feed subscriber's queue of events.
	RevocationFeedQueue int
	// RevocationFeedWriteTimeout bounds every write of a feed stream.
	RevocationFeedWriteTimeout time.Duration
	// ClientCacheTTL keeps client records in memory on the token path; a
	// change on another replica is seen after at most this long (0: off).
	ClientCacheTTL time.Duration
	// UserCacheTTL keeps user records in memory on the refresh path; it
	// bounds staleness while notifications are interrupted (0: off).
	UserCacheTTL time.Duration
	// DenyMirrorStaleness bounds how stale the local denylist copy that
	// introspection reads on Redis may be (0: introspection reads Redis).
	DenyMirrorStaleness time.Duration
	// UIDir is an operator's directory of page templates and static files
	// ("": the built-in pages).
	UIDir string
	// ScopeDescriptions are "scope=Description" entries for the consent
	// page (oauth.ParseScopeDescriptions).
	ScopeDescriptions []string
	// ClientAssertionAudienceTokenEndpoint also accepts the token endpoint
	// URL as the aud of client assertions (default: the issuer only).
	ClientAssertionAudienceTokenEndpoint bool
	// ClientJWKSTimeout bounds one fetch of a client's jwks_uri.
	ClientJWKSTimeout time.Duration
	// ClientJWKSAllowPrivate lets jwks_uri fetches and back-channel
	// logout POSTs reach non-public addresses (loopback, RFC 1918, link-local …); off by default (SSRF).
	ClientJWKSAllowPrivate bool
	// RefreshReuseMaxRetries is how many retries are honoured inside the
	// reuse leeway.
	RefreshReuseMaxRetries int
	// DefaultAudience is the `aud` of access tokens when neither the
	// request nor the client names one; defaults to Issuer.
	DefaultAudience string
	// RSAKeyBits is the size of generated RSA signing keys.
	RSAKeyBits int
	// SecurityWebhookURL receives security events (empty: none).
	SecurityWebhookURL string
	// SecurityWebhookSecret ("whsec_" + base64) signs the webhook's
	// deliveries (Standard Webhooks); required with the URL unless Dev.
	SecurityWebhookSecret string
	// MetricsToken is a bearer token accepted for /metrics (empty: none).
	MetricsToken string
	// MetricsRequireAuth makes /metrics require the admin token or
	// MetricsToken; a MetricsToken implies it.
	MetricsRequireAuth bool
	// LogLevel is debug, info, warn or error.
	LogLevel string
	// LogFormat is text or json.
	LogFormat string
	// LogFlushInterval is how long a log line may wait in the buffer
	// (0: unbuffered, one write per line).
	LogFlushInterval time.Duration
	// Argon2Time is the argon2id time (iterations) parameter.
	Argon2Time uint32
	// Argon2MemoryKiB is the argon2id memory parameter in KiB.
	Argon2MemoryKiB uint32
	// Argon2Threads is the argon2id parallelism parameter.
	Argon2Threads uint8
	// TrustedProxies are the reverse proxies whose forwarding headers name
	// the client address (empty: none).
	TrustedProxies []netip.Prefix
	// PasswordHashMemoryMiB bounds the memory of concurrent password
	// hashes; at least one hash (Argon2MemoryKiB).
	PasswordHashMemoryMiB int
	// PasswordHashPerIP is how many password hashes one client address may
	// run at once.
	PasswordHashPerIP int
	// LoginUsernamePerMinute and LoginUsernameBurst shape the login
	// throttle per username; LoginIPPerMinute and LoginIPBurst per client
	// address.
	LoginUsernamePerMinute, LoginUsernameBurst int
	LoginIPPerMinute, LoginIPBurst             int
	// DynamicRegistration is the mode of dynamic client registration:
	// RegistrationOff, RegistrationToken or RegistrationOpen.
	DynamicRegistration string
	// RegistrationGrantTypes, RegistrationScopes,
	// RegistrationRedirectSchemes and RegistrationAllowPublicClients are
	// the policy dynamically registered clients are held to (clients.Policy).
	RegistrationGrantTypes         []string
	RegistrationScopes             []string
	RegistrationRedirectSchemes    []string
	RegistrationAllowPublicClients bool
	// RegistrationIPPerMinute and RegistrationIPBurst throttle the
	// registration endpoint per client address.
	RegistrationIPPerMinute, RegistrationIPBurst int
	// DevGenerated is true when the admin token or the KEK was generated
	// or loaded from the data dir in dev mode.
	DevGenerated bool
}

// ErrInvalid is wrapped by every error Load returns for a missing or
// malformed setting.
var ErrInvalid = errors.New("invalid configuration")

// SettingError reports one bad setting. Its message is one line that
// starts with the flag name, e.g. `--access-token-ttl: invalid duration "15x"`
// or `--admin-token is required (or use --dev)`.
type SettingError struct {
	// Setting is the flag name without dashes, e.g. "access-token-ttl".
	Setting string
	// Source says where a bad value came from: "" for a flag or default,
	// else the environment variable or the config file.
	Source string
	// Msg describes the problem; it never contains a secret.
	Msg string
}

// Error implements error.
func (e *SettingError) Error() string {
	sep := ": "
	if strings.HasPrefix(e.Msg, "is ") { // "--admin-token is required (or use --dev)"
		sep = " "
	}
	s := "--" + e.Setting + sep + e.Msg
	if e.Source != "" {
		s += " (from " + e.Source + ")"
	}
	return s
}

// Unwrap makes errors.Is(err, ErrInvalid) true.
func (e *SettingError) Unwrap() error { return ErrInvalid }

func settingErr(name, format string, args ...any) *SettingError {
	return &SettingError{Setting: name, Msg: fmt.Sprintf(format, args...)}
}

// EnvName is the environment twin of a flag: "foo-bar" → "AUTHD_FOO_BAR".
func EnvName(flag string) string {
	b := []byte("AUTHD_")
	for _, c := range []byte(flag) {
		switch {
		case c == '-':
			c = '_'
		case 'a' <= c && c <= 'z':
			c -= 'a' - 'A'
		}
		b = append(b, c)
	}
	return string(b)
}

// Register adds every serve flag, plus --config, to fs (pflag, so cobra
// can use it). Values are checked by Load, not while parsing, so every
// error names its setting the same way whatever its source.
func Register(fs *pflag.FlagSet) {
	fs.Var(&rawValue{kind: "string"}, flagConfig, "optional YAML file of settings, keyed by flag name (env "+EnvName(flagConfig)+")")
	for _, s := range allSettings() {
		v := &rawValue{kind: s.kind(), s: s.def}
		f := fs.VarPF(v, s.name, "", s.usage+" (env "+EnvName(s.name)+")")
		f.DefValue = s.def
		if v.kind == "bool" {
			f.NoOptDefVal = "true"
		}
	}
}

// Load resolves the settings from fs (already parsed), getenv and the YAML
// file named by --config / AUTHD_CONFIG, validates them and returns the
// Config. With --dev, a missing admin token or KEK comes from
// EnsureDevSecrets. Every error is one line naming the setting and wraps
// ErrInvalid (or, for an unreadable dev secret, the I/O error).
func Load(fs *pflag.FlagSet, getenv func(string) string) (Config, error) {
	if getenv == nil {
		getenv = func(string) string { return "" }
	}
	var file map[string]fileValue
	if path, src, ok := lookup(fs, getenv, flagConfig); ok && path != "" {
		var err error
		if file, err = readFile(path); err != nil {
			e := settingErr(flagConfig, "%v", err)
			e.Source = src
			return Config{}, e
		}
	}
	var cfg Config
	sources := map[string]string{} // setting → env var or file line, for errors
	for _, s := range allSettings() {
		raw, src, ok := lookup(fs, getenv, s.name)
		if !ok {
			if fv, inFile := file[s.name]; inFile {
				raw, src = fv.value, fv.source
			} else {
				raw, src = s.def, ""
			}
		}
		sources[s.name] = src
		if err := s.parse(&cfg, raw); err != nil {
			e := settingErr(s.name, "%s", err.msg)
			e.Source = src
			return Config{}, e
		}
	}
	if err := validate(&cfg); err != nil {
		if se, ok := errors.AsType[*SettingError](err); ok && se.Source == "" {
			se.Source = sources[se.Setting]
		}
		return Config{}, err
	}
	return cfg, nil
}

// lookup returns the flag's value if it was set on the command line, else
// its environment twin if non-empty; src names the environment variable.
func lookup(fs *pflag.FlagSet, getenv func(string) string, name string) (raw, src string, ok bool) {
	if f := fs.Lookup(name); f != nil && f.Changed {
		return f.Value.String(), "", true
	}
	env := EnvName(name)
	if v := getenv(env); v != "" {
		return v, env, true
	}
	return "", "", false
}

// rawValue keeps a flag's text as given; Load parses it. kind is what help
// shows as the flag's type. A list flag may be repeated (values append).
type rawValue struct {
	s    string
	kind string
	set  bool
}

func (v *rawValue) String() string { return v.s }
func (v *rawValue) Type() string   { return v.kind }
func (v *rawValue) Set(s string) error {
	if v.kind == "strings" && v.set && s != "" {
		s = v.s + "," + s
	}
	v.s, v.set = s, true
	return nil
}
