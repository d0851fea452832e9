package config

import (
	"net"
	"net/url"
	"slices"
	"strings"
	"time"

	"github.com/authd-dev/authd/authorize"
	"github.com/authd-dev/authd/keys"
)

// MinAdminTokenLen is the shortest admin token accepted.
const MinAdminTokenLen = 16

// validate checks cross-field rules, normalises the issuer, fills derived
// defaults and, in dev mode, supplies missing secrets. The first problem
// is returned, in settings-table order.
func validate(c *Config) error {
	for _, a := range []struct{ name, addr string }{{"addr", c.Addr}, {"admin-addr", c.AdminAddr}} {
		if _, _, err := net.SplitHostPort(a.addr); err != nil {
			return settingErr(a.name, "invalid listen address %q (want host:port)", a.addr)
		}
	}
	if err := validateIssuer(c); err != nil {
		return err
	}
	if err := validateStore(c); err != nil {
		return err
	}
	if c.Dev {
		if err := EnsureDevSecrets(c); err != nil {
			return err
		}
	}
	switch {
	case c.AdminToken == "":
		return settingErr("admin-token", "is required (or use --dev)")
	case len(c.AdminToken) < MinAdminTokenLen:
		return settingErr("admin-token", "must be at least %d characters, got %d", MinAdminTokenLen, len(c.AdminToken))
	case strings.ContainsFunc(c.AdminToken, isSpaceOrControl):
		return settingErr("admin-token", "must not contain spaces or control characters")
	}
	if c.KEK == nil {
		return settingErr("kek", "is required (or use --dev); generate one with: openssl rand -base64 32")
	}
	if !oneOf(c.SigningAlg, keys.Algorithms()...) {
		return settingErr("signing-alg", "unsupported algorithm %q (one of %s)", c.SigningAlg, strings.Join(keys.Algorithms(), ", "))
	}
	if !slices.Contains([]int{2048, 3072, 4096}, c.RSAKeyBits) {
		return settingErr("rsa-key-bits", "unsupported size %d (2048, 3072 or 4096)", c.RSAKeyBits)
	}
	if err := validateDurations(c); err != nil {
		return err
	}
	if err := validateFeed(c); err != nil {
		return err
	}
	if c.RefreshReuseMaxRetries < 0 {
		return settingErr("refresh-reuse-max-retries", "must be ≥ 0, got %d", c.RefreshReuseMaxRetries)
	}
	if c.DefaultAudience == "" {
		c.DefaultAudience = c.Issuer
	}
	if err := validateWebhookAndMetrics(c); err != nil {
		return err
	}
	if !oneOf(c.LogLevel, "debug", "info", "warn", "error") {
		return settingErr("log-level", "unknown level %q (debug, info, warn or error)", c.LogLevel)
	}
	if !oneOf(c.LogFormat, "text", "json") {
		return settingErr("log-format", "unknown format %q (text or json)", c.LogFormat)
	}
	if c.LogFlushInterval < 0 || c.LogFlushInterval > 10*time.Second {
		return settingErr("log-flush-interval", "%s is outside 0 (unbuffered) to 10s", c.LogFlushInterval)
	}
	// RFC 9106 §3.1: t ≥ 1, 1 ≤ p, m ≥ 8·p KiB.
	if c.Argon2Time < 1 {
		return settingErr("argon2-time", "must be at least 1")
	}
	if c.Argon2Threads < 1 {
		return settingErr("argon2-threads", "must be at least 1")
	}
	if c.Argon2MemoryKiB < 8*uint32(c.Argon2Threads) {
		return settingErr("argon2-memory", "must be at least 8 KiB per thread (%d KiB)", 8*uint32(c.Argon2Threads))
	}
	if err := validateUI(c); err != nil {
		return err
	}
	if err := validateRegistration(c); err != nil {
		return err
	}
	return validateLogin(c)
}

// issuerFromAddr is the issuer when none is set: plain http on the public
// listener's own address, so `--addr 127.0.0.1:9000` alone gives a working
// local server. A wildcard host (":9000", "0.0.0.0:9000") becomes
// 127.0.0.1; anything reachable from elsewhere should set --issuer (and
// needs https, which validateIssuer enforces outside --dev).
func issuerFromAddr(addr string) string {
	host, port, err := net.SplitHostPort(addr)
	if err != nil {
		return "http://" + addr
	}
	if ip := net.ParseIP(host); host == "" || (ip != nil && ip.IsUnspecified()) {
		host = "127.0.0.1"
	}
	return "http://" + net.JoinHostPort(host, port)
}

