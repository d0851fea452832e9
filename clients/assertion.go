package clients

import (
	"context"
	"crypto/ecdsa"
	"crypto/rsa"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"net/url"
	"strings"
	"time"

	"github.com/go-jose/go-jose/v4"
	"github.com/go-jose/go-jose/v4/jwt"

	"github.com/authd-dev/authd/oauth"
	"github.com/authd-dev/authd/store"
)

// AssertionType is the client_assertion_type of RFC 7523 §2.2.
const AssertionType = "urn:ietf:params:oauth:client-assertion-type:jwt-bearer"

// Limits on client assertions (RFC 7523 §3 lets the server reject an exp
// unreasonably far in the future).
const (
	// AssertionSkew is the clock skew tolerated on iat and nbf.
	AssertionSkew = 5 * time.Minute
	// MaxAssertionLifetime bounds exp - now, and so how long a jti is kept.
	MaxAssertionLifetime = time.Hour
)

// assertionAlgs is the signature allowlist of client assertions: the
// algorithms authd itself signs with (keys.Algorithms) for private_key_jwt
// and HS256 for client_secret_jwt (oauth.AssertionAlgs). Which of them a
// client may use is decided by its registered method (algForMethod).
var assertionAlgs = func() []jose.SignatureAlgorithm {
	var out []jose.SignatureAlgorithm
	for _, a := range oauth.AssertionAlgs() {
		out = append(out, jose.SignatureAlgorithm(a))
	}
	return out
}()

// AssertionTyp is the explicit type of a client authentication JWT
// (draft-ietf-oauth-rfc7523bis, "client-authentication+jwt").
const AssertionTyp = "client-authentication+jwt"

// replayPrefix namespaces assertion ids in the store's ReplayCache.
const replayPrefix = "assertion:"

// checkAssertion is private_key_jwt and client_secret_jwt (RFC 7523 §2.2,
// §3, as updated by draft-ietf-oauth-rfc7523bis; OIDC Core §9): a JWT
// signed by a key of the client's JWK set (registered inline, or fetched
// from its jwks_uri) or, for client_secret_jwt, MACed with HS256 keyed by
// the client secret; iss = sub = client_id, typ absent, "JWT" or
// "client-authentication+jwt", aud one value that names this server at
// endpoint ep (checkAssertionAudience), exp in the future and not too far, jti present and used once
// across every replica (the store's ReplayCache). The claims are checked
// before the signature, so that a stale or foreign assertion never makes
// authd fetch a jwks_uri; only a verified assertion's jti is recorded.
func (r *Registry) checkAssertion(ctx context.Context, form url.Values, ep Endpoint) (store.Client, error) {
	if form.Get("client_assertion_type") != AssertionType {
		return store.Client{}, oauth.New(oauth.InvalidRequest, "client_assertion_type must be %s", AssertionType)
	}
	if !form.Has("client_assertion") || len(form["client_assertion"]) > 1 {
		return store.Client{}, oauth.New(oauth.InvalidRequest, "send exactly one client_assertion")
	}
	tok, err := jwt.ParseSigned(form.Get("client_assertion"), assertionAlgs)
	if err != nil {
		return store.Client{}, authFailed(fmt.Errorf("%w: %w", ErrBadAssertion, err))
	}
	if err := checkAssertionTyp(tok); err != nil {
		return store.Client{}, authFailed(err)
	}
	var unverified jwt.Claims
	if err := tok.UnsafeClaimsWithoutVerification(&unverified); err != nil {
		return store.Client{}, authFailed(fmt.Errorf("%w: %w", ErrBadAssertion, err))
	}
	id := unverified.Subject
	if id == "" || unverified.Issuer != id {
		return store.Client{}, authFailed(fmt.Errorf("%w: iss and sub must both be the client_id", ErrBadAssertion))
	}
	if fid := form.Get("client_id"); fid != "" && fid != id {
		return store.Client{}, oauth.New(oauth.InvalidRequest, "client_id differs from the client of the assertion")
	}
	c, err := r.getClient(ctx, id)
	if errors.Is(err, ErrUnknownClient) {
		return store.Client{}, authFailed(err)
	}
	if err != nil {
		return store.Client{}, err
	}
	alg := tok.Headers[0].Algorithm // checkAssertionTyp saw exactly one
	switch {
	case c.TokenEndpointAuthMethod != AuthPrivateKeyJWT && c.TokenEndpointAuthMethod != AuthSecretJWT:
		return store.Client{}, authFailed(fmt.Errorf("%w: a client assertion used, %s registered", ErrWrongMethod, c.TokenEndpointAuthMethod))
	case (alg == oauth.AlgHS256) != (c.TokenEndpointAuthMethod == AuthSecretJWT):
		// No algorithm confusion: a secret never verifies an RS256/ES256
		// assertion, and a public key never an HS256 one (RFC 8725 §2.1).
		return store.Client{}, authFailed(fmt.Errorf("%w: alg %s does not fit %s", ErrBadAssertion, alg, c.TokenEndpointAuthMethod))
	}
	if err := r.checkAssertionClaims(unverified, id, ep); err != nil {
		return store.Client{}, authFailed(fmt.Errorf("%w: %w", ErrBadAssertion, err))
	}
	var claims jwt.Claims
	if c.TokenEndpointAuthMethod == AuthSecretJWT {
		err = r.verifyWithSecret(tok, c, &claims)
	} else {
		err = r.verifyWithClientKeys(ctx, tok, c, &claims)
	}
	if err != nil {
		return store.Client{}, authFailed(err)
	}
	// RFC 7523 §3 item 7: single use. The record is shared by every
	// replica and lives until the assertion's exp plus AssertionSkew (so
	// a replica or a store whose clock runs ahead cannot drop it while
	// another still accepts the assertion), at most
	// MaxAssertionLifetime + 2×AssertionSkew ahead. The key is a digest,
	// so its size does not depend on the client's jti.
	sum := sha256.Sum256([]byte(id + "\x00" + claims.ID))
	err = r.cfg.Replay.MarkUsed(ctx, replayPrefix+hex.EncodeToString(sum[:]), claims.Expiry.Time().Add(AssertionSkew))
	switch {
	case errors.Is(err, store.ErrExists):
		return store.Client{}, authFailed(ErrAssertionReplayed)
	case err != nil:
		return store.Client{}, fmt.Errorf("clients: record assertion of %q: %w", id, err)
	}
	return c, nil
}

