// Package dpop checks DPoP proofs (RFC 9449, OAuth 2.0 Demonstrating
// Proof of Possession). It is the one implementation of proof checking in
// authd: the authorization server's token endpoint and the verifier's
// resource-server middleware both call Check.
//
// Check covers the stateless checks of RFC 9449 §4.3 (items 2-9, 11 and 12's
// ath comparison). The state-dependent checks are the caller's: that the
// request carried exactly one DPoP header (§4.3 item 1), that the jti was not
// seen before within the window (§11.1), that the nonce is one the server
// issued (§8, §9), and that the key matches the token's cnf.jkt (§7.1).
//
// The package depends on the standard library and go-jose v4 only.
package dpop

import (
	"crypto"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"net/url"
	"slices"
	"strings"
	"time"

	jose "github.com/go-jose/go-jose/v4"
	"github.com/go-jose/go-jose/v4/jwt"
)

// ErrInvalidProof is the sentinel for every proof Check refuses: the
// resource server answers it with error="invalid_dpop_proof" (RFC 9449
// §7.1), the token endpoint with the invalid_dpop_proof error (§5). The
// wrapping error names the precise reason; it never contains the token.
var ErrInvalidProof = errors.New("dpop: invalid proof")

// ErrInvalidOptions is returned when the Options themselves are unusable
// (no algorithms, a symmetric algorithm, no clock, no window, a relative
// URL): a configuration mistake of the caller, not of the client, so it is
// not an ErrInvalidProof.
var ErrInvalidOptions = errors.New("dpop: invalid options")

// Reasons, each wrapping ErrInvalidProof, so the package's tests (and a
// log line) can tell the failures apart while callers need only
// errors.Is(err, ErrInvalidProof).
var (
	errTooLarge      = fmt.Errorf("%w: proof larger than %d bytes", ErrInvalidProof, MaxProofSize)
	errNotJWT        = fmt.Errorf("%w: not a compact JWS", ErrInvalidProof)
	errAlg           = fmt.Errorf("%w: alg not allowed", ErrInvalidProof)
	errTyp           = fmt.Errorf("%w: typ is not dpop+jwt", ErrInvalidProof)
	errNoJWK         = fmt.Errorf("%w: jwk header missing", ErrInvalidProof)
	errPrivateJWK    = fmt.Errorf("%w: jwk header carries private key material", ErrInvalidProof)
	errSignature     = fmt.Errorf("%w: signature does not verify with the jwk header", ErrInvalidProof)
	errClaims        = fmt.Errorf("%w: claims are not a JSON object of the right types", ErrInvalidProof)
	errNoJTI         = fmt.Errorf("%w: jti missing", ErrInvalidProof)
	errJTITooLong    = fmt.Errorf("%w: jti longer than %d bytes", ErrInvalidProof, maxJTILength)
	errHTM           = fmt.Errorf("%w: htm does not match the request method", ErrInvalidProof)
	errHTU           = fmt.Errorf("%w: htu does not match the request URI", ErrInvalidProof)
	errNoIAT         = fmt.Errorf("%w: iat missing", ErrInvalidProof)
	errStale         = fmt.Errorf("%w: iat too old", ErrInvalidProof)
	errFuture        = fmt.Errorf("%w: iat in the future", ErrInvalidProof)
	errNoATH         = fmt.Errorf("%w: ath missing", ErrInvalidProof)
	errATH           = fmt.Errorf("%w: ath does not match the access token", ErrInvalidProof)
	errThumbprint    = fmt.Errorf("%w: jwk has no thumbprint", ErrInvalidProof)
	errMultipleSigns = fmt.Errorf("%w: more than one signature", ErrInvalidProof)
)

// MaxProofSize bounds the DPoP header value Check will parse: an RSA-4096
// jwk and the claims fit in well under 8 KiB; anything larger is refused
// before any decoding work.
const MaxProofSize = 8 << 10

// maxJTILength bounds the jti a caller will have to store in its replay
// cache. RFC 9449 §4.2 asks for "sufficient entropy" (e.g. 96 bits), which
// a few dozen characters carry.
const maxJTILength = 256

// typ is the JWS "typ" header every proof carries (RFC 9449 §4.2).
const typ = "dpop+jwt"

// asymmetric is every JWS algorithm Check can ever allow: the asymmetric
// ones of RFC 7518 §3.1 and EdDSA (RFC 8037). RFC 9449 §4.3 item 5 forbids
// symmetric algorithms and "none".
var asymmetric = []jose.SignatureAlgorithm{
	jose.RS256, jose.RS384, jose.RS512,
	jose.PS256, jose.PS384, jose.PS512,
	jose.ES256, jose.ES384, jose.ES512,
	jose.EdDSA,
}

