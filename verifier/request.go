package verifier

import (
	"crypto/subtle"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"strings"
	"time"

	"github.com/authd-dev/authd/verifier/dpop"
)

// The authorization schemes VerifyRequest accepts.
const (
	schemeBearer = "Bearer" // RFC 6750 §2.1
	schemeDPoP   = "DPoP"   // RFC 9449 §7.1
)

// VerifyRequest authenticates r as Middleware does, for resource servers
// that do not use the middleware. It accepts:
//
//   - Authorization: Bearer <token> (RFC 6750 §2.1) with a token that is
//     not DPoP-bound; a token with cnf.jkt fails with ErrDPoPBoundBearer
//     (RFC 9449 §7.2);
//   - Authorization: DPoP <token> with exactly one DPoP header (RFC 9449
//     §7.1): the proof passes dpop.Check against r's method and target URI
//     (see WithDPoPBaseURL) with ath = the token's hash, its key's
//     thumbprint equals the token's cnf.jkt, and its jti was not used
//     before within its window (ErrDPoPReplay).
//
// The token is verified (Verify) before the proof, so an invalid token is
// reported as such whatever the proof. Errors wrap Verify's sentinels or
// those of VerifyRequest (ErrNoCredentials, ErrMalformedRequest,
// ErrInvalidDPoPProof, ErrKeyBinding, ErrDPoPBoundBearer,
// ErrDPoPUnavailable).
func (v *Verifier) VerifyRequest(r *http.Request) (*Claims, error) {
	c, _, err := v.verifyRequest(r)
	return c, err
}

// verifyRequest is VerifyRequest, also returning the scheme the request
// used ("" if none), which the challenge of an error names.
func (v *Verifier) verifyRequest(r *http.Request) (*Claims, string, error) {
	values := r.Header.Values("Authorization")
	if len(values) == 0 {
		return nil, "", ErrNoCredentials
	}
	scheme, token, _ := strings.Cut(values[0], " ")
	switch {
	case strings.EqualFold(scheme, schemeBearer):
		scheme = schemeBearer
	case strings.EqualFold(scheme, schemeDPoP):
		scheme = schemeDPoP
	default:
		// Another scheme is no credentials of ours at all (RFC 6750 §3.1).
		return nil, "", ErrNoCredentials
	}
	token = strings.TrimLeft(token, " ")
	if len(values) > 1 || !isB64Token(token) {
		return nil, scheme, ErrMalformedRequest
	}
	claims, err := v.Verify(r.Context(), token)
	if err != nil {
		return nil, scheme, err
	}
	if scheme == schemeBearer {
		if claims.JKT != "" {
			return nil, scheme, ErrDPoPBoundBearer
		}
		return claims, scheme, nil
	}
	if claims.JKT == "" {
		return nil, scheme, fmt.Errorf("%w: the token is a bearer token", ErrKeyBinding)
	}
	// RFC 9449 §4.3 item 1: exactly one DPoP header field.
	proofs := r.Header.Values("DPoP")
	if len(proofs) != 1 {
		return nil, scheme, fmt.Errorf("%w: want one DPoP header, got %d", ErrInvalidDPoPProof, len(proofs))
	}
	target, err := v.targetURI(r)
	if err != nil {
		return nil, scheme, err
	}
	p, err := dpop.Check(proofs[0], dpop.Options{
		Method:      r.Method,
		URL:         target,
		AccessToken: token,
		Algorithms:  v.dpopAlgs,
		Now:         v.now(),
		MaxAge:      v.dpopMaxAge,
		Leeway:      v.leeway,
	})
	if err != nil {
		return nil, scheme, err
	}
	// RFC 9449 §7.1: the proof's key is the one the token is bound to.
	if subtle.ConstantTimeCompare([]byte(p.JKT), []byte(claims.JKT)) != 1 {
		return nil, scheme, fmt.Errorf("%w: cnf.jkt is another key's", ErrKeyBinding)
	}
	// §11.1: each proof once. Recorded last, so only a valid proof with a
	// valid token takes room; the record lasts as long as Check would
	// accept the proof's iat, plus a second for the clock's granularity.
	key := "dpop\x00" + p.JKT + "\x00" + p.JTI
	if err := v.replay.MarkUsed(r.Context(), key, p.IssuedAt.Add(v.dpopMaxAge+time.Second)); err != nil {
		if errors.Is(err, ErrDPoPReplay) {
			return nil, scheme, err
		}
		return nil, scheme, fmt.Errorf("%w: %w", ErrDPoPUnavailable, err)
	}
	return claims, scheme, nil
}

// targetURI is the URI the client addressed, for htu (RFC 9449 §4.3 item
// 9): WithDPoPBaseURL joined with the request's path, or else the scheme
// the request arrived with and its Host header.
func (v *Verifier) targetURI(r *http.Request) (*url.URL, error) {
	var prefix string
	if b := v.dpopBase; b != nil {
		prefix = b.Scheme + "://" + b.Host + strings.TrimSuffix(b.EscapedPath(), "/")
	} else {
		scheme := "http"
		if r.TLS != nil {
			scheme = "https"
		}
		prefix = scheme + "://" + r.Host
	}
	p := r.URL.EscapedPath()
	if !strings.HasPrefix(p, "/") {
		p = "/" + p
	}
	u, err := url.Parse(prefix + p)
	if err != nil || u.Host == "" {
		return nil, fmt.Errorf("%w: no usable target URI for the DPoP check", ErrMalformedRequest)
	}
	return u, nil
}
