package tokens

import (
	"bytes"
	"net/url"
	"strings"
	"testing"

	"github.com/authd-dev/authd/oauth"
)

func testService(t *testing.T, macKeys ...[]byte) *Service {
	t.Helper()
	if len(macKeys) == 0 {
		macKeys = [][]byte{bytes.Repeat([]byte{1}, 32)}
	}
	return &Service{cfg: Config{RefreshMACKeys: macKeys}}
}

func TestRefreshTokenFormat(t *testing.T) {
	s := testService(t)
	tok := s.newRefreshToken("client-a", "fam1")
	parts := strings.Split(tok, ".")
	if len(parts) != 3 || parts[0] != "fam1" {
		t.Fatalf("token %q: want fid.secret.tag", tok)
	}
	if secret, _ := b64.DecodeString(parts[1]); len(secret) != 32 {
		t.Errorf("secret has %d bytes; want 32 (256 bits)", len(secret))
	}
	if fid, ok := s.parseRefreshToken(tok, "client-a"); !ok || fid != "fam1" {
		t.Errorf("own token rejected: %q %v", fid, ok)
	}
	for name, bad := range map[string]string{
		"other client":   tok, // checked with client-b below
		"tampered fid":   "fam2." + parts[1] + "." + parts[2],
		"tampered tag":   parts[0] + "." + parts[1] + "." + b64.EncodeToString(make([]byte, 16)),
		"short tag":      parts[0] + "." + parts[1] + ".AAAA",
		"two parts":      "fam1." + parts[1],
		"empty":          "",
		"bad base64 tag": parts[0] + "." + parts[1] + ".!!!",
		"too long":       strings.Repeat("a", 300),
	} {
		client := "client-a"
		if name == "other client" {
			client = "client-b"
		}
		if _, ok := s.parseRefreshToken(bad, client); ok {
			t.Errorf("%s: accepted", name)
		}
	}
	// A token minted under the previous MAC key still parses after a KEK change.
	old := testService(t, bytes.Repeat([]byte{2}, 32))
	oldTok := old.newRefreshToken("c", "f")
	rotated := testService(t, bytes.Repeat([]byte{1}, 32), bytes.Repeat([]byte{2}, 32))
	if _, ok := rotated.parseRefreshToken(oldTok, "c"); !ok {
		t.Error("token under the previous key rejected")
	}
}

func TestSuccessorSealing(t *testing.T) {
	s := testService(t)
	prev, next := s.newRefreshToken("c", "fam"), s.newRefreshToken("c", "fam")
	sealed, err := sealSuccessor(prev, "fam", next)
	if err != nil {
		t.Fatal(err)
	}
	if len(sealed) != 12+32+16 {
		t.Errorf("sealed successor is %d bytes; want 60 (nonce, secret, tag)", len(sealed))
	}
	secret := strings.Split(next, ".")[1]
	if raw, _ := b64.DecodeString(secret); bytes.Contains(sealed, raw) {
		t.Fatal("successor secret stored in clear")
	}
	got, err := s.openSuccessor(prev, "c", "fam", sealed)
	if err != nil || got != next {
		t.Fatalf("open: %q %v; want %q", got, err, next)
	}
	if _, err := s.openSuccessor(s.newRefreshToken("c", "fam"), "c", "fam", sealed); err == nil {
		t.Error("opened with the wrong previous token")
	}
	if _, err := s.openSuccessor(prev, "c", "other-fam", sealed); err == nil {
		t.Error("opened under another family")
	}
	if _, err := s.openSuccessor(prev, "c", "fam", sealed[:5]); err == nil {
		t.Error("opened a truncated box")
	}
}

func TestDigestIgnoresTheTag(t *testing.T) {
	old := testService(t, bytes.Repeat([]byte{2}, 32))
	tok := old.newRefreshToken("c", "f")
	parts := strings.Split(tok, ".")
	retagged := testService(t).formatRefresh("c", parts[0], parts[1])
	if retagged == tok || !bytes.Equal(digest(tok), digest(retagged)) {
		t.Error("a token re-tagged under a new MAC key must keep its digest")
	}
	if bytes.Equal(digest(tok), digest(old.newRefreshToken("c", "f"))) {
		t.Error("two tokens share a digest")
	}
	if len(digest(tok)) != 16 {
		t.Errorf("digest is %d bytes; want 16", len(digest(tok)))
	}
}

func TestCheckScope(t *testing.T) {
	for _, tc := range []struct {
		req, allowed, want, code string
	}{
		{"", "read write", "read write", ""},
		{"read", "read write", "read", ""},
		{"read  read write", "read write", "read write", ""},
		{"admin", "read", "", oauth.InvalidScope},
		{"read", "", "", oauth.InvalidScope},
		{"re\"ad", "re\"ad", "", oauth.InvalidScope},
		{"r\x7fd", "read", "", oauth.InvalidScope},
	} {
		got, err := checkScope(tc.req, tc.allowed)
		code := ""
		if e := oauth.As(err); e != nil {
			code = e.Code
		}
		if got != tc.want || code != tc.code {
			t.Errorf("checkScope(%q, %q) = %q, %q; want %q, %q", tc.req, tc.allowed, got, code, tc.want, tc.code)
		}
	}
}

func TestCheckAudience(t *testing.T) {
	allowed := []string{"https://a", "https://b"}
	got, err := checkAudience(url.Values{"audience": {"https://a"}, "resource": {"https://b"}}, allowed)
	if err != nil || len(got) != 2 {
		t.Fatalf("%v %v", got, err)
	}
	if _, err := checkAudience(url.Values{"resource": {"https://c"}}, allowed); oauth.As(err) == nil || oauth.As(err).Code != oauth.InvalidTarget {
		t.Errorf("foreign resource: %v; want invalid_target", err)
	}
	if got, err := checkAudience(url.Values{}, allowed); err != nil || got != nil {
		t.Errorf("no request: %v %v; want nil", got, err)
	}
}

func FuzzParseRefreshToken(f *testing.F) {
	s := &Service{cfg: Config{RefreshMACKeys: [][]byte{bytes.Repeat([]byte{1}, 32)}}}
	f.Add(s.newRefreshToken("c", "f"))
	f.Add("a.b.c")
	f.Add("..")
	f.Fuzz(func(t *testing.T, tok string) {
		if fid, ok := s.parseRefreshToken(tok, "c"); ok && !strings.HasPrefix(tok, fid+".") {
			t.Fatalf("accepted %q with fid %q", tok, fid)
		}
	})
}

func FuzzCheckScope(f *testing.F) {
	f.Add("read write", "read write admin")
	f.Fuzz(func(t *testing.T, req, allowed string) {
		got, err := checkScope(req, allowed)
		if err != nil {
			return
		}
		for _, s := range strings.Fields(got) {
			if !strings.Contains(" "+allowed+" ", " "+s+" ") && req != "" {
				t.Fatalf("granted %q outside %q", s, allowed)
			}
		}
	})
}
