package tokens

import (
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/binary"
	"encoding/hex"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"slices"
	"time"

	"github.com/authd-dev/authd/oauth"
	"github.com/authd-dev/authd/store"
	"github.com/authd-dev/authd/verifier/dpop"
)

// Sender-constrained tokens: DPoP (RFC 9449).
//
// A token request may carry one DPoP proof (§4). The token endpoint checks
// it once, centrally, before any grant runs (Service.Token): the proof
// itself through verifier/dpop.Check (§4.3: typ, an asymmetric alg of the
// allowlist, a public jwk, the signature, htm, htu, iat), then its jti
// once across every replica through the store's ReplayCache (§11.1), and,
// with nonces on, its nonce (§8). The thumbprint of its key then rides on
// the request's context to every access token the grant mints (cnf.jkt,
// §6.1), and the answer says token_type DPoP (§5).
//
// Refresh tokens of public clients are bound to the same key (§5): the
// family keeps the thumbprint (store.Family.JKT), and a refresh needs a
// proof of that key, checked before the rotation commits, so a refused
// refresh revokes and spends nothing. Confidential clients' refresh tokens
// stay bound to their client authentication, as §5 allows.

// TokenTypeDPoP and TokenTypeBearer are the token_type values of token
// and introspection answers (RFC 9449 §5, RFC 6750 §6.1.1).
const (
	TokenTypeDPoP   = "DPoP"
	TokenTypeBearer = "Bearer"
)

// DPoPLeeway is the clock skew allowed for a proof's iat in the future;
// the proof's jti is remembered for its MaxAge plus this.
const DPoPLeeway = 5 * time.Second

// DPoPNonceSlot is the life of one server nonce (RFC 9449 §8): a nonce
// names its slot and is accepted in that slot and the next, so it lives
// between one and two slots; a proof with the previous slot's nonce gets
// the current one back (DPoP-Nonce) on success.
const DPoPNonceSlot = 5 * time.Minute

// ReplayMarker records single-use identifiers across replicas
// (store.ReplayCache).
type ReplayMarker interface {
	MarkUsed(ctx context.Context, key string, expiresAt time.Time) error
}

// DPoPConfig configures DPoP. Its zero value turns DPoP off: a DPoP header
// is then ignored and every token is a bearer token.
type DPoPConfig struct {
	// Algorithms is the allowlist of proof algorithms (discovery's
	// dpop_signing_alg_values_supported); required with Replay.
	Algorithms []string
	// MaxAge is how old a proof may be by its iat (§11.1); > 0.
	MaxAge time.Duration
	// Replay remembers proof jtis for every replica; nil turns DPoP off.
	Replay ReplayMarker
	// NonceKey, when set (32 bytes, derived from the KEK), makes the
	// token endpoint require server nonces (§8). They are stateless: an
	// HMAC over the time slot, so every replica accepts every replica's
	// nonce without store traffic.
	NonceKey []byte
}

func (c DPoPConfig) enabled() bool { return c.Replay != nil }

func (c DPoPConfig) validate() error {
	switch {
	case !c.enabled():
		return nil
	case len(c.Algorithms) == 0:
		return fmt.Errorf("%w: DPoP.Algorithms is required", ErrInvalidConfig)
	case c.MaxAge <= 0:
		return fmt.Errorf("%w: DPoP.MaxAge must be positive, got %s", ErrInvalidConfig, c.MaxAge)
	case c.NonceKey != nil && len(c.NonceKey) != 32:
		return fmt.Errorf("%w: DPoP.NonceKey must be 32 bytes", ErrInvalidConfig)
	}
	return nil
}

// DPoPRequest is what a request presents for DPoP: the values of its DPoP
// header (RFC 9449 §4.1) and what the proof must match (§4.3): the method
// and the URL of the endpoint under the issuer (never the Host header),
// and, at a protected resource (§7), the access token its ath hashes.
type DPoPRequest struct {
	Proofs      []string
	Method      string
	URL         *url.URL
	AccessToken string
}

