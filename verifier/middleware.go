package verifier

import (
	"context"
	"errors"
	"net/http"
	"strconv"
	"strings"
)

// claimsKey is the context key of the verified claims.
type claimsKey struct{}

// ClaimsFrom returns the claims Middleware put in the request context.
func ClaimsFrom(ctx context.Context) (*Claims, bool) {
	c, ok := ctx.Value(claimsKey{}).(*Claims)
	return c, ok
}

// Middleware authenticates requests with a bearer token in the
// Authorization header (RFC 6750 §2.1) and calls next with the verified
// *Claims in the request context (see ClaimsFrom). Otherwise it answers
// itself, as RFC 6750 §3 describes:
//
//   - no bearer credentials: 401 with WWW-Authenticate: Bearer realm="…"
//     and no error code (§3.1);
//   - a malformed Authorization header: 400, error="invalid_request";
//   - a token that does not verify: 401, error="invalid_token" and an
//     error_description naming the reason (never the token or its claims);
//   - the revocation feed not ready, the feed disconnected for longer than
//     the bound with WithFeedFailClosed, or the JWKS stale beyond its
//     allowance: 503 with Retry-After, since the token may well be valid.
//
// Tokens in the query or form body (§2.2, §2.3) are not accepted.
func (v *Verifier) Middleware(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		values := r.Header.Values("Authorization")
		if len(values) == 0 {
			v.challenge(w, http.StatusUnauthorized, "", "")
			return
		}
		scheme, token, _ := strings.Cut(values[0], " ")
		if !strings.EqualFold(scheme, "Bearer") {
			// Another scheme is no bearer credentials at all (§3.1).
			v.challenge(w, http.StatusUnauthorized, "", "")
			return
		}
		token = strings.TrimLeft(token, " ")
		if len(values) > 1 || !isB64Token(token) {
			v.challenge(w, http.StatusBadRequest, "invalid_request", "malformed Authorization header")
			return
		}
		claims, err := v.Verify(r.Context(), token)
		if err != nil {
			switch {
			case errors.Is(err, ErrFeedNotReady):
				w.Header().Set("Retry-After", "1")
				http.Error(w, "revocation state not available yet", http.StatusServiceUnavailable)
				return
			case errors.Is(err, ErrFeedStale):
				w.Header().Set("Retry-After", "5")
				http.Error(w, "revocation state is out of date", http.StatusServiceUnavailable)
				return
			case errors.Is(err, ErrStaleKeys):
				w.Header().Set("Retry-After", "5")
				http.Error(w, "the issuer's signing keys cannot be refreshed", http.StatusServiceUnavailable)
				return
			}
			v.challenge(w, http.StatusUnauthorized, "invalid_token", describe(err))
			return
		}
		next.ServeHTTP(w, r.WithContext(context.WithValue(r.Context(), claimsKey{}, claims)))
	})
}

// challenge writes an RFC 6750 §3 WWW-Authenticate response.
func (v *Verifier) challenge(w http.ResponseWriter, status int, code, desc string) {
	var b strings.Builder
	b.WriteString("Bearer realm=")
	b.WriteString(quote(v.realm))
	if code != "" {
		b.WriteString(", error=")
		b.WriteString(quote(code))
	}
	if desc != "" {
		b.WriteString(", error_description=")
		b.WriteString(quote(desc))
	}
	w.Header().Set("WWW-Authenticate", b.String())
	w.Header().Set("Cache-Control", "no-store")
	w.WriteHeader(status)
}

// quote makes a quoted-string whose content RFC 6750 §3 allows for
// error_description (%x20-21 / %x23-5B / %x5D-7E); other bytes become '?'.
func quote(s string) string {
	b := []byte(s)
	for i, c := range b {
		if c < 0x20 || c > 0x7e || c == '"' || c == '\\' {
			b[i] = '?'
		}
	}
	return strconv.Quote(string(b))
}

// isB64Token reports whether s matches b64token of RFC 6750 §2.1:
// 1*( ALPHA / DIGIT / "-" / "." / "_" / "~" / "+" / "/" ) *"=".
func isB64Token(s string) bool {
	i := 0
	for i < len(s) {
		c := s[i]
		if ('a' <= c && c <= 'z') || ('A' <= c && c <= 'Z') || ('0' <= c && c <= '9') ||
			strings.IndexByte("-._~+/", c) >= 0 {
			i++
			continue
		}
		break
	}
	if i == 0 {
		return false
	}
	for ; i < len(s); i++ {
		if s[i] != '=' {
			return false
		}
	}
	return true
}

// describe names the reason a token failed, for error_description.
func describe(err error) string {
	for _, d := range []struct {
		err  error
		desc string
	}{
		{ErrExpired, "the access token expired"},
		{ErrNotYetValid, "the access token is not valid yet"},
		{ErrRevoked, "the access token was revoked"},
		{ErrInvalidIssuer, "the access token has the wrong issuer"},
		{ErrInvalidAudience, "the access token is not meant for this resource"},
		{ErrWrongType, "the token is not an access token"},
		{ErrUnsupportedAlg, "the access token's algorithm is not accepted"},
		{ErrUnknownKey, "the access token's signing key is unknown"},
		{ErrInvalidSignature, "the access token's signature is invalid"},
	} {
		if errors.Is(err, d.err) {
			return d.desc
		}
	}
	return "the access token is malformed"
}