// Proof is a checked DPoP proof (RFC 9449 §4.2).
type Proof struct {
	JKT      string          // RFC 7638 SHA-256 JWK thumbprint of the proof key, base64url (no padding)
	JTI      string          // the proof's unique identifier; the caller checks it for replay (§11.1)
	IssuedAt time.Time       // the iat claim
	Nonce    string          // the "nonce" claim, "" if absent
	Key      jose.JSONWebKey // the public key
}

// Options says what the proof must match.
type Options struct {
	Method      string        // the HTTP method of the request (htm)
	URL         *url.URL      // the request's target URI, absolute (htu; compared per §4.3 item 9 / RFC 3986 §6.2.2-6.2.3 normalisation, without query and fragment)
	AccessToken string        // if non-empty, "ath" must be base64url(SHA-256(ASCII(token))) (§4.3 item 12 / §7.1)
	Algorithms  []string      // allowlist of asymmetric JWS algs; empty → error (fail closed)
	Now         time.Time     // the current time
	MaxAge      time.Duration // iat may be at most this old
	Leeway      time.Duration // iat may be at most this far in the future
}

// DefaultAlgorithms returns the algorithms a proof may be signed with when
// the caller has no stronger opinion: ES256, ES384, ES512, RS256, PS256 and
// EdDSA. They are all asymmetric (RFC 9449 §4.3 item 5); a new slice is
// returned on each call so callers may change it.
func DefaultAlgorithms() []string {
	return []string{"ES256", "ES384", "ES512", "RS256", "PS256", "EdDSA"}
}

// claims are the DPoP proof's JWT claims (RFC 9449 §4.2).
type claims struct {
	JTI   string           `json:"jti"`
	HTM   string           `json:"htm"`
	HTU   string           `json:"htu"`
	IAT   *jwt.NumericDate `json:"iat"`
	ATH   string           `json:"ath"`
	Nonce string           `json:"nonce"`
}

// Check verifies one DPoP header value per §4.3 items 1-11 (not jti replay,
// not nonce: callers own those state-dependent checks). It returns an error
// wrapping ErrInvalidProof for a proof that fails, and ErrInvalidOptions
// for unusable options.
func Check(proof string, opts Options) (*Proof, error) {
	algs, err := opts.validate()
	if err != nil {
		return nil, err
	}
	if len(proof) > MaxProofSize {
		return nil, errTooLarge
	}
	// §4.3 item 2: "a single and well-formed JWT". A JWT is compact
	// serialisation (RFC 7519 §1), so the JSON serialisation that
	// jose.ParseSigned would also accept is refused here.
	jws, err := jose.ParseSignedCompact(proof, algs)
	if err != nil {
		var unexpected *jose.ErrUnexpectedSignatureAlgorithm
		switch {
		case errors.As(err, &unexpected):
			// §4.3 item 5: asymmetric, not none, and allowed. The alg
			// itself is left out of the error: it is the client's text,
			// and the reason may end up in an error_description.
			return nil, errAlg
		case strings.Contains(err.Error(), "private parameters"):
			// §4.3 item 7. go-jose refuses a "jwk" header with private
			// members while parsing and has no sentinel for it; the
			// test TestCheckRefuses pins that message.
			return nil, errPrivateJWK
		}
		return nil, errNotJWT
	}
	if len(jws.Signatures) != 1 {
		return nil, errMultipleSigns
	}
	h := jws.Signatures[0].Protected
	// §4.3 item 4 / §4.2: typ is exactly dpop+jwt, which keeps an access
	// token or ID token from being replayed as a proof.
	if t, ok := h.ExtraHeaders[jose.HeaderType].(string); !ok || t != typ {
		return nil, errTyp
	}
	if h.JSONWebKey == nil {
		return nil, errNoJWK
	}
	// §4.3 item 7, the belt to go-jose's braces: only a public asymmetric
	// key is acceptable (a symmetric or private key never is).
	if !h.JSONWebKey.IsPublic() || !h.JSONWebKey.Valid() {
		return nil, errPrivateJWK
	}
	// §4.3 item 6: the signature verifies with the key in the jwk header.
	payload, err := jws.Verify(h.JSONWebKey)
	if err != nil {
		return nil, errSignature
	}
	var c claims
	if err := json.Unmarshal(payload, &c); err != nil {
		return nil, errClaims
	}
	// §4.3 item 3: all required claims are present.
	if c.JTI == "" {
		return nil, errNoJTI
	}
	if len(c.JTI) > maxJTILength {
		return nil, errJTITooLong
	}
	// §4.3 item 8: the method compares exactly (methods are case-sensitive,
	// RFC 9110 §9.1).
	if c.HTM != opts.Method {
		return nil, errHTM
	}
	// §4.3 item 9.
	if !htuMatches(c.HTU, opts.URL) {
		return nil, errHTU
	}
	// §4.3 item 11: iat within the window the server accepts.
	if c.IAT == nil {
		return nil, errNoIAT
	}
	iat := c.IAT.Time()
	if iat.Before(opts.Now.Add(-opts.MaxAge)) {
		return nil, errStale
	}
	if iat.After(opts.Now.Add(opts.Leeway)) {
		return nil, errFuture
	}
	// §4.3 item 12 / §7.1: presented with an access token, the proof's
	// ath is the hash of that token.
	if opts.AccessToken != "" {
		if c.ATH == "" {
			return nil, errNoATH
		}
		if !athMatches(c.ATH, opts.AccessToken) {
			return nil, errATH
		}
	}
	jkt, err := Thumbprint(*h.JSONWebKey)
	if err != nil {
		return nil, errThumbprint
	}
	return &Proof{JKT: jkt, JTI: c.JTI, IssuedAt: iat, Nonce: c.Nonce, Key: *h.JSONWebKey}, nil
}

