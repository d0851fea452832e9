package config_test

import (
	"bytes"
	"encoding/base64"
	"errors"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/spf13/pflag"

	"github.com/authd-dev/authd/internal/app" // registers the store backends
	"github.com/authd-dev/authd/internal/config"
)

var (
	testKEK    = bytes.Repeat([]byte{7}, 32)
	testKEKB64 = base64.StdEncoding.EncodeToString(testKEK)
	testToken  = "0123456789abcdef-admin"
)

// load parses args like `authd serve` and loads with env as the environment.
func load(t *testing.T, env map[string]string, args ...string) (config.Config, error) {
	t.Helper()
	fs := pflag.NewFlagSet("serve", pflag.ContinueOnError)
	config.Register(fs)
	if err := fs.Parse(args); err != nil {
		t.Fatalf("parse %v: %v", args, err)
	}
	return config.Load(fs, func(k string) string { return env[k] })
}

// secrets is the minimal valid environment.
func secrets() map[string]string {
	return map[string]string{"AUTHD_ADMIN_TOKEN": testToken, "AUTHD_KEK": testKEKB64}
}

func writeFile(t *testing.T, content string) string {
	t.Helper()
	p := filepath.Join(t.TempDir(), "authd.yaml")
	if err := os.WriteFile(p, []byte(content), 0o600); err != nil {
		t.Fatal(err)
	}
	return p
}

func TestDefaults(t *testing.T) {
	cfg, err := load(t, secrets())
	if err != nil {
		t.Fatal(err)
	}
	want := config.Config{
		Addr: "127.0.0.1:8080", AdminAddr: "127.0.0.1:8081", Issuer: "http://127.0.0.1:8080",
		Store: "bolt", DataDir: "./data", Stores: map[string]any{"redis": &app.RedisSettings{
			URL: "redis://127.0.0.1:6379/0", Prefix: "authd:", WaitReplicas: "auto", WaitTimeout: 200 * time.Millisecond}},
		AdminToken: testToken, KEK: testKEK, SigningAlg: "RS256",
		AccessTokenTTL: 15 * time.Minute, IDTokenTTL: time.Hour, RefreshTokenTTL: 72 * time.Hour,
		RefreshTokenMaxLifetime: 720 * time.Hour, SessionIdleTTL: 24 * time.Hour, SessionMaxLifetime: 720 * time.Hour,
		DeviceCodeTTL: 10 * time.Minute, DevicePollInterval: 5 * time.Second, DeviceVerifyIPPerMinute: 5, DeviceVerifyIPBurst: 10,
		DeviceAuthorizationClientPerMinute: 600, DeviceAuthorizationClientBurst: 600, DeviceAuthorizationIPPerMinute: 10, DeviceAuthorizationIPBurst: 20, KeyRotationPeriod: 720 * time.Hour, KeyPublishAhead: time.Hour,
		ShutdownTimeout: 15 * time.Second, RefreshReuseMaxRetries: 3, DefaultAudience: "http://127.0.0.1:8080",
		RSAKeyBits: 2048, LogLevel: "info", LogFormat: "text", LogFlushInterval: 100 * time.Millisecond, Argon2Time: 2, Argon2MemoryKiB: 19456, Argon2Threads: 1,
		ClientCacheTTL: time.Second, UserCacheTTL: time.Second, DenyMirrorStaleness: 10 * time.Millisecond, ClientJWKSTimeout: 5 * time.Second, PasswordHashMemoryMiB: 256, PasswordHashPerIP: 4, PARLifetime: time.Minute,
		LoginUsernamePerMinute: 5, LoginUsernameBurst: 10, LoginIPPerMinute: 20, LoginIPBurst: 50,
		RedisFeedRetention: 25 * time.Minute, RevocationFeedMaxSubscribers: 512, RevocationFeedQueue: 1024, RevocationFeedWriteTimeout: 10 * time.Second,
		DPoPProofMaxAge:     time.Minute,
		DynamicRegistration: "off", RegistrationGrantTypes: []string{"authorization_code", "refresh_token"},
		RegistrationScopes:          []string{"openid", "profile", "email", "phone", "offline_access"},
		RegistrationRedirectSchemes: []string{"https", "http", "private-use"}, RegistrationAllowPublicClients: true,
		RegistrationIPPerMinute: 10, RegistrationIPBurst: 20,
	}
	if !reflect.DeepEqual(cfg, want) {
		t.Errorf("defaults:\n got %+v\nwant %+v", cfg, want)
	}
}

