package tokens

import (
	"bytes"
	"encoding/json"
	"slices"
	"strings"

	"github.com/authd-dev/authd/oauth"
	"github.com/authd-dev/authd/store"
)

// Standard claims (OIDC Core §5.1) and how authd releases them.
//
//   - userinfo (§5.3) answers with the claims of the access token's
//     scopes (§5.4: profile, email, phone; and authd's roles), plus those
//     the claims request parameter (§5.5) asked for in its userinfo
//     member;
//   - the ID token carries the claims the claims parameter asked for in
//     its id_token member. authd always issues an access token with it,
//     so by §5.4 the scope claims belong in userinfo; for compatibility
//     the ID token keeps preferred_username (profile) and email (email),
//     which earlier versions put there, and roles with the roles scope;
//   - a claim the user has no value for is left out (§5.3.2); claims
//     authd does not keep are ignored, so is essential (§5.5.1: a
//     missing essential claim is not an error).

// MaxClaimsParam bounds the claims request parameter (bytes).
const MaxClaimsParam = 4096

// ClaimsRequest is the part of a claims request parameter (OIDC Core
// §5.5) authd acts on: the user claims asked for, by destination.
type ClaimsRequest struct {
	UserInfo []string `json:"u,omitempty"`
	IDToken  []string `json:"i,omitempty"`
}

// ParseClaimsRequest reads the claims parameter: a JSON object whose
// userinfo and id_token members are objects mapping claim names to null
// or to an object (essential, value, values). Other members and unknown
// claim names are ignored; anything not of that shape is invalid_request.
// "" is no request (nil).
func ParseClaimsRequest(param string) (*ClaimsRequest, error) {
	if param == "" {
		return nil, nil
	}
	bad := func(format string, args ...any) (*ClaimsRequest, error) {
		return nil, oauth.New(oauth.InvalidRequest, "claims: "+format, args...)
	}
	if len(param) > MaxClaimsParam {
		return bad("at most %d bytes", MaxClaimsParam)
	}
	var top map[string]json.RawMessage
	if err := json.Unmarshal([]byte(param), &top); err != nil || top == nil {
		return bad("must be a JSON object (OIDC Core §5.5)")
	}
	known := oauth.UserClaims()
	var out ClaimsRequest
	for member, dst := range map[string]*[]string{"userinfo": &out.UserInfo, "id_token": &out.IDToken} {
		raw, ok := top[member]
		if !ok || bytes.Equal(bytes.TrimSpace(raw), []byte("null")) {
			continue
		}
		var claims map[string]json.RawMessage
		if err := json.Unmarshal(raw, &claims); err != nil {
			return bad("%s must be an object of claim names", member)
		}
		for name, spec := range claims {
			if !bytes.Equal(bytes.TrimSpace(spec), []byte("null")) {
				var s struct {
					Essential *bool `json:"essential"`
					Value     any   `json:"value"`
					Values    []any `json:"values"`
				}
				if err := json.Unmarshal(spec, &s); err != nil {
					return bad("%s.%s must be null or an object with essential, value or values", member, name)
				}
				if member == "id_token" && name == oauth.ClaimACR && s.Essential != nil && *s.Essential && !acrSatisfiable(s.Value, s.Values) {
					// OIDC Core §5.5.1.1: an essential acr that cannot be met
					// MUST be treated as a failed authentication attempt;
					// authd reaches only oauth.ACRValues(), so no sign-in
					// could meet it (access_denied, §3.1.2.6 / RFC 6749
					// §4.1.2.1). A voluntary acr (acr_values, §3.1.2.1, or
					// essential false) is only a wish and is ignored.
					return nil, oauth.New(oauth.AccessDenied, "the essential acr requested cannot be satisfied (supported: %s)", strings.Join(oauth.ACRValues(), " "))
				}
			}
			if slices.Contains(known, name) && !slices.Contains(*dst, name) {
				*dst = append(*dst, name)
			}
		}
		slices.Sort(*dst)
	}
	if len(out.UserInfo) == 0 && len(out.IDToken) == 0 {
		return nil, nil
	}
	return &out, nil
}

