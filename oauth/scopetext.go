package oauth

import (
	"fmt"
	"strings"
	"unicode/utf8"
)

// scopeText is what the consent page says a scope lets the application
// do, in words a person understands. Keys are the vocabulary's scopes.
var scopeText = map[string]string{
	ScopeOpenID:        "Confirm who you are",
	ScopeProfile:       "See your name, username and profile details",
	ScopeEmail:         "See your email address",
	ScopePhone:         "See your phone number",
	ScopeRoles:         "See the roles you have",
	ScopeOfflineAccess: "Stay connected to your account when you are not using it",
}

// ScopeDescription returns the built-in description of scope and whether
// there is one.
func ScopeDescription(scope string) (string, bool) {
	d, ok := scopeText[scope]
	return d, ok
}

// MaxScopeDescriptionLen bounds an operator's scope description
// (characters).
const MaxScopeDescriptionLen = 200

// ParseScopeDescriptions reads an operator's scope descriptions, each
// "scope=Description" (e.g. "invoices:read=See your invoices"): the scope
// is a scope-token (RFC 6749 §3.3), the description 1 to
// MaxScopeDescriptionLen characters of valid UTF-8. A later entry for the
// same scope replaces an earlier one; a built-in scope may be reworded.
func ParseScopeDescriptions(entries []string) (map[string]string, error) {
	out := make(map[string]string, len(entries))
	for _, e := range entries {
		scope, text, ok := strings.Cut(e, "=")
		scope, text = strings.TrimSpace(scope), strings.TrimSpace(text)
		if !ok || !validScopeToken(scope) {
			return nil, fmt.Errorf("%q: want scope=Description, with a scope of visible ASCII characters other than \" and \\", e)
		}
		if text == "" || !utf8.ValidString(text) || utf8.RuneCountInString(text) > MaxScopeDescriptionLen {
			return nil, fmt.Errorf("%q: the description must be 1 to %d characters of UTF-8", e, MaxScopeDescriptionLen)
		}
		out[scope] = text
	}
	return out, nil
}

// validScopeToken: 1*NQCHAR, NQCHAR = %x21 / %x23-5B / %x5D-7E (RFC 6749
// §3.3).
func validScopeToken(s string) bool {
	if s == "" {
		return false
	}
	for i := 0; i < len(s); i++ {
		if c := s[i]; c < 0x21 || c == '"' || c == '\\' || c > 0x7e {
			return false
		}
	}
	return true
}
