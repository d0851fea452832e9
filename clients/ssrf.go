package clients

import (
	"errors"
	"fmt"
	"net"
	"net/netip"
	"syscall"
	"time"
)

// ErrForbiddenAddress: a jwks_uri resolved to an address the SSRF guard
// refuses.
var ErrForbiddenAddress = errors.New("clients: jwks_uri address not allowed")

// Address ranges a fetch of a client's jwks_uri may not reach unless the
// operator allows private addresses: whoever registers a client chooses the
// URL, and must not make authd call into its own network (SSRF).
// IsPrivate, IsLoopback, IsLinkLocalUnicast etc. cover RFC 1918,
// fc00::/7, 127/8, ::1, 169.254/16 (cloud metadata) and fe80::/10; these
// are the rest.
var forbiddenPrefixes = []netip.Prefix{
	netip.MustParsePrefix("0.0.0.0/8"),       // "this network" (RFC 791)
	netip.MustParsePrefix("100.64.0.0/10"),   // CGNAT shared space (RFC 6598)
	netip.MustParsePrefix("192.0.0.0/24"),    // IETF protocol assignments (RFC 6890)
	netip.MustParsePrefix("198.18.0.0/15"),   // benchmarking (RFC 2544)
	netip.MustParsePrefix("240.0.0.0/4"),     // reserved, and broadcast
	netip.MustParsePrefix("64:ff9b::/96"),    // NAT64 (RFC 6052): could reach any IPv4
	netip.MustParsePrefix("64:ff9b:1::/48"),  // local-use NAT64 (RFC 8215)
	netip.MustParsePrefix("2002::/16"),       // 6to4: embeds an IPv4 address
	netip.MustParsePrefix("::/96"),           // IPv4-compatible (deprecated)
	netip.MustParsePrefix("2001:db8::/32"),   // documentation
	netip.MustParsePrefix("192.0.2.0/24"),    // documentation (TEST-NET-1)
	netip.MustParsePrefix("198.51.100.0/24"), // documentation (TEST-NET-2)
	netip.MustParsePrefix("203.0.113.0/24"),  // documentation (TEST-NET-3)
}

// addrGuard decides which addresses the key fetcher may connect to.
type addrGuard struct {
	allowPrivate  bool // every address
	allowLoopback bool // loopback too (development mode)
}

// control is the net.Dialer Control hook: it runs after name resolution,
// on the very address about to be connected, so a name that resolves to a
// public address when checked and a private one when dialled (DNS
// rebinding) is still refused.
func (g addrGuard) control(network, address string, _ syscall.RawConn) error {
	ap, err := netip.ParseAddrPort(address)
	if err != nil {
		return fmt.Errorf("%w: %q", ErrForbiddenAddress, address)
	}
	return g.check(ap.Addr())
}

// check refuses addr unless it is a public unicast address or allowed.
func (g addrGuard) check(addr netip.Addr) error {
	if g.allowPrivate {
		return nil
	}
	a := addr.Unmap() // ::ffff:10.0.0.1 is 10.0.0.1
	if a.IsLoopback() && g.allowLoopback {
		return nil
	}
	bad := !a.IsValid() || a.IsLoopback() || a.IsPrivate() || a.IsLinkLocalUnicast() ||
		a.IsLinkLocalMulticast() || a.IsInterfaceLocalMulticast() || a.IsMulticast() || a.IsUnspecified()
	for _, p := range forbiddenPrefixes {
		bad = bad || p.Contains(a)
	}
	if bad {
		return fmt.Errorf("%w: %s", ErrForbiddenAddress, a)
	}
	return nil
}

// GuardedDialer returns a dialer whose every connection passes the SSRF
// guard of jwks_uri fetches: other URLs a client registers and authd calls
// (the back-channel logout POST, OIDC Back-Channel Logout 1.0 §2.5) must
// not reach authd's own host or network either. allowPrivate and
// allowLoopback are those of KeyFetcherConfig.
func GuardedDialer(timeout time.Duration, allowPrivate, allowLoopback bool) *net.Dialer {
	g := addrGuard{allowPrivate: allowPrivate, allowLoopback: allowLoopback}
	return &net.Dialer{Timeout: timeout, Control: g.control}
}