// acrSatisfiable reports whether an essential acr request's value or
// values (OIDC Core §5.5.1) name an acr authd reaches; neither named is
// satisfiable (any acr will do).
func acrSatisfiable(value any, values []any) bool {
	if value == nil && values == nil {
		return true
	}
	if value != nil {
		values = append(values, value)
	}
	for _, v := range values {
		if s, ok := v.(string); ok && slices.Contains(oauth.ACRValues(), s) {
			return true
		}
	}
	return false
}

// releasedClaims returns the names of the user claims of scope plus
// extra, in oauth.UserClaims order.
func releasedClaims(scope string, extra []string) []string {
	byScope := oauth.ScopeClaims()
	var names []string
	for _, s := range strings.Fields(scope) {
		names = append(names, byScope[s]...)
	}
	names = append(names, extra...)
	var out []string
	for _, c := range oauth.UserClaims() {
		if slices.Contains(names, c) {
			out = append(out, c)
		}
	}
	return out
}

// userClaims returns the values of the named claims the user has.
func userClaims(u store.User, names []string) map[string]any {
	out := make(map[string]any, len(names))
	str := func(name, v string) {
		if v != "" {
			out[name] = v
		}
	}
	for _, n := range names {
		switch n {
		case oauth.ClaimName:
			str(n, u.Name)
		case oauth.ClaimGivenName:
			str(n, u.GivenName)
		case oauth.ClaimFamilyName:
			str(n, u.FamilyName)
		case oauth.ClaimPreferredUsername:
			str(n, u.Username)
		case oauth.ClaimPicture:
			str(n, u.Picture)
		case oauth.ClaimLocale:
			str(n, u.Locale)
		case oauth.ClaimUpdatedAt: // §5.1: seconds since the epoch
			if !u.UpdatedAt.IsZero() {
				out[n] = u.UpdatedAt.Unix()
			}
		case oauth.ClaimEmail:
			str(n, u.Email)
		case oauth.ClaimEmailVerified:
			if u.Email != "" {
				out[n] = u.EmailVerified
			}
		case oauth.ClaimPhoneNumber:
			str(n, u.PhoneNumber)
		case oauth.ClaimRoles:
			if len(u.Roles) > 0 {
				out[n] = u.Roles
			}
		}
	}
	return out
}

// userInfoClaims is the userinfo answer (§5.3.2): sub, and the claims of
// the scopes and of the claims parameter's userinfo member.
func userInfoClaims(u store.User, scope string, requested []string) map[string]any {
	out := userClaims(u, releasedClaims(scope, requested))
	out[oauth.ClaimSubject] = u.ID
	return out
}

// idTokenClaims adds to the ID token's protocol claims (already encoded
// in base) the user claims it carries: see the package comment above.
func idTokenClaims(base []byte, u store.User, scope string, req *ClaimsRequest) ([]byte, error) {
	var names []string
	scopes := strings.Fields(scope)
	if slices.Contains(scopes, oauth.ScopeProfile) {
		names = append(names, oauth.ClaimPreferredUsername)
	}
	if slices.Contains(scopes, oauth.ScopeEmail) {
		names = append(names, oauth.ClaimEmail)
	}
	if slices.Contains(scopes, oauth.ScopeRoles) {
		names = append(names, oauth.ClaimRoles)
	}
	if req != nil {
		names = append(names, req.IDToken...)
	}
	extra := userClaims(u, names)
	if len(extra) == 0 {
		return base, nil
	}
	var m map[string]any
	if err := json.Unmarshal(base, &m); err != nil {
		return nil, err
	}
	for k, v := range extra {
		if _, taken := m[k]; !taken { // never override a protocol claim
			m[k] = v
		}
	}
	return json.Marshal(m)
}

func (r *ClaimsRequest) userInfo() []string {
	if r == nil {
		return nil
	}
	return r.UserInfo
}
