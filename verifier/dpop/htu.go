package dpop

import (
	"net"
	"net/url"
	"strings"
)

// htuMatches reports whether the proof's htu claim names the request's
// target URI. RFC 9449 §4.3 item 9: query and fragment are ignored, and
// both sides are compared after the syntax-based (RFC 3986 §6.2.2: case of
// scheme, host and percent-encodings; decoding of unreserved characters;
// dot segments) and scheme-based (§6.2.3: default port, empty path)
// normalisations, so https://EXAMPLE.com:443/a/./b matches
// https://example.com/a/b.
func htuMatches(htu string, target *url.URL) bool {
	if htu == "" || target == nil {
		return false
	}
	u, err := url.Parse(htu)
	if err != nil || !u.IsAbs() || u.Host == "" || u.Opaque != "" {
		return false
	}
	return normalise(u) == normalise(target)
}

// normalURI is scheme, userinfo, host and path of a URI in the RFC 3986
// §6.2.2-6.2.3 normal form; two URIs name the same resource for htu when
// their normalURIs are equal. The parts are compared one by one rather
// than joined into one string, which would cost an allocation per side.
type normalURI struct {
	scheme, user, host, path string
}

// normalise returns the normal form of u, dropping query and fragment.
func normalise(u *url.URL) normalURI {
	n := normalURI{
		scheme: strings.ToLower(u.Scheme),
		host:   strings.ToLower(u.Host),
	}
	// Only a host with a colon can carry a port (or be an IPv6 literal):
	// net.SplitHostPort would refuse any other with an error allocated for
	// nothing.
	if strings.Contains(n.host, ":") {
		if h, port, err := net.SplitHostPort(n.host); err == nil {
			if port == "" || (n.scheme == "https" && port == "443") || (n.scheme == "http" && port == "80") {
				n.host = h
				if strings.Contains(h, ":") {
					n.host = "[" + h + "]" // an IPv6 literal keeps its brackets
				}
			}
		}
	}
	n.path = removeDotSegments(normalisePercent(u.EscapedPath()))
	if n.path == "" {
		n.path = "/" // §6.2.3: an empty path is "/" for http(s)
	}
	if u.User != nil {
		n.user = u.User.String() + "@" // "https://@host" has an empty userinfo, not none
	}
	return n
}

// normalisePercent upper-cases the hex digits of every percent-encoding and
// decodes those that encode an unreserved character (RFC 3986 §6.2.2.1,
// §6.2.2.2).
func normalisePercent(p string) string {
	if !strings.Contains(p, "%") {
		return p
	}
	var b strings.Builder
	b.Grow(len(p))
	for i := 0; i < len(p); i++ {
		if p[i] != '%' || i+2 >= len(p) || !isHex(p[i+1]) || !isHex(p[i+2]) {
			b.WriteByte(p[i])
			continue
		}
		c := unhex(p[i+1])<<4 | unhex(p[i+2])
		if isUnreserved(c) {
			b.WriteByte(c)
		} else {
			b.WriteByte('%')
			b.WriteString(strings.ToUpper(p[i+1 : i+3]))
		}
		i += 2
	}
	return b.String()
}

// removeDotSegments is the algorithm of RFC 3986 §5.2.4, which path.Clean
// is not: Clean also folds "//" and drops a trailing "/", both of which
// change the resource a URI names.
func removeDotSegments(in string) string {
	if !strings.Contains(in, ".") {
		return in // no "." or ".." segment: the algorithm would copy in as it is
	}
	var out []string
	for in != "" {
		switch {
		case strings.HasPrefix(in, "../"):
			in = in[3:]
		case strings.HasPrefix(in, "./"):
			in = in[2:]
		case strings.HasPrefix(in, "/./"):
			in = in[2:]
		case in == "/.":
			in = "/"
		case strings.HasPrefix(in, "/../"):
			in = in[3:]
			if len(out) > 0 {
				out = out[:len(out)-1]
			}
		case in == "/..":
			in = "/"
			if len(out) > 0 {
				out = out[:len(out)-1]
			}
		case in == "." || in == "..":
			in = ""
		default:
			// Move the first segment, with its leading "/", to the output.
			j := strings.IndexByte(in[1:], '/')
			if j < 0 {
				out = append(out, in)
				in = ""
			} else {
				out = append(out, in[:j+1])
				in = in[j+1:]
			}
		}
	}
	return strings.Join(out, "")
}

func isHex(c byte) bool {
	return '0' <= c && c <= '9' || 'a' <= c && c <= 'f' || 'A' <= c && c <= 'F'
}

func unhex(c byte) byte {
	switch {
	case '0' <= c && c <= '9':
		return c - '0'
	case 'a' <= c && c <= 'f':
		return c - 'a' + 10
	default:
		return c - 'A' + 10
	}
}

// isUnreserved is RFC 3986 §2.3's unreserved set.
func isUnreserved(c byte) bool {
	return 'a' <= c && c <= 'z' || 'A' <= c && c <= 'Z' || '0' <= c && c <= '9' ||
		c == '-' || c == '.' || c == '_' || c == '~'
}
