package verifier

import (
	"fmt"
	"math"
	"slices"
	"strings"
	"time"
)

// Claims are the claims of a verified access token (RFC 9068 §2.2).
type Claims struct {
	// Issuer is "iss", equal to the configured issuer.
	Issuer string
	// Subject is "sub": the user id, or the client id for tokens of the
	// client_credentials grant.
	Subject string
	// Audience is "aud" (a single string in the token becomes one element).
	Audience []string
	// ExpiresAt is "exp".
	ExpiresAt time.Time
	// IssuedAt is "iat".
	IssuedAt time.Time
	// ID is "jti".
	ID string
	// ClientID is "client_id" (RFC 9068 §2.2, RFC 8693 §4.3).
	ClientID string
	// Scope is "scope", space-separated (RFC 6749 §3.3).
	Scope string
	// SID is "sid", the login session (OpenID Connect Front-Channel Logout
	// 1.0 §3); authd sets it on tokens issued to users.
	SID string
	// Roles is "roles" (RFC 9068 §2.2.3.1, RFC 7643 §4.1.2).
	Roles []string
	// AuthTime is "auth_time", zero when absent (RFC 9068 §2.2.1).
	AuthTime time.Time
	// JKT is "cnf"."jkt", the RFC 7638 thumbprint of the key the token is
	// bound to (RFC 9449 §6.1, RFC 7800 §3.1), "" for a bearer token. A
	// token with a JKT is accepted only with the DPoP scheme and a proof
	// signed by that key (§7).
	JKT string
	// Raw holds every claim as decoded from JSON (numbers are float64).
	Raw map[string]any
}

// HasScope reports whether the space-separated "scope" contains s
// (RFC 6749 §3.3: scope tokens are case-sensitive).
func (c *Claims) HasScope(s string) bool {
	if s == "" {
		return false
	}
	for tok := range strings.FieldsSeq(c.Scope) {
		if tok == s {
			return true
		}
	}
	return false
}

// HasAudience reports whether "aud" contains aud.
func (c *Claims) HasAudience(aud string) bool {
	return slices.Contains(c.Audience, aud)
}

// maxNumericDate is 9999-12-31T23:59:59Z; later dates are malformed.
const maxNumericDate = 253402300799

// claimsFrom types the decoded payload. Every registered claim, when
// present, must have its JSON type (RFC 7519 §4.1); exp and iat are
// required (RFC 9068 §2.2).
func claimsFrom(raw map[string]any) (*Claims, error) {
	a := &claimsAlloc{}
	c := &a.c
	c.Raw = raw
	var err error
	str := func(name string, dst *string) {
		if err != nil {
			return
		}
		v, ok := raw[name]
		if !ok {
			return
		}
		s, ok := v.(string)
		if !ok {
			err = fmt.Errorf("%w: claim %q is not a string", ErrMalformed, name)
			return
		}
		*dst = s
	}
	date := func(name string, dst *time.Time, required bool) {
		if err != nil {
			return
		}
		v, ok := raw[name]
		if !ok {
			if required {
				err = fmt.Errorf("%w: claim %q is missing", ErrMalformed, name)
			}
			return
		}
		*dst, err = numericDate(name, v)
	}
	str("iss", &c.Issuer)
	str("sub", &c.Subject)
	str("jti", &c.ID)
	str("client_id", &c.ClientID)
	str("scope", &c.Scope)
	str("sid", &c.SID)
	date("exp", &c.ExpiresAt, true)
	date("iat", &c.IssuedAt, true)
	date("auth_time", &c.AuthTime, false)
	if err != nil {
		return nil, err
	}
	spare := a.lists[:]
	if c.Audience, spare, err = stringList("aud", raw["aud"], true, spare); err != nil {
		return nil, err
	}
	if c.Roles, _, err = stringList("roles", raw["roles"], false, spare); err != nil {
		return nil, err
	}
	if v, ok := raw["nbf"]; ok {
		if _, err := numericDate("nbf", v); err != nil {
			return nil, err
		}
	}
	if v, ok := raw["cnf"]; ok {
		// RFC 7800 §3.1: cnf is an object; RFC 9449 §6.1: its jkt member
		// is a string.
		cnf, ok := v.(map[string]any)
		if !ok {
			return nil, fmt.Errorf("%w: claim \"cnf\" is not an object", ErrMalformed)
		}
		// A cnf without jkt binds the token some other way (e.g. to a
		// client certificate, RFC 8705 §3.1) that this verifier cannot
		// check: refused, rather than accepted as a bearer token.
		jkt, ok := cnf["jkt"].(string)
		if !ok || jkt == "" {
			return nil, fmt.Errorf("%w: claim \"cnf\" has no jkt string (RFC 9449 §6.1)", ErrMalformed)
		}
		c.JKT = jkt
	}
	return c, nil
}

// numericDate converts a JSON NumericDate (RFC 7519 §2: seconds since the
// epoch, possibly fractional).
func numericDate(name string, v any) (time.Time, error) {
	f, ok := v.(float64)
	if !ok || math.IsNaN(f) || f < 0 || f > maxNumericDate {
		return time.Time{}, fmt.Errorf("%w: claim %q is not a NumericDate", ErrMalformed, name)
	}
	sec, frac := math.Modf(f)
	return time.Unix(int64(sec), int64(frac*1e9)).UTC(), nil
}

// claimsAlloc is a Claims with room for the usual short "aud" and
// "roles" lists, so that typing a payload costs one allocation, not three
// (Verify is the hot path of every resource server).
type claimsAlloc struct {
	c     Claims
	lists [4]string
}

// stringList accepts a JSON string array, or (when single is true, as for
// "aud", RFC 7519 §4.1.3) one string. The list goes into spare when it
// fits (capped, so that appending to it never overwrites the rest), else
// into a new slice; rest is what spare has left.
func stringList(name string, v any, single bool, spare []string) (list, rest []string, err error) {
	take := func(n int) []string {
		if n > len(spare) {
			return make([]string, 0, n)
		}
		out := spare[:0:n]
		spare = spare[n:]
		return out
	}
	switch v := v.(type) {
	case nil:
		return nil, spare, nil
	case string:
		if single {
			return append(take(1), v), spare, nil
		}
	case []any:
		out := take(len(v))
		for _, e := range v {
			s, ok := e.(string)
			if !ok {
				return nil, spare, fmt.Errorf("%w: claim %q has a non-string element", ErrMalformed, name)
			}
			out = append(out, s)
		}
		return out, spare, nil
	}
	return nil, spare, fmt.Errorf("%w: claim %q has the wrong type", ErrMalformed, name)
}
