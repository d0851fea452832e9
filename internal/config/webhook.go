package config

import (
	"net/url"
	"strings"

	"github.com/authd-dev/authd/internal/webhook"
)

// validateWebhookAndMetrics checks the security webhook and the /metrics
// token. Neither the URL (which often holds a secret) nor a secret is ever
// echoed in an error.
func validateWebhookAndMetrics(c *Config) error {
	if c.SecurityWebhookURL != "" {
		u, err := url.Parse(c.SecurityWebhookURL)
		if err != nil || !oneOf(u.Scheme, "http", "https") || u.Host == "" {
			return settingErr("security-webhook-url", "must be an absolute http(s) URL")
		}
	}
	if c.SecurityWebhookSecret != "" {
		if _, err := webhook.ParseSecret(c.SecurityWebhookSecret); err != nil {
			return settingErr("security-webhook-secret", "must be %s followed by standard base64 of %d to %d random bytes (e.g. whsec_$(openssl rand -base64 32))",
				webhook.SecretPrefix, webhook.MinSecretBytes, webhook.MaxSecretBytes)
		}
		if c.SecurityWebhookURL == "" {
			return settingErr("security-webhook-secret", "is set but --security-webhook-url is not")
		}
	}
	// Unsigned events could be forged by anyone who can reach the
	// receiver: outside --dev a URL needs a secret.
	if c.SecurityWebhookURL != "" && c.SecurityWebhookSecret == "" && !c.Dev {
		return settingErr("security-webhook-secret", "is required with --security-webhook-url (or use --dev for unsigned events)")
	}
	if c.MetricsToken != "" {
		switch {
		case len(c.MetricsToken) < MinAdminTokenLen:
			return settingErr("metrics-token", "must be at least %d characters, got %d", MinAdminTokenLen, len(c.MetricsToken))
		case strings.ContainsFunc(c.MetricsToken, isSpaceOrControl):
			return settingErr("metrics-token", "must not contain spaces or control characters")
		case c.MetricsToken == c.AdminToken:
			return settingErr("metrics-token", "must differ from --admin-token (scrapers should not hold the admin token)")
		}
		c.MetricsRequireAuth = true
	}
	return nil
}