// checkAssertionClaims applies RFC 7523 §3 items 1–7 but the signature:
// jti and exp present, exp in the future and at most
// MaxAssertionLifetime ahead, aud (checkAssertionAudience), iss, sub, nbf
// and iat with AssertionSkew.
func (r *Registry) checkAssertionClaims(claims jwt.Claims, id string, ep Endpoint) error {
	now := r.cfg.Now()
	switch {
	case claims.ID == "":
		return errors.New("no jti")
	case claims.Expiry == nil:
		return errors.New("no exp")
	case !now.Before(claims.Expiry.Time()):
		return jwt.ErrExpired
	case claims.Expiry.Time().After(now.Add(MaxAssertionLifetime + AssertionSkew)):
		return fmt.Errorf("exp more than %s ahead", MaxAssertionLifetime)
	}
	if err := r.checkAssertionAudience(claims.Audience, ep); err != nil {
		return err
	}
	return claims.ValidateWithLeeway(jwt.Expected{Issuer: id, Subject: id, Time: now}, AssertionSkew) // iss, sub, nbf, iat
}

// verifyWithSecret checks a client_secret_jwt assertion: HS256 keyed with
// the octets of the client secret (OIDC Core §10.1), opened from its seal.
// The secret is at least 32 bytes (RFC 7518 §3.2): generated secrets are
// 43.
func (r *Registry) verifyWithSecret(tok *jwt.JSONWebToken, c store.Client, claims *jwt.Claims) error {
	key, err := r.seal.open(c.ID, c.SealedSecret)
	if err != nil {
		return err
	}
	if len(key) < 32 {
		return fmt.Errorf("%w: secret shorter than 32 bytes", ErrBadAssertion)
	}
	if err := tok.Claims(key, claims); err != nil {
		return fmt.Errorf("%w: %w", ErrBadAssertion, err)
	}
	return nil
}

// verifyWithClientKeys checks a private_key_jwt assertion with the
// client's inline jwks, or with the set at its jwks_uri. An unknown kid,
// or a failed signature without a kid, refetches the set once (the client
// may have rotated its keys, OIDC Core §10.1.1); the fetcher allows that
// at most once per JWKSRefetchInterval per client.
func (r *Registry) verifyWithClientKeys(ctx context.Context, tok *jwt.JSONWebToken, c store.Client, claims *jwt.Claims) error {
	if c.JWKSURI == "" {
		var set jose.JSONWebKeySet
		if err := json.Unmarshal(c.JWKS, &set); err != nil {
			return fmt.Errorf("clients: stored jwks of %q: %w", c.ID, err)
		}
		return verifyWithSet(tok, set, claims)
	}
	if r.cfg.KeyFetcher == nil {
		return fmt.Errorf("%w: no key fetcher configured", ErrKeysFetch)
	}
	set, err := r.cfg.KeyFetcher.keysFor(ctx, c.ID, c.JWKSURI, c.UpdatedAt, false)
	if err != nil {
		return err
	}
	err = verifyWithSet(tok, set, claims)
	if kid := tok.Headers[0].KeyID; err != nil && (kid == "" || len(set.Key(kid)) == 0) {
		if set, err = r.cfg.KeyFetcher.keysFor(ctx, c.ID, c.JWKSURI, c.UpdatedAt, true); err != nil {
			return err
		}
		err = verifyWithSet(tok, set, claims)
	}
	return err
}