// DPoPAlgorithms lists the proof algorithms accepted (nil: DPoP off), for
// discovery's dpop_signing_alg_values_supported (RFC 9449 §5.1).
func (s *Service) DPoPAlgorithms() []string {
	if !s.cfg.DPoP.enabled() {
		return nil
	}
	return slices.Clone(s.cfg.DPoP.Algorithms)
}

// DPoPNonces reports whether the token endpoint requires server nonces.
func (s *Service) DPoPNonces() bool { return s.cfg.DPoP.NonceKey != nil }

// dpopReplayPrefix namespaces proof jtis in the store's ReplayCache.
const dpopReplayPrefix = "dpop:"

func invalidProof(format string, args ...any) *oauth.Error {
	return oauth.New(oauth.InvalidDPoPProof, format, args...)
}

// CheckedProof is the outcome of a proof check.
type CheckedProof struct {
	// JKT is the thumbprint of the proof's key ("": no proof sent).
	JKT string
	// Nonce, when set, is a fresh server nonce the answer carries.
	Nonce string
}

// CheckProof checks the DPoP proof of a request to an endpoint of the
// authorization server other than the token endpoint (the pushed
// authorization request endpoint, RFC 9449 §10.1) exactly as the token
// endpoint does: §4.3, the jti once across replicas (§11.1), and the
// server nonce when nonces are on (§8). No proof, or DPoP off, is the
// zero CheckedProof and no error.
func (s *Service) CheckProof(ctx context.Context, r DPoPRequest) (CheckedProof, error) {
	return s.checkProof(ctx, r, true)
}

// checkProof checks the proof of r, if any (RFC 9449 §4.3), with server
// nonces when nonces is true and they are on (§8), and records its jti
// (§11.1). No proof is no error: the caller decides whether one was
// required.
func (s *Service) checkProof(ctx context.Context, r DPoPRequest, nonces bool) (CheckedProof, error) {
	cfg := s.cfg.DPoP
	if !cfg.enabled() || len(r.Proofs) == 0 {
		return CheckedProof{}, nil
	}
	if len(r.Proofs) > 1 { // §4.3 item 1: exactly one DPoP header
		return CheckedProof{}, invalidProof("send exactly one DPoP header")
	}
	now := s.cfg.Now()
	p, err := dpop.Check(r.Proofs[0], dpop.Options{
		Method: r.Method, URL: r.URL, AccessToken: r.AccessToken, Algorithms: cfg.Algorithms,
		Now: now, MaxAge: cfg.MaxAge, Leeway: DPoPLeeway,
	})
	if err != nil {
		if errors.Is(err, dpop.ErrInvalidProof) {
			return CheckedProof{}, invalidProof("%s", err.Error()).WithCause(err)
		}
		return CheckedProof{}, fmt.Errorf("check DPoP proof: %w", err)
	}
	var out CheckedProof
	out.JKT = p.JKT
	if nonces && cfg.NonceKey != nil {
		fresh, ok := s.checkNonce(p.Nonce, now)
		if !ok {
			e := oauth.New(oauth.UseDPoPNonce, "the DPoP proof must carry the server's nonce (DPoP-Nonce)")
			e.DPoPNonce = s.nonce(now)
			return CheckedProof{}, e
		}
		out.Nonce = fresh
	}
	// §11.1: the jti is remembered, keyed by the key's thumbprint, for as
	// long as the proof would be accepted.
	sum := sha256.Sum256([]byte(p.JTI))
	key := dpopReplayPrefix + p.JKT + ":" + hex.EncodeToString(sum[:16])
	exp := p.IssuedAt.Add(cfg.MaxAge + DPoPLeeway)
	if !exp.After(now) {
		exp = now.Add(DPoPLeeway)
	}
	switch err := cfg.Replay.MarkUsed(ctx, key, exp); {
	case errors.Is(err, store.ErrExists):
		return CheckedProof{}, invalidProof("the DPoP proof was already used (jti)")
	case err != nil:
		return CheckedProof{}, storeError(err, "record DPoP proof")
	}
	return out, nil
}