// validate refuses options that would make Check fail open and returns the
// allowlist as go-jose wants it.
func (o Options) validate() ([]jose.SignatureAlgorithm, error) {
	if len(o.Algorithms) == 0 {
		return nil, fmt.Errorf("%w: no algorithms allowed", ErrInvalidOptions)
	}
	algs := make([]jose.SignatureAlgorithm, len(o.Algorithms))
	for i, a := range o.Algorithms {
		algs[i] = jose.SignatureAlgorithm(a)
		if !slices.Contains(asymmetric, algs[i]) {
			return nil, fmt.Errorf("%w: %q is not an asymmetric JWS algorithm", ErrInvalidOptions, a)
		}
	}
	if o.Method == "" {
		return nil, fmt.Errorf("%w: no method", ErrInvalidOptions)
	}
	if o.URL == nil || !o.URL.IsAbs() || o.URL.Host == "" {
		return nil, fmt.Errorf("%w: URL must be absolute", ErrInvalidOptions)
	}
	if o.Now.IsZero() {
		return nil, fmt.Errorf("%w: no current time", ErrInvalidOptions)
	}
	if o.MaxAge <= 0 || o.Leeway < 0 {
		return nil, fmt.Errorf("%w: MaxAge must be positive and Leeway not negative", ErrInvalidOptions)
	}
	return algs, nil
}

// Thumbprint returns the RFC 7638 SHA-256 thumbprint, base64url. It is the
// value of the jkt confirmation member (RFC 9449 §6.1) and of dpop_jkt
// (§10).
func Thumbprint(k jose.JSONWebKey) (string, error) {
	b, err := k.Thumbprint(crypto.SHA256)
	if err != nil {
		return "", fmt.Errorf("dpop: thumbprint: %w", err)
	}
	return base64.RawURLEncoding.EncodeToString(b), nil
}

// HashToken returns base64url(SHA-256(token)) — the ath value (RFC 9449
// §4.2).
func HashToken(token string) string {
	h := hashToken(token)
	return string(h[:])
}

// athLen is the length of an ath: the 32 bytes of a SHA-256 digest in
// unpadded base64url (RFC 4648 §5: 6 bits a character).
const athLen = (sha256.Size*8 + 5) / 6

// hashToken is HashToken into an array, which Check compares without
// allocating.
func hashToken(token string) (ath [athLen]byte) {
	sum := sha256.Sum256([]byte(token))
	base64.RawURLEncoding.Encode(ath[:], sum[:])
	return ath
}

// athMatches reports, in constant time for an ath of the right length,
// whether ath is HashToken(token) (RFC 9449 §4.3 item 12). The claim is
// copied into an array first: converting it to a slice would allocate.
func athMatches(ath, token string) bool {
	if len(ath) != athLen {
		return false
	}
	var got [athLen]byte
	copy(got[:], ath)
	want := hashToken(token)
	return subtle.ConstantTimeCompare(got[:], want[:]) == 1
}
