package config_test

import (
	"bytes"
	"encoding/base64"
	"reflect"
	"strings"
	"testing"

	"github.com/spf13/pflag"

	"github.com/authd-dev/authd/internal/config"
)

// TestEveryFlagHasAWorkingEnvTwin walks the registered FlagSet: for every
// flag, AUTHD_<NAME> must give the same Config as --name, and that Config
// must differ from the default one. A new flag without a sample fails here.
func TestEveryFlagHasAWorkingEnvTwin(t *testing.T) {
	samples := map[string]string{
		"config":                                   writeFile(t, "access-token-ttl: 9m\n"),
		"addr":                                     "127.0.0.1:9090",
		"admin-addr":                               "127.0.0.1:9091",
		"issuer":                                   "https://sample.example.com",
		"dev":                                      "true",
		"store":                                    "redis",
		"data-dir":                                 "/var/lib/authd",
		"redis-url":                                "rediss://10.0.0.1:6380/2",
		"redis-addrs":                              "r1:6379,r2:6379",
		"redis-master-name":                        "mymaster",
		"redis-prefix":                             "tenant1:",
		"redis-wait-replicas":                      "2",
		"redis-wait-timeout":                       "150ms",
		"admin-token":                              "another-admin-token-0123456789",
		"kek":                                      base64.RawURLEncoding.EncodeToString(bytes.Repeat([]byte{9}, 32)),
		"kek-previous":                             base64.StdEncoding.EncodeToString(bytes.Repeat([]byte{8}, 32)),
		"signing-alg":                              "ES256",
		"rsa-key-bits":                             "4096",
		"access-token-ttl":                         "1m",
		"id-token-ttl":                             "2m",
		"refresh-token-ttl":                        "3h",
		"refresh-token-max-lifetime":               "100h",
		"refresh-reuse-leeway":                     "2s",
		"session-idle-ttl":                         "2h",
		"session-max-lifetime":                     "48h",
		"device-code-ttl":                          "15m",
		"device-poll-interval":                     "7s",
		"device-verify-ip-per-minute":              "9",
		"device-verify-ip-burst":                   "19",
		"device-authorization-client-per-minute":   "30",
		"device-authorization-client-burst":        "31",
		"device-authorization-ip-per-minute":       "3",
		"device-authorization-ip-burst":            "4",
		"refresh-reuse-max-retries":                "5",
		"key-rotation-period":                      "48h",
		"key-publish-ahead":                        "2h",
		"default-audience":                         "https://api.example.com",
		"security-webhook-url":                     "https://hooks.example.com/authd",
		"security-webhook-secret":                  sampleWebhookSecret,
		"metrics-token":                            "metrics-token-0123456789",
		"metrics-require-auth":                     "true",
		"log-level":                                "debug",
		"log-flush-interval":                       "250ms",
		"log-format":                               "json",
		"argon2-time":                              "3",
		"argon2-memory":                            "65536",
		"argon2-threads":                           "4",
		"shutdown-timeout":                         "30s",
		"client-cache-ttl":                         "5s",
		"dynamic-registration":                     "token",
		"registration-grant-types":                 "authorization_code,client_credentials",
		"registration-scopes":                      "openid,invoices:read",
		"registration-redirect-schemes":            "https",
		"registration-allow-public-clients":        "false",
		"registration-ip-per-minute":               "3",
		"registration-ip-burst":                    "4",
		"dpop-proof-max-age":                       "30s",
		"dpop-nonce":                               "true",
		"client-assertion-audience-token-endpoint": "true",
		"client-jwks-timeout":                      "3s",
		"client-jwks-allow-private":                "true",
		"trusted-proxies":                          "10.0.0.0/8,2001:db8::/32",
		"password-hash-memory":                     "512",
		"password-hash-per-ip":                     "8",
		"login-username-per-minute":                "6",
		"login-username-burst":                     "12",
		"login-ip-per-minute":                      "30",
		"login-ip-burst":                           "60",
	}
	samples["par-lifetime"] = "90s"
	samples["user-cache-ttl"] = "5s"
	samples["deny-mirror-staleness"] = "2ms"
	samples["require-pushed-authorization-requests"] = "true"
	samples["redis-feed-retention"] = "1h"
	samples["revocation-feed-max-subscribers"] = "64"
	samples["revocation-feed-write-timeout"] = "3s"
	samples["revocation-feed-queue"] = "16"
	samples["ui-dir"] = t.TempDir()
	samples["scope-descriptions"] = "invoices:read=See your invoices"
	// needs are settings a flag is only valid with, set in the
	// environment of both loads and of the baseline.
	needs := map[string]map[string]string{
		"security-webhook-url":    {"AUTHD_SECURITY_WEBHOOK_SECRET": sampleWebhookSecret},
		"security-webhook-secret": {"AUTHD_SECURITY_WEBHOOK_URL": "https://hooks.example.com/authd"},
	}
	withNeeds := func(name string) map[string]string {
		env := secrets()
		for k, v := range needs[name] {
			env[k] = v
		}
		return env
	}
	fs := pflag.NewFlagSet("serve", pflag.ContinueOnError)
	config.Register(fs)
	seen := 0
	fs.VisitAll(func(f *pflag.Flag) {
		seen++
		t.Run(f.Name, func(t *testing.T) {
			env := config.EnvName(f.Name)
			if want := "AUTHD_" + strings.ToUpper(strings.ReplaceAll(f.Name, "-", "_")); env != want {
				t.Errorf("EnvName(%q) = %q, want %q", f.Name, env, want)
			}
			if !strings.Contains(f.Usage, env) {
				t.Errorf("help of --%s does not mention %s", f.Name, env)
			}
			v, ok := samples[f.Name]
			if !ok {
				t.Fatalf("no sample value for --%s: add one to this test", f.Name)
			}
			base, err := load(t, withNeeds(f.Name))
			if err != nil && needs[f.Name] == nil {
				t.Fatal(err)
			}
			fromFlag, err := load(t, withNeeds(f.Name), "--"+f.Name+"="+v)
			if err != nil {
				t.Fatalf("--%s=%s: %v", f.Name, v, err)
			}
			envs := withNeeds(f.Name)
			envs[env] = v
			fromEnv, err := load(t, envs)
			if err != nil {
				t.Fatalf("%s=%s: %v", env, v, err)
			}
			if !reflect.DeepEqual(fromFlag, fromEnv) {
				t.Errorf("%s differs from --%s:\n env  %+v\n flag %+v", env, f.Name, fromEnv, fromFlag)
			}
			if reflect.DeepEqual(fromEnv, base) {
				t.Errorf("%s=%s had no effect", env, v)
			}
		})
	})
	if seen != len(samples) {
		t.Errorf("%d flags registered, %d samples: a sample names a flag that does not exist", seen, len(samples))
	}
}

// sampleWebhookSecret is a valid --security-webhook-secret.
var sampleWebhookSecret = "whsec_" + base64.StdEncoding.EncodeToString(bytes.Repeat([]byte{7}, 32))

func TestHelpShowsTypesAndDefaults(t *testing.T) {
	fs := pflag.NewFlagSet("serve", pflag.ContinueOnError)
	config.Register(fs)
	help := fs.FlagUsages()
	for _, want := range []string{
		"--access-token-ttl duration", `(default 15m)`,
		"--dev ", "--redis-addrs strings", "--kek base64", "--rsa-key-bits int",
		`--issuer string`, `(default: http:// on --addr)`, `(default "127.0.0.1:8080")`,
	} {
		if !strings.Contains(help, want) {
			t.Errorf("help lacks %q:\n%s", want, help)
		}
	}
}
