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

// Middleware authenticates requests with an access token in the
// Authorization header and calls next with the verified *Claims in the
// request context (see ClaimsFrom). It accepts the Bearer scheme (RFC 6750
// §2.1) for tokens that are not DPoP-bound, and the DPoP scheme with a DPoP
// proof header (RFC 9449 §7.1) for tokens bound to the proof's key
// (cnf.jkt); VerifyRequest describes the checks. Otherwise it answers
// itself, as RFC 6750 §3 and RFC 9449 §7.1 describe, with Cache-Control:
// no-store:
//
//   - no credentials: 401 with WWW-Authenticate: Bearer realm="…" and
//     DPoP realm="…", algs="…" (the proof algorithms accepted), no error
//     code (RFC 6750 §3.1, RFC 9449 §7.2);
//   - a malformed Authorization header: 400, error="invalid_request";
//   - a token that does not verify, a DPoP-bound token presented as
//     Bearer, or a token not bound to the proof's key: 401,
//     error="invalid_token" and an error_description naming the reason
//     (never the token or its claims);
//   - a DPoP proof missing, repeated, invalid or replayed: 401,
//     error="invalid_dpop_proof" in the DPoP challenge;
//   - the revocation feed not ready, the feed disconnected for longer than
//     the bound with WithFeedFailClosed, the JWKS stale beyond its
//     allowance, or the DPoP replay cache unavailable: 503 with
//     Retry-After, since the token may well be valid.
//
// Bearer challenges are followed by a DPoP challenge without an error, so
// that clients learn DPoP is accepted (RFC 9449 §7.2). Tokens in the query
// or form body (RFC 6750 §2.2, §2.3) are not accepted, and no DPoP-Nonce
// is demanded (server nonces are optional, RFC 9449 §9).
func (v *Verifier) Middleware(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		claims, scheme, err := v.verifyRequest(r)
		if err == nil {
			next.ServeHTTP(w, r.WithContext(context.WithValue(r.Context(), claimsKey{}, claims)))
			return
		}
		switch {
		case errors.Is(err, ErrFeedNotReady):
			w.Header().Set("Retry-After", "1")
			http.Error(w, "revocation state not available yet", http.StatusServiceUnavailable)
		case errors.Is(err, ErrFeedStale):
			w.Header().Set("Retry-After", "5")
			http.Error(w, "revocation state is out of date", http.StatusServiceUnavailable)
		case errors.Is(err, ErrStaleKeys):
			w.Header().Set("Retry-After", "5")
			http.Error(w, "the issuer's signing keys cannot be refreshed", http.StatusServiceUnavailable)
		case errors.Is(err, ErrDPoPUnavailable):
			w.Header().Set("Retry-After", "1")
			http.Error(w, "DPoP proofs cannot be checked for replay right now", http.StatusServiceUnavailable)
		case errors.Is(err, ErrNoCredentials):
			v.challenge(w, http.StatusUnauthorized, schemeBearer, "", "")
		case errors.Is(err, ErrMalformedRequest):
			v.challenge(w, http.StatusBadRequest, scheme, "invalid_request", "malformed Authorization header")
		case errors.Is(err, ErrDPoPBoundBearer):
			v.challenge(w, http.StatusUnauthorized, schemeBearer, "invalid_token",
				"the access token is DPoP-bound: present it with the DPoP scheme and a proof")
		case errors.Is(err, ErrKeyBinding):
			v.challenge(w, http.StatusUnauthorized, schemeDPoP, "invalid_token", "the access token is not bound to the DPoP proof's key")
		case errors.Is(err, ErrDPoPReplay):
			v.challenge(w, http.StatusUnauthorized, schemeDPoP, "invalid_dpop_proof", "the DPoP proof was already used")
		case errors.Is(err, ErrInvalidDPoPProof):
			v.challenge(w, http.StatusUnauthorized, schemeDPoP, "invalid_dpop_proof", describeProof(err))
		default:
			v.challenge(w, http.StatusUnauthorized, scheme, "invalid_token", describe(err))
		}
	})
}

// challenge writes an RFC 6750 §3 / RFC 9449 §7.1 WWW-Authenticate
// response for scheme. A Bearer challenge is followed by a DPoP challenge
// without error, advertising the proof algorithms (RFC 9449 §7.2).
func (v *Verifier) challenge(w http.ResponseWriter, status int, scheme, code, desc string) {
	if scheme == "" {
		scheme = schemeBearer
	}
	var b strings.Builder
	b.WriteString(scheme)
	b.WriteString(" realm=")
	b.WriteString(quote(v.realm))
	if code != "" {
		b.WriteString(", error=")
		b.WriteString(quote(code))
	}
	if desc != "" {
		b.WriteString(", error_description=")
		b.WriteString(quote(desc))
	}
	if scheme == schemeDPoP {
		b.WriteString(", algs=")
		b.WriteString(quote(strings.Join(v.dpopAlgs, " ")))
	}
	w.Header().Set("WWW-Authenticate", b.String())
	if scheme == schemeBearer && status == http.StatusUnauthorized {
		w.Header().Add("WWW-Authenticate", "DPoP realm="+quote(v.realm)+", algs="+quote(strings.Join(v.dpopAlgs, " ")))
	}
	w.Header().Set("Cache-Control", "no-store")
	w.WriteHeader(status)
}

// describeProof names the reason a DPoP proof failed, for
// error_description: the reasons of package dpop name the check, never
// the proof's content beyond its alg.
func describeProof(err error) string {
	return "DPoP " + strings.TrimPrefix(err.Error(), "dpop: ")
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