func TestPrecedence(t *testing.T) {
	file := writeFile(t, `
access-token-ttl: 5m
issuer: https://file.example.com/
redis-addrs: [f1:1, f2:2]
log-level: warn
dev: false
rsa-key-bits: 3072
`)
	type want struct {
		ttl    time.Duration
		issuer string
		addrs  []string
		level  string
		bits   int
	}
	tests := []struct {
		name string
		env  map[string]string
		args []string
		want want
	}{
		{"default", nil, nil, want{15 * time.Minute, "http://127.0.0.1:8080", nil, "info", 2048}},
		{"file beats default", nil, []string{"--config", file},
			want{5 * time.Minute, "https://file.example.com", []string{"f1:1", "f2:2"}, "warn", 3072}},
		{"file named by AUTHD_CONFIG", map[string]string{"AUTHD_CONFIG": file}, nil,
			want{5 * time.Minute, "https://file.example.com", []string{"f1:1", "f2:2"}, "warn", 3072}},
		{"env beats file", map[string]string{
			"AUTHD_ACCESS_TOKEN_TTL": "6m", "AUTHD_ISSUER": "https://env.example.com",
			"AUTHD_REDIS_ADDRS": "e1:1, e2:2,", "AUTHD_LOG_LEVEL": "error",
		}, []string{"--config", file},
			want{6 * time.Minute, "https://env.example.com", []string{"e1:1", "e2:2"}, "error", 3072}},
		{"flag beats env and file", map[string]string{
			"AUTHD_ACCESS_TOKEN_TTL": "6m", "AUTHD_ISSUER": "https://env.example.com",
			"AUTHD_REDIS_ADDRS": "e1:1", "AUTHD_LOG_LEVEL": "error", "AUTHD_RSA_KEY_BITS": "2048",
		}, []string{"--config", file, "--access-token-ttl", "7m", "--issuer", "https://flag.example.com",
			"--redis-addrs", "a1:1", "--redis-addrs", "a2:2", "--log-level=debug", "--rsa-key-bits", "4096"},
			want{7 * time.Minute, "https://flag.example.com", []string{"a1:1", "a2:2"}, "debug", 4096}},
		{"empty env counts as unset", map[string]string{"AUTHD_ACCESS_TOKEN_TTL": ""}, []string{"--config", file},
			want{5 * time.Minute, "https://file.example.com", []string{"f1:1", "f2:2"}, "warn", 3072}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			env := secrets()
			for k, v := range tt.env {
				env[k] = v
			}
			cfg, err := load(t, env, tt.args...)
			if err != nil {
				t.Fatal(err)
			}
			got := want{cfg.AccessTokenTTL, cfg.Issuer, cfg.Stores["redis"].(*app.RedisSettings).Addrs, cfg.LogLevel, cfg.RSAKeyBits}
			if !reflect.DeepEqual(got, tt.want) {
				t.Errorf("got %+v, want %+v", got, tt.want)
			}
			if cfg.DefaultAudience != cfg.Issuer {
				t.Errorf("default audience %q, want the issuer %q", cfg.DefaultAudience, cfg.Issuer)
			}
		})
	}
}