// checkAssertionTyp refuses an assertion whose typ header names another
// kind of JWT (an access token "at+jwt", a DPoP proof "dpop+jwt", a
// logout token …), so that no other JWT a client signs can be passed off
// as its authentication (draft-ietf-oauth-rfc7523bis explicit typing;
// RFC 8725 §3.11). Absent and "JWT" are accepted for existing clients.
// Media types compare case-insensitively, with an optional
// "application/" prefix (RFC 7515 §4.1.9).
func checkAssertionTyp(tok *jwt.JSONWebToken) error {
	if len(tok.Headers) != 1 {
		return fmt.Errorf("%w: one signature expected", ErrBadAssertion)
	}
	raw, present := tok.Headers[0].ExtraHeaders[jose.HeaderType]
	if !present {
		return nil
	}
	typ, ok := raw.(string)
	if !ok {
		return fmt.Errorf("%w: typ header is not a string", ErrBadAssertion)
	}
	t := strings.ToLower(typ)
	t = strings.TrimPrefix(t, "application/")
	if t == "jwt" || t == AssertionTyp {
		return nil
	}
	return fmt.Errorf("%w: %w: %q", ErrBadAssertion, ErrAssertionType, typ)
}

// checkAssertionAudience checks the aud of a client assertion: one value
// (a string, or an array of one), compared as a simple string
// (RFC 3986 §6.2.1).
//
// At the token endpoint (AtToken) it is draft-ietf-oauth-rfc7523bis: the
// issuer identifier (RFC 8414 §2) only, because an endpoint URL is what
// a client can be tricked into using as the audience of an assertion
// meant for another server (a mix-up through forged metadata). The token
// endpoint URL is accepted there only when the operator allows it, for
// clients written to RFC 7523 §3 or OpenID Connect Core §9, which
// suggested it.
//
// At the pushed authorization request endpoint (AtPAR) it is RFC 9126 §2:
// the server "MUST accept its issuer identifier, token endpoint URL, or
// pushed authorization request endpoint URL". rfc7523bis would narrow
// that to the issuer too, but is a draft; an assertion accepted here
// only pushes a request (it obtains no token), and its jti is still used
// once across both endpoints, so it can never be replayed at the token
// endpoint.
func (r *Registry) checkAssertionAudience(aud jwt.Audience, ep Endpoint) error {
	if len(aud) != 1 {
		return fmt.Errorf("%w: aud must have exactly one value, the issuer %q; got %d", jwt.ErrInvalidAudience, r.cfg.Issuer, len(aud))
	}
	a := aud[0]
	switch {
	case a == r.cfg.Issuer:
		return nil
	case ep == AtPAR && (a == r.cfg.TokenEndpoint || a == r.cfg.PAREndpoint) && a != "":
		return nil
	case ep == AtToken && r.cfg.AcceptTokenEndpointAudience && a == r.cfg.TokenEndpoint:
		return nil
	case ep == AtToken && a == r.cfg.TokenEndpoint:
		return fmt.Errorf("%w: aud is the token endpoint URL; this server wants its issuer %q", jwt.ErrInvalidAudience, r.cfg.Issuer)
	case ep == AtToken && a == r.cfg.PAREndpoint:
		return fmt.Errorf("%w: aud is the pushed authorization request endpoint URL, accepted only there; this server wants its issuer %q", jwt.ErrInvalidAudience, r.cfg.Issuer)
	}
	return fmt.Errorf("%w: aud %q is not the issuer %q", jwt.ErrInvalidAudience, a, r.cfg.Issuer)
}

// verifyWithSet checks tok's signature with the set's key named by the
// header kid, or with each fitting key when there is no kid, and decodes
// the claims.
func verifyWithSet(tok *jwt.JSONWebToken, set jose.JSONWebKeySet, claims *jwt.Claims) error {
	if len(tok.Headers) != 1 {
		return fmt.Errorf("%w: one signature expected", ErrBadAssertion)
	}
	h := tok.Headers[0]
	keys := set.Keys
	if h.KeyID != "" {
		keys = set.Key(h.KeyID)
	}
	for _, k := range keys {
		if k.Algorithm != "" && k.Algorithm != h.Algorithm {
			continue
		}
		switch k.Key.(type) {
		case *rsa.PublicKey:
			if h.Algorithm != string(jose.RS256) {
				continue
			}
		case *ecdsa.PublicKey:
			if h.Algorithm != string(jose.ES256) {
				continue
			}
		default:
			continue
		}
		if err := tok.Claims(k.Key, claims); err == nil {
			return nil
		}
	}
	return fmt.Errorf("%w: no registered key verifies the signature (kid %q, alg %s)", ErrBadAssertion, h.KeyID, h.Algorithm)
}