// nonce is the server nonce of now's slot: the slot number and a 128-bit
// HMAC of it, base64url.
func (s *Service) nonce(now time.Time) string {
	return nonceOf(s.cfg.DPoP.NonceKey, uint64(now.Unix())/uint64(DPoPNonceSlot/time.Second))
}

func nonceOf(key []byte, slot uint64) string {
	var b [8 + 16]byte
	binary.BigEndian.PutUint64(b[:8], slot)
	m := hmac.New(sha256.New, key)
	m.Write([]byte("authd dpop nonce v1"))
	m.Write(b[:8])
	copy(b[8:], m.Sum(nil))
	return b64.EncodeToString(b[:])
}

// checkNonce accepts the nonce of the current slot or of the previous
// one; for the previous one it returns the current nonce to send back.
func (s *Service) checkNonce(n string, now time.Time) (fresh string, ok bool) {
	raw, err := b64.DecodeString(n)
	if err != nil || len(raw) != 24 {
		return "", false
	}
	cur := uint64(now.Unix()) / uint64(DPoPNonceSlot/time.Second)
	slot := binary.BigEndian.Uint64(raw[:8])
	if slot != cur && slot+1 != cur {
		return "", false
	}
	if !hmac.Equal([]byte(n), []byte(nonceOf(s.cfg.DPoP.NonceKey, slot))) {
		return "", false
	}
	if slot != cur {
		return nonceOf(s.cfg.DPoP.NonceKey, cur), true
	}
	return "", true
}

// jktKey carries the checked proof's thumbprint on a token request's
// context from the shared steps to mintAccess, so that every grant,
// registered now or later, binds what it mints.
type jktKey struct{}

func withJKT(ctx context.Context, jkt string) context.Context {
	if jkt == "" {
		return ctx
	}
	return context.WithValue(ctx, jktKey{}, jkt)
}

// jktFrom is the thumbprint of the request's proof ("" for none).
func jktFrom(ctx context.Context) string {
	jkt, _ := ctx.Value(jktKey{}).(string)
	return jkt
}

// Confirmation is the cnf claim (RFC 7800 §3.1) of a DPoP-bound token:
// the key's RFC 7638 thumbprint (RFC 9449 §6.1).
type Confirmation struct {
	JKT string `json:"jkt"`
}

// familyBinding is the thumbprint a new login of client c is bound to:
// that of the request's proof for a public client (§5), none otherwise.
func familyBinding(ctx context.Context, c store.Client) string {
	if c.TokenEndpointAuthMethod != oauth.AuthNone {
		return ""
	}
	return jktFrom(ctx)
}

// checkFamilyBinding refuses a refresh of a bound login without a proof
// of its key; it runs before anything commits.
func checkFamilyBinding(ctx context.Context, fam store.Family) error {
	switch jkt := jktFrom(ctx); {
	case fam.JKT == "":
		return nil
	case jkt == "":
		return invalidProof("this refresh token is bound to a DPoP key: send a DPoP proof of it")
	case !hmac.Equal([]byte(jkt), []byte(fam.JKT)):
		return invalidProof("the DPoP proof's key is not the one this refresh token is bound to")
	}
	return nil
}

// newBinding is the thumbprint a rotation binds an unbound login of a
// public client to: that of the request's proof (RFC 9449 §5), so that a
// login begun without DPoP, or a code exchanged with a proof, is bound
// from then on.
func newBinding(ctx context.Context, c store.Client, fam store.Family) string {
	if fam.JKT != "" {
		return ""
	}
	return familyBinding(ctx, c)
}

// ErrDPoPRequired marks a resource request refused for DPoP's sake (RFC
// 9449 §7.1): a proof was missing or bad, or a bound token came as a
// bearer token. Its answer challenges with the DPoP scheme.
var ErrDPoPRequired = errors.New("tokens: a DPoP-bound request was refused")

// dpopDenied is a 401 of a DPoP resource request (§7.1).
func dpopDenied(code, format string, args ...any) error {
	return oauth.Errorf(http.StatusUnauthorized, code, format, args...).WithCause(ErrDPoPRequired)
}