func TestFileStrict(t *testing.T) {
	tests := []struct {
		name, content, want string
	}{
		{"unknown key", "access-token-ttl: 5m\nacess-token-ttl: 6m\n", `line 2: unknown key "acess-token-ttl"`},
		{"config is not a key", "config: other.yaml\n", `unknown key "config"`},
		{"duplicate key", "store: bolt\nstore: redis\n", `key "store" appears twice`},
		{"nested mapping", "issuer:\n  url: https://x\n", `key "issuer": want a single value`},
		{"list for a scalar", "addr: [a, b]\n", `key "addr": want a single value`},
		{"not a mapping", "- a\n- b\n", "want a mapping"},
		{"malformed yaml", "addr: [\n", "--config: "},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := load(t, secrets(), "--config", writeFile(t, tt.content))
			assertOneLineError(t, err, "--config: ", tt.want)
		})
	}
	t.Run("missing file", func(t *testing.T) {
		_, err := load(t, secrets(), "--config", filepath.Join(t.TempDir(), "nope.yaml"))
		assertOneLineError(t, err, "--config: ", "no such file")
	})
	t.Run("empty file is fine", func(t *testing.T) {
		if _, err := load(t, secrets(), "--config", writeFile(t, "# nothing\n")); err != nil {
			t.Fatal(err)
		}
	})
	t.Run("bad value names the file line", func(t *testing.T) {
		p := writeFile(t, "log-level: info\naccess-token-ttl: 15x\n")
		_, err := load(t, secrets(), "--config", p)
		assertOneLineError(t, err, `--access-token-ttl: invalid duration "15x"`, "(from "+p+" line 2)")
	})
}

func assertOneLineError(t *testing.T, err error, prefix, contains string) {
	t.Helper()
	if err == nil {
		t.Fatalf("no error, want %q…%q", prefix, contains)
	}
	msg := err.Error()
	if !strings.HasPrefix(msg, prefix) || !strings.Contains(msg, contains) {
		t.Errorf("error %q, want prefix %q containing %q", msg, prefix, contains)
	}
	if strings.ContainsAny(msg, "\r\n") {
		t.Errorf("error is not one line: %q", msg)
	}
	if !errors.Is(err, config.ErrInvalid) {
		t.Errorf("error %q does not wrap ErrInvalid", msg)
	}
}

