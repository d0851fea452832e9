package clients

import (
	"net/url"
	"strings"
)

// MaxPageURILen bounds logo_uri, policy_uri and tos_uri.
const MaxPageURILen = 2000

// checkPageURIs validates logo_uri, policy_uri and tos_uri (RFC 7591 §2):
// the login and consent pages show the logo and link the documents, so
// each must be an absolute https URL (http only on a loopback host, for
// development, as RFC 8252 §7.3 allows for redirects), with a host, no
// user information and no fragment. Anything else — javascript:, data:,
// a relative reference — is refused here rather than trusted to the
// template's escaping.
func checkPageURIs(m Metadata) error {
	for _, f := range []struct{ name, v string }{
		{"logo_uri", m.LogoURI}, {"policy_uri", m.PolicyURI}, {"tos_uri", m.TOSURI},
	} {
		if f.v == "" {
			continue
		}
		if len(f.v) > MaxPageURILen || strings.ContainsFunc(f.v, func(r rune) bool { return r <= ' ' || r == 0x7f }) {
			return metaErr("%s must be a URL of at most %d characters without spaces or control characters", f.name, MaxPageURILen)
		}
		u, err := url.Parse(f.v)
		if err != nil || u.Host == "" || u.User != nil || u.Fragment != "" || strings.Contains(f.v, "#") {
			return metaErr("%s must be an absolute https URL without user information or a fragment", f.name)
		}
		switch {
		case u.Scheme == "https":
		case u.Scheme == "http" && isLoopback(u.Hostname()):
		default:
			return metaErr("%s must use https (http only on a loopback host)", f.name)
		}
	}
	return nil
}
