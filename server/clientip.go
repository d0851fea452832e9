package server

import (
	"net"
	"net/http"
	"net/netip"
	"strings"
)

// maxForwardedHops bounds how many entries of a forwarding header are
// examined, right to left: a longer chain of trusted proxies than this is
// not believed further.
const maxForwardedHops = 32

// clientIP is the address of the client that sent r, for throttling, logs
// and events. The connection's peer is the client unless it lies in one of
// trusted (the operator's reverse proxies, --trusted-proxies); then the
// forwarding headers are read, right to left, and the first address that
// is not itself a trusted proxy is the client: every hop to its right was
// appended by a proxy we trust, every entry to its left was written by the
// client and may be spoofed. An entry that is not an address ("unknown",
// an obfuscated RFC 7239 §6.3 identifier, garbage) stops the walk at the
// trusted hop that reported it.
//
// X-Forwarded-For is read when present, otherwise Forwarded (RFC 7239):
// common proxies append to X-Forwarded-For and pass a client's Forwarded
// header through untouched. A proxy that writes only Forwarded must strip
// X-Forwarded-For from requests.
func clientIP(r *http.Request, trusted []netip.Prefix) string {
	if len(trusted) == 0 { // the common case costs no parsing
		host, _, err := net.SplitHostPort(r.RemoteAddr)
		if err != nil {
			return r.RemoteAddr
		}
		return host
	}
	peer := peerAddr(r)
	if !peer.IsValid() {
		return r.RemoteAddr
	}
	if !inAny(trusted, peer) {
		return peer.String()
	}
	hops := forwardedFor(r.Header)
	client := peer
	for i := len(hops) - 1; i >= 0 && len(hops)-i <= maxForwardedHops; i-- {
		a, ok := parseHop(hops[i])
		if !ok {
			break // the trusted hop at client could not name its peer
		}
		client = a
		if !inAny(trusted, a) {
			break
		}
	}
	return client.String()
}

// peerAddr is the connection's remote address (invalid if unparsable).
func peerAddr(r *http.Request) netip.Addr {
	host, _, err := net.SplitHostPort(r.RemoteAddr)
	if err != nil {
		host = r.RemoteAddr
	}
	a, err := netip.ParseAddr(host)
	if err != nil {
		return netip.Addr{}
	}
	return a.Unmap()
}

func inAny(prefixes []netip.Prefix, a netip.Addr) bool {
	for _, p := range prefixes {
		if p.Contains(a) {
			return true
		}
	}
	return false
}

// forwardedFor returns the hops of X-Forwarded-For (every header line, in
// order) or else the for= values of Forwarded (RFC 7239 §4), left to
// right, unparsed.
func forwardedFor(h http.Header) []string {
	var hops []string
	if xff := h.Values("X-Forwarded-For"); len(xff) > 0 {
		for _, line := range xff {
			for part := range strings.SplitSeq(line, ",") {
				hops = append(hops, strings.TrimSpace(part))
			}
		}
		return hops
	}
	for _, line := range h.Values("Forwarded") {
		// forwarded-element = [ pair ] *( ";" [ pair ] ), elements
		// separated by ","; pair = token "=" ( token / quoted-string ).
		// A quoted for= value never holds "," or ";" (it is an address,
		// "unknown" or an obfuscated identifier), so splitting is exact
		// for every value we would accept.
		for elem := range strings.SplitSeq(line, ",") {
			found := ""
			for pair := range strings.SplitSeq(elem, ";") {
				k, v, ok := strings.Cut(strings.TrimSpace(pair), "=")
				if ok && strings.EqualFold(strings.TrimSpace(k), "for") {
					found = strings.TrimSpace(v)
				}
			}
			hops = append(hops, found) // "" for an element without for=: not an address
		}
	}
	return hops
}

// parseHop reads one hop: an IPv4 or IPv6 address, optionally with a port
// ("192.0.2.1:4711", "[2001:db8::1]:4711"), optionally quoted (RFC 7239
// §6: `for="[2001:db8::1]"`).
func parseHop(s string) (netip.Addr, bool) {
	if len(s) >= 2 && s[0] == '"' && s[len(s)-1] == '"' {
		s = s[1 : len(s)-1]
	}
	if a, err := netip.ParseAddr(s); err == nil && a.Zone() == "" {
		return a.Unmap(), true
	}
	if ap, err := netip.ParseAddrPort(s); err == nil && ap.Addr().Zone() == "" {
		return ap.Addr().Unmap(), true
	}
	if strings.HasPrefix(s, "[") && strings.HasSuffix(s, "]") { // [v6] without a port
		if a, err := netip.ParseAddr(s[1 : len(s)-1]); err == nil && a.Is6() && a.Zone() == "" {
			return a, true
		}
	}
	return netip.Addr{}, false
}

// clientIP is the client address of r under the server's trusted proxies.
func (s *Server) clientIP(r *http.Request) string { return clientIP(r, s.cfg.TrustedProxies) }