func TestValidation(t *testing.T) {
	b64 := func(n int) string { return base64.StdEncoding.EncodeToString(make([]byte, n)) }
	tests := []struct {
		args   []string
		prefix string // the whole message starts with this
		has    string
	}{
		{[]string{"--addr", "8080"}, "--addr: ", "host:port"},
		{[]string{"--admin-addr", "x"}, "--admin-addr: ", "host:port"},
		{[]string{"--dev=maybe"}, `--dev: invalid boolean "maybe"`, ""},
		{[]string{"--issuer", "auth.example.com"}, "--issuer: ", "absolute URL"},
		{[]string{"--issuer", "https://auth.example.com?x=1"}, "--issuer: ", "query or fragment"},
		{[]string{"--issuer", "https://auth.example.com/#f"}, "--issuer: ", "query or fragment"},
		{[]string{"--issuer", "http://auth.example.com"}, "--issuer: ", "https"},
		{[]string{"--issuer", "http://127.0.0.1.example.com"}, "--issuer: ", "https"},
		{[]string{"--issuer", "ftp://127.0.0.1"}, "--issuer: ", "scheme"},
		{[]string{"--issuer", "https://u:p@auth.example.com"}, "--issuer: ", "user info"},
		{[]string{"--store", "memory"}, `--store: unknown store "memory"`, ""},
		{[]string{"--store", "bolt", "--data-dir", ""}, "--data-dir is required", ""},
		{[]string{"--store", "redis", "--redis-url", "http://x"}, "--redis-url: ", "redis://"},
		{[]string{"--store", "redis", "--redis-addrs", "a:1,nohost"}, `--redis-addrs: invalid address "nohost"`, ""},
		{[]string{"--store", "redis", "--redis-master-name", "m"}, "--redis-master-name: ", "--redis-addrs"},
		{[]string{"--store", "redis", "--redis-wait-replicas", "some"}, "--redis-wait-replicas: ", "auto, off or a number"},
		{[]string{"--store", "redis", "--redis-wait-replicas", "-1"}, "--redis-wait-replicas: ", "auto, off or a number"},
		{[]string{"--store", "redis", "--redis-wait-replicas", "1", "--redis-wait-timeout", "0s"}, "--redis-wait-timeout: ", "between 1ms and 400ms"},
		{[]string{"--store", "redis", "--redis-addrs", "s:1", "--redis-master-name", "m", "--redis-wait-timeout", "1s"}, "--redis-wait-timeout: ", "between 1ms and 400ms"},
		{[]string{"--admin-token", ""}, "--admin-token is required (or use --dev)", ""},
		{[]string{"--admin-token", "short-secret"}, "--admin-token: must be at least 16 characters", ""},
		{[]string{"--admin-token", "0123456789 abcdef"}, "--admin-token: ", "spaces"},
		{[]string{"--kek", ""}, "--kek is required (or use --dev)", ""},
		{[]string{"--kek", "%%%not-base64%%%"}, "--kek: must be base64 of exactly 32 bytes", ""},
		{[]string{"--kek", b64(16)}, "--kek: must be base64 of exactly 32 bytes, got 16 bytes", ""},
		{[]string{"--kek-previous", b64(33)}, "--kek-previous: ", "got 33 bytes"},
		{[]string{"--signing-alg", "HS256"}, `--signing-alg: unsupported algorithm "HS256"`, ""},
		{[]string{"--rsa-key-bits", "1024"}, "--rsa-key-bits: unsupported size 1024", ""},
		{[]string{"--rsa-key-bits", "big"}, `--rsa-key-bits: invalid integer "big"`, ""},
		{[]string{"--access-token-ttl", "15x"}, `--access-token-ttl: invalid duration "15x"`, ""},
		{[]string{"--access-token-ttl", "0s"}, "--access-token-ttl: must be greater than 0", ""},
		{[]string{"--id-token-ttl", "-1m"}, "--id-token-ttl: must be greater than 0", ""},
		{[]string{"--refresh-token-ttl", "0"}, "--refresh-token-ttl: must be greater than 0", ""},
		{[]string{"--refresh-token-max-lifetime", "0s"}, "--refresh-token-max-lifetime: must be greater than 0", ""},
		{[]string{"--key-rotation-period", "0s"}, "--key-rotation-period: must be greater than 0", ""},
		{[]string{"--key-publish-ahead", "0s"}, "--key-publish-ahead: must be greater than 0", ""},
		{[]string{"--refresh-reuse-leeway", "-1s"}, "--refresh-reuse-leeway: must not be negative", ""},
		{[]string{"--dpop-proof-max-age", "0s"}, "--dpop-proof-max-age: must be between 1s and 10m", ""},
		{[]string{"--dpop-proof-max-age", "11m"}, "--dpop-proof-max-age: must be between 1s and 10m", ""},
		{[]string{"--shutdown-timeout", "-1s"}, "--shutdown-timeout: must not be negative", ""},
		{[]string{"--client-cache-ttl", "2m"}, "--client-cache-ttl: must be between 0 and 1m", ""},
		{[]string{"--user-cache-ttl", "-1s"}, "--user-cache-ttl: must be between 0 and 1m", ""},
		{[]string{"--deny-mirror-staleness", "11ms"}, "--deny-mirror-staleness: must be between 0 and 10ms", ""},
		{[]string{"--par-lifetime", "11m"}, "--par-lifetime: must be between 5s and 10m0s", ""},
		{[]string{"--par-lifetime", "1s"}, "--par-lifetime: must be between 5s and 10m0s", ""},
		{[]string{"--refresh-token-max-lifetime", "24h"}, "--refresh-token-max-lifetime: ", "at least --refresh-token-ttl"},
		{[]string{"--key-publish-ahead", "720h"}, "--key-publish-ahead: ", "shorter than --key-rotation-period"},
		{[]string{"--refresh-reuse-max-retries", "-1"}, "--refresh-reuse-max-retries: ", "≥ 0"},
		{[]string{"--security-webhook-url", "hooks.example.com/x"}, "--security-webhook-url: ", "absolute http(s) URL"},
		{[]string{"--log-level", "trace"}, `--log-level: unknown level "trace"`, ""},
		{[]string{"--log-format", "xml"}, `--log-format: unknown format "xml"`, ""},
		{[]string{"--log-flush-interval", "1m"}, "--log-flush-interval: ", "outside 0 (unbuffered) to 10s"},
		{[]string{"--argon2-time", "0"}, "--argon2-time: must be at least 1", ""},
		{[]string{"--argon2-threads", "0"}, "--argon2-threads: must be at least 1", ""},
		{[]string{"--argon2-threads", "256"}, `--argon2-threads: invalid integer "256"`, ""},
		{[]string{"--argon2-memory", "8", "--argon2-threads", "2"}, "--argon2-memory: ", "8 KiB per thread"},
		{[]string{"--access-token-ttl", "3h", "--redis-feed-retention", "2h"}, "--redis-feed-retention: (2h0m0s) must be at least --access-token-ttl (3h0m0s) + 2m0s", "still live"},
		{[]string{"--access-token-ttl", "1h", "--redis-feed-retention", "61m"}, "--redis-feed-retention: ", "at least --access-token-ttl"},
		{[]string{"--redis-feed-retention", "-1s"}, "--redis-feed-retention: must not be negative", ""},
		{[]string{"--revocation-feed-max-subscribers", "0"}, "--revocation-feed-max-subscribers: must be between 1 and 100000", ""},
		{[]string{"--revocation-feed-queue", "0"}, "--revocation-feed-queue: must be between 1 and 65536", ""},
		{[]string{"--revocation-feed-write-timeout", "0s"}, "--revocation-feed-write-timeout: must be greater than 0", ""},
		{[]string{"--ui-dir", "/no/such/ui/dir"}, "--ui-dir: ", "no such file or directory"},
		{[]string{"--ui-dir", "config_test.go"}, "--ui-dir: ", "not a directory"},
		{[]string{"--scope-descriptions", "notes:write"}, "--scope-descriptions: ", "scope=Description"},
		{[]string{"--scope-descriptions", "bad\\scope=Text"}, "--scope-descriptions: ", "scope=Description"},
		{[]string{"--scope-descriptions", "notes:write="}, "--scope-descriptions: ", "1 to 200 characters"},
	}
	for _, tt := range tests {
		t.Run(strings.Join(tt.args, " "), func(t *testing.T) {
			_, err := load(t, secrets(), tt.args...)
			assertOneLineError(t, err, tt.prefix, tt.has)
			var se *config.SettingError
			if !errors.As(err, &se) || !strings.HasPrefix(tt.prefix, "--"+se.Setting) {
				t.Errorf("SettingError %#v does not name the setting of %q", se, tt.prefix)
			}
		})
	}
}

