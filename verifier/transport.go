package verifier

import (
	"errors"
	"fmt"
	"net"
	"net/http"
	"net/url"
	"strings"
)

// maxRedirects is the redirect limit of http.Client's default policy.
const maxRedirects = 10

// isLoopback reports whether host (without port) is a loopback name or
// address: "localhost" and its subdomains (RFC 6761 §6.3), 127.0.0.0/8
// and ::1.
func isLoopback(host string) bool {
	host = strings.TrimSuffix(strings.ToLower(host), ".")
	if host == "localhost" || strings.HasSuffix(host, ".localhost") {
		return true
	}
	ip := net.ParseIP(host)
	return ip != nil && ip.IsLoopback()
}

// checkURL refuses plain http to a host that is not loopback unless
// allowHTTP; any other scheme than http and https is refused too.
func checkURL(u *url.URL, allowHTTP bool) error {
	switch strings.ToLower(u.Scheme) {
	case "https":
		return nil
	case "http":
		if allowHTTP || isLoopback(u.Hostname()) {
			return nil
		}
		return fmt.Errorf("%w: %s://%s (use https, or WithInsecureAllowHTTP)", ErrInsecureURL, u.Scheme, u.Host)
	}
	return fmt.Errorf("%w: scheme %q", ErrInsecureURL, u.Scheme)
}

// checkTransport is checkURL for a configured or discovered URL; what
// names it in the error.
func checkTransport(what, raw string, allowHTTP bool) error {
	u, err := url.Parse(raw)
	if err != nil {
		return fmt.Errorf("verifier: invalid %s URL %q", what, raw)
	}
	if err := checkURL(u, allowHTTP); err != nil {
		return fmt.Errorf("verifier: %s: %w", what, err)
	}
	return nil
}

// secureClient returns a copy of c whose redirects never lead to plain
// http outside loopback (unless allowHTTP): a redirect from https to http
// would otherwise hand the keys, or the feed's credentials, to anyone on
// the path. c's own CheckRedirect, if any, still applies.
func secureClient(c *http.Client, allowHTTP bool) *http.Client {
	cp := *c
	next := c.CheckRedirect
	cp.CheckRedirect = func(req *http.Request, via []*http.Request) error {
		if err := checkURL(req.URL, allowHTTP); err != nil {
			return fmt.Errorf("redirect refused: %w", err)
		}
		if next != nil {
			return next(req, via)
		}
		if len(via) >= maxRedirects {
			return errors.New("stopped after 10 redirects")
		}
		return nil
	}
	return &cp
}
