package clients

import (
	"net/url"
	"strings"
)

// maxLogoutURILen bounds backchannel_logout_uri and frontchannel_logout_uri.
const maxLogoutURILen = 2048

// checkLogoutURIs validates backchannel_logout_uri (OIDC Back-Channel
// Logout 1.0 §2.2: an absolute URI, https, http only on a loopback host
// for development; no fragment; a query is allowed) and
// frontchannel_logout_uri (Front-Channel Logout 1.0 §2, the same rules:
// it is loaded in an iframe of the signed-out page, and the page's CSP
// frame-src names its origin). Each *_session_required needs its URI.
// §2's rule that the front-channel URI share scheme, host and port with
// a registered redirect URI is not enforced: a logout page served from
// another origin of the same application is common, and the URI is
// registered by the client's administrator either way.
func checkLogoutURIs(m Metadata) error {
	for _, f := range []struct{ name, v string }{
		{"backchannel_logout_uri", m.BackchannelLogoutURI},
		{"frontchannel_logout_uri", m.FrontchannelLogoutURI},
	} {
		if f.v == "" {
			continue
		}
		u, err := url.Parse(f.v)
		switch {
		case err != nil || len(f.v) > maxLogoutURILen || !u.IsAbs() || u.Host == "" || strings.Contains(f.v, "#") || u.User != nil:
			return metaErr("%s must be an absolute https URI without a fragment or user info, of at most %d bytes", f.name, maxLogoutURILen)
		case u.Scheme == "https":
		case u.Scheme == "http" && isLoopback(u.Hostname()):
		default:
			return metaErr("%s must use https (http only on a loopback host)", f.name)
		}
	}
	if m.BackchannelLogoutSessionRequired && m.BackchannelLogoutURI == "" {
		return metaErr("backchannel_logout_session_required needs a backchannel_logout_uri")
	}
	if m.FrontchannelLogoutSessionRequired && m.FrontchannelLogoutURI == "" {
		return metaErr("frontchannel_logout_session_required needs a frontchannel_logout_uri")
	}
	return nil
}