func TestValidationSourceAndSecrets(t *testing.T) {
	env := secrets()
	env["AUTHD_ACCESS_TOKEN_TTL"] = "15x"
	_, err := load(t, env)
	assertOneLineError(t, err, `--access-token-ttl: invalid duration "15x"`, "(from AUTHD_ACCESS_TOKEN_TTL)")

	env = secrets()
	env["AUTHD_REFRESH_TOKEN_MAX_LIFETIME"] = "1h"
	_, err = load(t, env)
	assertOneLineError(t, err, "--refresh-token-max-lifetime: ", "(from AUTHD_REFRESH_TOKEN_MAX_LIFETIME)")

	// Secrets are never echoed.
	for _, args := range [][]string{
		{"--admin-token", "tooShortSecret"},
		{"--kek", "c2VjcmV0LWtleS1tYXRlcmlhbA"},
		{"--kek", "secret!!material"},
		{"--kek-previous", "c2VjcmV0LWtleS1tYXRlcmlhbA=="},
	} {
		_, err := load(t, secrets(), args...)
		if err == nil || strings.Contains(err.Error(), args[1]) {
			t.Errorf("%v: error %v must exist and not contain the secret", args, err)
		}
	}
}

func TestIssuer(t *testing.T) {
	tests := []struct {
		args []string
		want string
	}{
		{[]string{"--issuer", "https://auth.example.com/"}, "https://auth.example.com"},
		{[]string{"--issuer", "https://auth.example.com/tenant/"}, "https://auth.example.com/tenant"},
		{[]string{"--issuer", "http://localhost:8080"}, "http://localhost:8080"},
		{[]string{"--issuer", "http://127.3.2.1"}, "http://127.3.2.1"},
		{[]string{"--issuer", "http://[::1]:9000/"}, "http://[::1]:9000"},
		{[]string{"--issuer", "http://auth.internal", "--dev", "--data-dir", ""}, "http://auth.internal"},
		// Without --issuer it follows the public listener.
		{[]string{"--addr", "127.0.0.1:18080"}, "http://127.0.0.1:18080"},
		{[]string{"--addr", ":9000"}, "http://127.0.0.1:9000"},
		{[]string{"--addr", "[::1]:9000"}, "http://[::1]:9000"},
	}
	for _, tt := range tests {
		t.Run(strings.Join(tt.args, " "), func(t *testing.T) {
			args := tt.args
			if args[len(args)-1] == "" { // dev: give a data dir
				args = append(args[:len(args)-1:len(args)-1], t.TempDir())
			}
			cfg, err := load(t, secrets(), args...)
			if err != nil {
				t.Fatal(err)
			}
			if cfg.Issuer != tt.want || cfg.DefaultAudience != tt.want {
				t.Errorf("issuer %q, audience %q; want %q", cfg.Issuer, cfg.DefaultAudience, tt.want)
			}
		})
	}
	cfg, err := load(t, secrets(), "--issuer", "https://a.example.com", "--default-audience", "api")
	if err != nil || cfg.DefaultAudience != "api" {
		t.Errorf("explicit default audience: %q, %v", cfg.DefaultAudience, err)
	}
}

