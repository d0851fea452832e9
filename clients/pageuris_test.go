package clients

import (
	"strings"
	"testing"

	"github.com/authd-dev/authd/oauth"
)

// TestPageURIs: logo_uri, policy_uri and tos_uri (RFC 7591 §2) are kept
// and read back when they are https (or http on loopback), and refused as
// invalid_client_metadata otherwise.
func TestPageURIs(t *testing.T) {
	good := []Metadata{
		{LogoURI: "https://app.example/logo.png", PolicyURI: "https://app.example/privacy", TOSURI: "https://app.example/terms?lang=en"},
		{LogoURI: "http://127.0.0.1:8000/logo.png", PolicyURI: "http://localhost/p", TOSURI: "http://[::1]:9/t"},
	}
	for _, m := range good {
		c, err := normalize(m)
		if err != nil {
			t.Fatalf("%+v: %v", m, err)
		}
		back := metadataOf(c)
		if back.LogoURI != m.LogoURI || back.PolicyURI != m.PolicyURI || back.TOSURI != m.TOSURI {
			t.Errorf("read back %q %q %q, want %+v", back.LogoURI, back.PolicyURI, back.TOSURI, m)
		}
	}
	bad := map[string]Metadata{
		"javascript logo":   {LogoURI: "javascript:alert(1)"},
		"data logo":         {LogoURI: "data:image/png;base64,AAAA"},
		"relative policy":   {PolicyURI: "/privacy"},
		"http remote tos":   {TOSURI: "http://app.example/terms"},
		"fragment":          {PolicyURI: "https://app.example/p#x"},
		"user info":         {LogoURI: "https://user:pw@app.example/logo.png"},
		"space":             {TOSURI: "https://app.example/a b"},
		"too long":          {LogoURI: "https://app.example/" + strings.Repeat("a", MaxPageURILen)},
		"scheme-relative":   {LogoURI: "//app.example/logo.png"},
		"private-use logo":  {LogoURI: "com.example.app:/logo.png"},
		"http lookalike":    {LogoURI: "http://127.0.0.1.example.com/logo.png"},
		"empty host https":  {PolicyURI: "https:///p"},
		"control character": {PolicyURI: "https://app.example/\x7f"},
	}
	for name, m := range bad {
		_, err := normalize(m)
		if e := oauth.As(err); e == nil || e.Code != oauth.InvalidClientMetadata {
			t.Errorf("%s: %v, want invalid_client_metadata", name, err)
		}
	}
}
