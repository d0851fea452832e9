package server

import (
	"net/http/httptest"
	"net/netip"
	"strings"
	"testing"
)

func TestClientIP(t *testing.T) {
	trusted := []netip.Prefix{netip.MustParsePrefix("10.0.0.0/8"), netip.MustParsePrefix("2001:db8:ffff::/48")}
	tests := []struct {
		name    string
		peer    string
		trusted []netip.Prefix
		xff     []string // X-Forwarded-For lines
		fwd     []string // Forwarded lines
		want    string
	}{
		{name: "no proxies configured: header ignored", peer: "203.0.113.9:5000", xff: []string{"198.51.100.1"}, want: "203.0.113.9"},
		{name: "untrusted peer: header ignored", peer: "203.0.113.9:5000", trusted: trusted, xff: []string{"198.51.100.1"}, want: "203.0.113.9"},
		{name: "untrusted peer: Forwarded ignored", peer: "203.0.113.9:5000", trusted: trusted, fwd: []string{"for=198.51.100.1"}, want: "203.0.113.9"},
		{name: "trusted peer without header", peer: "10.1.1.1:5000", trusted: trusted, want: "10.1.1.1"},
		{name: "trusted peer: header believed", peer: "10.1.1.1:5000", trusted: trusted, xff: []string{"198.51.100.1"}, want: "198.51.100.1"},
		{name: "spoofed chain: right-most untrusted wins", peer: "10.1.1.1:5000", trusted: trusted,
			xff: []string{"1.2.3.4, 5.6.7.8, 198.51.100.1"}, want: "198.51.100.1"},
		{name: "two trusted hops", peer: "10.1.1.1:5000", trusted: trusted,
			xff: []string{"1.2.3.4, 198.51.100.1, 10.2.2.2"}, want: "198.51.100.1"},
		{name: "several header lines in order", peer: "10.1.1.1:5000", trusted: trusted,
			xff: []string{"1.2.3.4", "198.51.100.1, 10.2.2.2"}, want: "198.51.100.1"},
		{name: "spoofed trusted address left of the client", peer: "10.1.1.1:5000", trusted: trusted,
			xff: []string{"10.9.9.9, 198.51.100.1"}, want: "198.51.100.1"},
		{name: "every hop trusted: the left-most", peer: "10.1.1.1:5000", trusted: trusted,
			xff: []string{"10.3.3.3, 10.2.2.2"}, want: "10.3.3.3"},
		{name: "garbage stops at the trusted hop that wrote it", peer: "10.1.1.1:5000", trusted: trusted,
			xff: []string{"1.2.3.4, nonsense, 10.2.2.2"}, want: "10.2.2.2"},
		{name: "garbage right at the peer", peer: "10.1.1.1:5000", trusted: trusted, xff: []string{"1.2.3.4, <script>"}, want: "10.1.1.1"},
		{name: "ports and brackets", peer: "10.1.1.1:5000", trusted: trusted, xff: []string{"[2001:db8::7]:443"}, want: "2001:db8::7"},
		{name: "v4 with port", peer: "10.1.1.1:5000", trusted: trusted, xff: []string{"198.51.100.1:8443"}, want: "198.51.100.1"},
		{name: "mapped v4", peer: "[::ffff:10.1.1.1]:5000", trusted: trusted, xff: []string{"::ffff:198.51.100.1"}, want: "198.51.100.1"},
		{name: "ipv6 proxy", peer: "[2001:db8:ffff::1]:5000", trusted: trusted, xff: []string{"2001:db8:1::9"}, want: "2001:db8:1::9"},
		{name: "Forwarded (RFC 7239)", peer: "10.1.1.1:5000", trusted: trusted,
			fwd: []string{`for=1.2.3.4;proto=https, For="[2001:db8:cafe::17]:4711";by=10.2.2.2`}, want: "2001:db8:cafe::17"},
		{name: "Forwarded through two proxies", peer: "10.1.1.1:5000", trusted: trusted,
			fwd: []string{"for=1.2.3.4", "for=198.51.100.1;proto=https, for=10.2.2.2"}, want: "198.51.100.1"},
		{name: "Forwarded unknown", peer: "10.1.1.1:5000", trusted: trusted, fwd: []string{"for=1.2.3.4, for=unknown"}, want: "10.1.1.1"},
		{name: "Forwarded obfuscated", peer: "10.1.1.1:5000", trusted: trusted, fwd: []string{"for=_hidden"}, want: "10.1.1.1"},
		{name: "Forwarded element without for", peer: "10.1.1.1:5000", trusted: trusted, fwd: []string{"for=1.2.3.4, proto=http"}, want: "10.1.1.1"},
		{name: "X-Forwarded-For preferred over Forwarded", peer: "10.1.1.1:5000", trusted: trusted,
			xff: []string{"198.51.100.1"}, fwd: []string{"for=1.2.3.4"}, want: "198.51.100.1"},
		{name: "zone never believed", peer: "10.1.1.1:5000", trusted: trusted, xff: []string{"fe80::1%eth0"}, want: "10.1.1.1"},
		{name: "empty header", peer: "10.1.1.1:5000", trusted: trusted, xff: []string{""}, want: "10.1.1.1"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := httptest.NewRequest("POST", "/oauth2/token", nil)
			r.RemoteAddr = tt.peer
			for _, v := range tt.xff {
				r.Header.Add("X-Forwarded-For", v)
			}
			for _, v := range tt.fwd {
				r.Header.Add("Forwarded", v)
			}
			if got := clientIP(r, tt.trusted); got != tt.want {
				t.Errorf("clientIP = %q, want %q", got, tt.want)
			}
		})
	}
	t.Run("long trusted chain is bounded", func(t *testing.T) {
		r := httptest.NewRequest("POST", "/", nil)
		r.RemoteAddr = "10.0.0.1:1"
		r.Header.Set("X-Forwarded-For", "198.51.100.1, "+strings.Repeat("10.0.0.2, ", 100)+"10.0.0.3")
		if got := clientIP(r, trusted); got != "10.0.0.2" {
			t.Errorf("clientIP = %q: walked past %d hops", got, maxForwardedHops)
		}
	})
}

func FuzzClientIP(f *testing.F) {
	f.Add("1.2.3.4, 10.0.0.2", `for="[2001:db8::1]:80";proto=https`)
	trusted := []netip.Prefix{netip.MustParsePrefix("10.0.0.0/8")}
	f.Fuzz(func(t *testing.T, xff, fwd string) {
		r := httptest.NewRequest("POST", "/", nil)
		r.RemoteAddr = "10.0.0.1:1"
		r.Header.Set("X-Forwarded-For", xff)
		r.Header.Set("Forwarded", fwd)
		got := clientIP(r, trusted)
		if _, err := netip.ParseAddr(got); err != nil {
			t.Fatalf("clientIP = %q, not an address", got)
		}
	})
}