func TestKEKEncodings(t *testing.T) {
	for _, enc := range []*base64.Encoding{base64.StdEncoding, base64.RawStdEncoding, base64.URLEncoding, base64.RawURLEncoding} {
		key := bytes.Repeat([]byte{0xfb, 0xff, 0x3e}, 11)[:32] // has +/ vs -_ bytes
		cfg, err := load(t, map[string]string{"AUTHD_ADMIN_TOKEN": testToken}, "--kek", enc.EncodeToString(key), "--kek-previous", enc.EncodeToString(testKEK))
		if err != nil {
			t.Fatal(err)
		}
		if !bytes.Equal(cfg.KEK, key) || !bytes.Equal(cfg.KEKPrevious, testKEK) {
			t.Errorf("decoded %x / %x", cfg.KEK, cfg.KEKPrevious)
		}
	}
}

// TestRefreshReuseMaxRetriesZero (issue 8 item 13): 0 is a value, "no
// retries", never replaced by the default; a negative count is an error.
func TestRefreshReuseMaxRetriesZero(t *testing.T) {
	cfg, err := load(t, secrets(), "--refresh-reuse-max-retries", "0", "--refresh-reuse-leeway", "10s")
	if err != nil {
		t.Fatal(err)
	}
	if cfg.RefreshReuseMaxRetries != 0 {
		t.Errorf("RefreshReuseMaxRetries = %d; want 0", cfg.RefreshReuseMaxRetries)
	}
	if _, err := load(t, secrets(), "--refresh-reuse-max-retries", "-1"); err == nil || !strings.Contains(err.Error(), "refresh-reuse-max-retries") {
		t.Errorf("negative retries: %v; want an error naming the setting", err)
	}
}