// validateIssuer applies OpenID Connect Discovery 1.0 §3 / RFC 8414 §2:
// an absolute URL, https (loopback or --dev may use http), no query or
// fragment. A trailing slash is removed so `iss` compares exactly.
func validateIssuer(c *Config) error {
	if c.Issuer == "" {
		c.Issuer = issuerFromAddr(c.Addr)
	}
	u, err := url.Parse(c.Issuer)
	switch {
	case err != nil || u.Scheme == "" || u.Host == "" || u.Opaque != "":
		return settingErr("issuer", "must be an absolute URL such as https://auth.example.com, got %q", c.Issuer)
	case u.RawQuery != "" || u.ForceQuery || u.Fragment != "" || strings.Contains(c.Issuer, "#"):
		return settingErr("issuer", "must not have a query or fragment, got %q", c.Issuer)
	case u.User != nil:
		return settingErr("issuer", "must not contain user info")
	case u.Scheme == "https":
	case u.Scheme == "http":
		if !c.Dev && !isLoopback(u.Hostname()) {
			return settingErr("issuer", "must use https unless the host is loopback or --dev is set, got %q", c.Issuer)
		}
	default:
		return settingErr("issuer", "unsupported scheme %q (https, or http on loopback)", u.Scheme)
	}
	c.Issuer = strings.TrimRight(c.Issuer, "/")
	return nil
}

// isLoopback reports whether host is localhost, 127.0.0.0/8 or ::1.
func isLoopback(host string) bool {
	if strings.EqualFold(host, "localhost") {
		return true
	}
	ip := net.ParseIP(host)
	return ip != nil && ip.IsLoopback()
}

func validateDurations(c *Config) error {
	for _, d := range []struct {
		name string
		v    time.Duration
	}{
		{"access-token-ttl", c.AccessTokenTTL},
		{"id-token-ttl", c.IDTokenTTL},
		{"refresh-token-ttl", c.RefreshTokenTTL},
		{"refresh-token-max-lifetime", c.RefreshTokenMaxLifetime},
		{"session-idle-ttl", c.SessionIdleTTL},
		{"session-max-lifetime", c.SessionMaxLifetime},
		{"key-rotation-period", c.KeyRotationPeriod},
		{"key-publish-ahead", c.KeyPublishAhead},
	} {
		if d.v <= 0 {
			return settingErr(d.name, "must be greater than 0, got %s", d.v)
		}
	}
	switch {
	case c.DPoPProofMaxAge < time.Second || c.DPoPProofMaxAge > 10*time.Minute:
		return settingErr("dpop-proof-max-age", "must be between 1s and 10m, got %s", c.DPoPProofMaxAge)
	case c.RefreshReuseLeeway < 0:
		return settingErr("refresh-reuse-leeway", "must not be negative, got %s", c.RefreshReuseLeeway)
	case c.ShutdownTimeout < 0:
		return settingErr("shutdown-timeout", "must not be negative, got %s", c.ShutdownTimeout)
	case c.PARLifetime < minPARLifetime || c.PARLifetime > maxPARLifetime:
		// RFC 9126 §2.2: request_uri lifetimes of 5 to 600 seconds.
		return settingErr("par-lifetime", "must be between %s and %s, got %s", minPARLifetime, maxPARLifetime, c.PARLifetime)
	case c.ClientJWKSTimeout <= 0 || c.ClientJWKSTimeout > time.Minute:
		return settingErr("client-jwks-timeout", "must be between 1ns and 1m, got %s", c.ClientJWKSTimeout)
	case c.ClientCacheTTL < 0 || c.ClientCacheTTL > time.Minute:
		return settingErr("client-cache-ttl", "must be between 0 and 1m, got %s", c.ClientCacheTTL)
	case c.DenyMirrorStaleness < 0 || c.DenyMirrorStaleness > 10*time.Millisecond:
		return settingErr("deny-mirror-staleness", "must be between 0 and 10ms, got %s", c.DenyMirrorStaleness)
	case c.UserCacheTTL < 0 || c.UserCacheTTL > time.Minute:
		return settingErr("user-cache-ttl", "must be between 0 and 1m, got %s", c.UserCacheTTL)
	case c.RefreshTokenMaxLifetime < c.RefreshTokenTTL:
		return settingErr("refresh-token-max-lifetime", "(%s) must be at least --refresh-token-ttl (%s)", c.RefreshTokenMaxLifetime, c.RefreshTokenTTL)
	case c.SessionMaxLifetime < c.SessionIdleTTL:
		return settingErr("session-max-lifetime", "(%s) must be at least --session-idle-ttl (%s)", c.SessionMaxLifetime, c.SessionIdleTTL)
	case c.DeviceCodeTTL < 10*time.Second || c.DeviceCodeTTL > time.Hour || c.DeviceCodeTTL%time.Second != 0:
		return settingErr("device-code-ttl", "must be whole seconds between 10s and 1h, got %s", c.DeviceCodeTTL)
	case c.DevicePollInterval < time.Second || c.DevicePollInterval > time.Minute || c.DevicePollInterval%time.Second != 0:
		return settingErr("device-poll-interval", "must be whole seconds between 1s and 60s, got %s", c.DevicePollInterval)
	case c.KeyPublishAhead >= c.KeyRotationPeriod:
		return settingErr("key-publish-ahead", "(%s) must be shorter than --key-rotation-period (%s)", c.KeyPublishAhead, c.KeyRotationPeriod)
	}
	return nil
}

