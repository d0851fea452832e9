package server

import "testing"

// TestFormTarget: the CSP source a page's form may redirect to is the
// origin of the validated redirect_uri (or, for a native app's
// private-use scheme, RFC 8252 §7.1, the scheme alone); anything that
// could not be written safely into the header is left out, so the form
// is held to 'self'.
func TestFormTarget(t *testing.T) {
	for in, want := range map[string]string{
		"https://app.example/cb?x=1":         "https://app.example",
		"https://App.Example:8443/cb":        "https://app.example:8443",
		"http://127.0.0.1:9999/callback":     "http://127.0.0.1:9999",
		"http://[::1]:8080/cb":               "http://[::1]:8080",
		"com.example.app:/oauth2redirect":    "com.example.app:",
		"":                                   "",
		"https://app.example;script-src */x": "",
		"https://app.exa mple/":              "",
		"https://a'b.example/":               "",
		"1bad://x":                           "",
		"https:///nohost":                    "",
	} {
		if got := formTarget(in); got != want {
			t.Errorf("formTarget(%q) = %q, want %q", in, got, want)
		}
	}
	got := pageCSP("com.example.app:/cb", "https://cdn.example/logo.png", nil)
	want := "default-src 'none'; style-src 'self'; img-src 'self' https: data:; form-action 'self' com.example.app:; frame-ancestors 'none'; base-uri 'none'"
	if got != want {
		t.Errorf("pageCSP\n got %s\nwant %s", got, want)
	}
	// Front-channel logout: frame-src names each http(s) origin once,
	// sorted; what cannot be expressed safely is left out.
	got = pageCSP("", "", []string{"https://b.example/fc?iss=x&sid=y", "http://127.0.0.1:9998/fc", "https://b.example/other",
		"https://a'b.example/fc", "javascript:alert(1)"})
	want = "default-src 'none'; style-src 'self'; img-src 'self' https: data:; form-action 'self'; frame-ancestors 'none'; base-uri 'none'; frame-src http://127.0.0.1:9998 https://b.example"
	if got != want {
		t.Errorf("pageCSP with frames\n got %s\nwant %s", got, want)
	}
}