// TestDerivedDefaultsAreFilledOnce: the default audience is the issuer
// with its trailing slash removed, filled here and nowhere else.
func TestDerivedDefaultsAreFilledOnce(t *testing.T) {
	cfg, err := load(t, secrets(), "--issuer", "https://auth.example.com/tenant/")
	if err != nil {
		t.Fatal(err)
	}
	if cfg.Issuer != "https://auth.example.com/tenant" || cfg.DefaultAudience != cfg.Issuer {
		t.Errorf("issuer %q, default audience %q; want both https://auth.example.com/tenant", cfg.Issuer, cfg.DefaultAudience)
	}
	cfg, err = load(t, secrets(), "--default-audience", "https://api.example.com")
	if err != nil || cfg.DefaultAudience != "https://api.example.com" {
		t.Errorf("explicit default audience: %q %v", cfg.DefaultAudience, err)
	}
	short := secrets()
	short["AUTHD_ADMIN_TOKEN"] = strings.Repeat("x", config.MinAdminTokenLen-1)
	if _, err := load(t, short); err == nil || !strings.Contains(err.Error(), "admin-token") {
		t.Errorf("short admin token: %v", err)
	}
}

// TestRedisWaitReplicas: auto waits for one replica where replicas exist
// (Sentinel, Cluster) and is off for a single Redis; off and a number say
// so explicitly.
func TestRedisWaitReplicas(t *testing.T) {
	for _, tc := range []struct {
		args []string
		want int
	}{
		{[]string{"--store", "redis"}, 0},
		{[]string{"--store", "redis", "--redis-addrs", "s1:26379,s2:26379", "--redis-master-name", "m"}, 1},
		{[]string{"--store", "redis", "--redis-addrs", "s1:26379", "--redis-master-name", "m"}, 1},
		{[]string{"--store", "redis", "--redis-addrs", "n1:6379,n2:6379,n3:6379"}, 1},
		{[]string{"--store", "redis", "--redis-addrs", "n1:6379,n2:6379", "--redis-wait-replicas", "off"}, 0},
		{[]string{"--store", "redis", "--redis-wait-replicas", "0", "--redis-wait-timeout", "0s"}, 0},
		{[]string{"--store", "redis", "--redis-addrs", "n1:6379,n2:6379", "--redis-wait-replicas", "2"}, 2},
	} {
		cfg, err := load(t, secrets(), tc.args...)
		if err != nil {
			t.Fatalf("%v: %v", tc.args, err)
		}
		if got := cfg.StoreOptions().(*app.RedisSettings).DurableReplicas(); got != tc.want {
			t.Errorf("%v: DurableReplicas = %d, want %d", tc.args, got, tc.want)
		}
	}
}

// TestFeedRetentionDerivedFromAccessTokenTTL: unset, the Redis feed keeps
// records for the access-token TTL plus a margin, whatever the TTL (the
// fixed 2h of old dropped live denials with a longer TTL); an explicit
// value that covers the TTL is kept.
func TestFeedRetentionDerivedFromAccessTokenTTL(t *testing.T) {
	for _, tt := range []struct {
		args []string
		want time.Duration
	}{
		{nil, 15*time.Minute + config.FeedRetentionMargin},
		{[]string{"--access-token-ttl", "4h"}, 4*time.Hour + config.FeedRetentionMargin},
		{[]string{"--access-token-ttl", "4h", "--redis-feed-retention", "4h2m"}, 4*time.Hour + 2*time.Minute},
	} {
		cfg, err := load(t, secrets(), tt.args...)
		if err != nil || cfg.RedisFeedRetention != tt.want {
			t.Errorf("%v: retention %s, %v; want %s", tt.args, cfg.RedisFeedRetention, err, tt.want)
		}
	}
}

func TestRegistrationSettingsRejected(t *testing.T) {
	for _, args := range [][]string{
		{"--dynamic-registration", "maybe"},
		{"--registration-grant-types", "implicit"},
		{"--registration-grant-types", ""},
		{"--registration-scopes", `a"b`},
		{"--registration-redirect-schemes", "ftp"},
		{"--registration-redirect-schemes", ""},
		{"--registration-ip-per-minute", "0"},
		{"--registration-ip-burst", "0"},
	} {
		_, err := load(t, secrets(), args...)
		if !errors.Is(err, config.ErrInvalid) || !strings.Contains(err.Error(), strings.TrimPrefix(args[0], "--")) {
			t.Errorf("%v: %v, want an error naming the setting", args, err)
		}
	}
}