// Bounds of --par-lifetime: the flow's own (its constructor checks them
// again).
const (
	minPARLifetime = authorize.MinPushedLifetime
	maxPARLifetime = authorize.MaxPushedLifetime
)

// Revocation-feed limits.
const (
	// FeedRetentionMargin is what the derived --redis-feed-retention adds
	// to --access-token-ttl.
	FeedRetentionMargin = 10 * time.Minute
	// minFeedRetentionMargin is the least an explicit retention may add:
	// a denial lives --access-token-ttl + 1m after its At (tokens/reuse.go),
	// plus a minute of clock skew between replicas.
	minFeedRetentionMargin = 2 * time.Minute
	maxFeedSubscribers     = 100_000
	maxFeedQueue           = 1 << 16
)

// validateFeed checks the revocation-feed settings and derives the Redis
// feed retention. The Redis feed keeps records for --redis-feed-retention
// and its snapshot is built from them, so the retention must outlast the
// longest-lived denial: an access token's lifetime plus a minute
// (docs/revocation-feed.md).
func validateFeed(c *Config) error {
	switch {
	case c.RedisFeedRetention < 0:
		return settingErr("redis-feed-retention", "must not be negative, got %s", c.RedisFeedRetention)
	case c.RedisFeedRetention == 0:
		c.RedisFeedRetention = c.AccessTokenTTL + FeedRetentionMargin
	case c.RedisFeedRetention < c.AccessTokenTTL+minFeedRetentionMargin:
		return settingErr("redis-feed-retention", "(%s) must be at least --access-token-ttl (%s) + %s, or the feed's snapshot drops denials that are still live",
			c.RedisFeedRetention, c.AccessTokenTTL, minFeedRetentionMargin)
	}
	if c.RevocationFeedMaxSubscribers < 1 || c.RevocationFeedMaxSubscribers > maxFeedSubscribers {
		return settingErr("revocation-feed-max-subscribers", "must be between 1 and %d, got %d", maxFeedSubscribers, c.RevocationFeedMaxSubscribers)
	}
	if c.RevocationFeedQueue < 1 || c.RevocationFeedQueue > maxFeedQueue {
		return settingErr("revocation-feed-queue", "must be between 1 and %d, got %d", maxFeedQueue, c.RevocationFeedQueue)
	}
	if c.RevocationFeedWriteTimeout <= 0 || c.RevocationFeedWriteTimeout > time.Minute {
		return settingErr("revocation-feed-write-timeout", "must be greater than 0 and at most 1m, got %s", c.RevocationFeedWriteTimeout)
	}
	return nil
}

func oneOf(s string, set ...string) bool { return slices.Contains(set, s) }

func isSpaceOrControl(r rune) bool { return r <= ' ' || r == 0x7f }

// validateLogin checks the login throttle and the hashing budget: the
// budget must hold at least one hash.
func validateLogin(c *Config) error {
	if c.PasswordHashMemoryMiB < 1 || int64(c.PasswordHashMemoryMiB)*1024 < int64(c.Argon2MemoryKiB) {
		return settingErr("password-hash-memory", "must hold at least one password hash (--argon2-memory is %d KiB), got %d MiB", c.Argon2MemoryKiB, c.PasswordHashMemoryMiB)
	}
	for _, s := range []struct {
		name string
		v    int
	}{
		{"password-hash-per-ip", c.PasswordHashPerIP},
		{"login-username-per-minute", c.LoginUsernamePerMinute},
		{"login-username-burst", c.LoginUsernameBurst},
		{"login-ip-per-minute", c.LoginIPPerMinute},
		{"login-ip-burst", c.LoginIPBurst},
		{"device-verify-ip-per-minute", c.DeviceVerifyIPPerMinute},
		{"device-verify-ip-burst", c.DeviceVerifyIPBurst},
		{"device-authorization-client-per-minute", c.DeviceAuthorizationClientPerMinute},
		{"device-authorization-client-burst", c.DeviceAuthorizationClientBurst},
		{"device-authorization-ip-per-minute", c.DeviceAuthorizationIPPerMinute},
		{"device-authorization-ip-burst", c.DeviceAuthorizationIPBurst},
	} {
		if s.v < 1 || s.v > 1_000_000 {
			return settingErr(s.name, "must be between 1 and 1000000, got %d", s.v)
		}
	}
	return nil
}
