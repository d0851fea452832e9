package config_test

import (
	"bytes"
	"encoding/base64"
	"strings"
	"testing"
)

// TestWebhookSettings: a webhook URL needs a Standard Webhooks secret
// outside --dev; a malformed secret is refused without echoing it.
func TestWebhookSettings(t *testing.T) {
	const hook = "https://hooks.example.com/authd?token=T0KEN"
	short := "whsec_" + base64.StdEncoding.EncodeToString(bytes.Repeat([]byte{1}, 16))
	bad := []struct {
		args        []string
		prefix, has string
		mustNotEcho string
	}{
		{[]string{"--security-webhook-url", hook}, "--security-webhook-secret is ", "required with --security-webhook-url", "T0KEN"},
		{[]string{"--security-webhook-url", hook, "--security-webhook-secret", "c2VjcmV0c2VjcmV0c2VjcmV0c2VjcmV0"}, "--security-webhook-secret: ", "whsec_", "c2VjcmV0c2Vj"},
		{[]string{"--security-webhook-url", hook, "--security-webhook-secret", "whsec_%%not-base64%%"}, "--security-webhook-secret: ", "24 to 64", "not-base64"},
		{[]string{"--security-webhook-url", hook, "--security-webhook-secret", short}, "--security-webhook-secret: ", "24 to 64", short[6:]},
		{[]string{"--security-webhook-secret", sampleWebhookSecret}, "--security-webhook-secret is ", "--security-webhook-url is not", sampleWebhookSecret[6:]},
		{[]string{"--security-webhook-url", "ftp://hooks.example.com/T0KEN", "--security-webhook-secret", sampleWebhookSecret}, "--security-webhook-url: ", "absolute http(s) URL", "T0KEN"},
	}
	for _, tt := range bad {
		t.Run(strings.Join(tt.args, " "), func(t *testing.T) {
			_, err := load(t, secrets(), tt.args...)
			assertOneLineError(t, err, tt.prefix, tt.has)
			if err != nil && strings.Contains(err.Error(), tt.mustNotEcho) {
				t.Errorf("error %q echoes a secret", err)
			}
		})
	}

	cfg, err := load(t, secrets(), "--security-webhook-url", hook, "--security-webhook-secret", sampleWebhookSecret)
	if err != nil || cfg.SecurityWebhookSecret != sampleWebhookSecret {
		t.Fatalf("valid webhook settings: %v", err)
	}
	// --dev allows unsigned events (the app logs a warning).
	if _, err := load(t, nil, "--dev", "--data-dir", t.TempDir(), "--security-webhook-url", hook); err != nil {
		t.Fatalf("--dev without a secret: %v", err)
	}
}

// TestMetricsSettings: --metrics-token implies --metrics-require-auth, is
// as long as the admin token must be, and is not the admin token.
func TestMetricsSettings(t *testing.T) {
	cfg, err := load(t, secrets())
	if err != nil || cfg.MetricsRequireAuth || cfg.MetricsToken != "" {
		t.Fatalf("default: open /metrics, got %+v, %v", cfg.MetricsRequireAuth, err)
	}
	cfg, err = load(t, secrets(), "--metrics-token", "scraper-token-0123456789")
	if err != nil || !cfg.MetricsRequireAuth {
		t.Fatalf("--metrics-token: require-auth %v, %v", cfg.MetricsRequireAuth, err)
	}
	cfg, err = load(t, secrets(), "--metrics-require-auth")
	if err != nil || !cfg.MetricsRequireAuth {
		t.Fatalf("--metrics-require-auth: %v, %v", cfg.MetricsRequireAuth, err)
	}
	for _, tt := range []struct{ token, has string }{
		{"short", "at least 16 characters"},
		{"scraper token 0123456789", "spaces"},
		{testToken, "must differ from --admin-token"},
	} {
		_, err := load(t, secrets(), "--metrics-token", tt.token)
		assertOneLineError(t, err, "--metrics-token: ", tt.has)
		if err != nil && strings.Contains(err.Error(), tt.token) {
			t.Errorf("error %q echoes the token", err)
		}
	}
}
