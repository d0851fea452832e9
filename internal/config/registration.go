package config

import (
	"slices"
	"strings"

	"github.com/authd-dev/authd/clients"
	"github.com/authd-dev/authd/oauth"
)

// Modes of --dynamic-registration.
const (
	// RegistrationOff: the registration endpoint is not mounted.
	RegistrationOff = "off"
	// RegistrationToken: registering needs an initial access token
	// (RFC 7591 §3) from POST /admin/registration-tokens.
	RegistrationToken = clients.RegistrationToken
	// RegistrationOpen: anyone may register (RFC 7591 §3: "open
	// registration"), within the policy and the per-address throttle.
	RegistrationOpen = clients.RegistrationOpen
)

// Redirect-URI kinds of --registration-redirect-schemes.
const (
	RedirectHTTPS      = clients.RedirectHTTPS
	RedirectHTTP       = clients.RedirectHTTP // loopback hosts only (RFC 8252 §7.3)
	RedirectPrivateUse = clients.RedirectPrivateUse
)

// validateRegistration checks the dynamic-registration settings: a known
// mode, and a policy that names only what authd knows.
func validateRegistration(c *Config) error {
	if !oneOf(c.DynamicRegistration, RegistrationOff, RegistrationToken, RegistrationOpen) {
		return settingErr("dynamic-registration", "unknown mode %q (off, token or open)", c.DynamicRegistration)
	}
	if len(c.RegistrationGrantTypes) == 0 {
		return settingErr("registration-grant-types", "must name at least one grant type")
	}
	for _, g := range c.RegistrationGrantTypes {
		if !slices.Contains(oauth.GrantTypes(), g) {
			return settingErr("registration-grant-types", "unknown grant type %q (one of %s)", g, strings.Join(oauth.GrantTypes(), ", "))
		}
	}
	for _, sc := range c.RegistrationScopes {
		if strings.ContainsFunc(sc, func(r rune) bool { return r < 0x21 || r == '"' || r == '\\' || r > 0x7e }) {
			return settingErr("registration-scopes", "malformed scope %q (RFC 6749 §3.3)", sc)
		}
	}
	if len(c.RegistrationRedirectSchemes) == 0 {
		return settingErr("registration-redirect-schemes", "must name at least one of https, http, private-use")
	}
	for _, k := range c.RegistrationRedirectSchemes {
		if !oneOf(k, RedirectHTTPS, RedirectHTTP, RedirectPrivateUse) {
			return settingErr("registration-redirect-schemes", "unknown kind %q (https, http or private-use)", k)
		}
	}
	for _, s := range []struct {
		name string
		v    int
	}{
		{"registration-ip-per-minute", c.RegistrationIPPerMinute},
		{"registration-ip-burst", c.RegistrationIPBurst},
	} {
		if s.v < 1 || s.v > 1_000_000 {
			return settingErr(s.name, "must be between 1 and 1000000, got %d", s.v)
		}
	}
	return nil
}
