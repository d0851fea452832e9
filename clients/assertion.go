package clients

import (
	"context"
	"crypto/ecdsa"
	"crypto/rsa"
	"encoding/json"
	"errors"
	"fmt"
	"net/url"
	"sync"
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

// assertionAlgs is the signature allowlist of client assertions.
var assertionAlgs = []jose.SignatureAlgorithm{jose.RS256, jose.ES256}

// checkAssertion is private_key_jwt (RFC 7523 §2.2, §3): a JWT signed by a
// key of the client's registered JWK set, iss = sub = client_id, aud naming
// authd (Config.Audiences), exp in the future and not too far, jti present
// and used once (per replica: see replayCache).
func (r *Registry) checkAssertion(ctx context.Context, form url.Values) (store.Client, error) {
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
	if c.TokenEndpointAuthMethod != AuthPrivateKeyJWT {
		return store.Client{}, authFailed(fmt.Errorf("%w: private_key_jwt used, %s registered", ErrWrongMethod, c.TokenEndpointAuthMethod))
	}
	if len(c.JWKS) == 0 {
		return store.Client{}, oauth.New(oauth.InvalidClient, "this server does not fetch jwks_uri yet; register the client's keys as jwks")
	}
	if len(r.cfg.Audiences) == 0 {
		return store.Client{}, errors.New("clients: no Audiences configured: client assertions cannot be checked")
	}
	var set jose.JSONWebKeySet
	if err := json.Unmarshal(c.JWKS, &set); err != nil {
		return store.Client{}, fmt.Errorf("clients: stored jwks of %q: %w", id, err)
	}
	var claims jwt.Claims
	if err := verifyWithSet(tok, set, &claims); err != nil {
		return store.Client{}, authFailed(err)
	}
	now := r.cfg.Now()
	expected := jwt.Expected{Issuer: id, Subject: id, AnyAudience: r.cfg.Audiences, Time: now}
	switch {
	case claims.ID == "":
		err = errors.New("no jti")
	case claims.Expiry == nil:
		err = errors.New("no exp")
	case !now.Before(claims.Expiry.Time()):
		err = jwt.ErrExpired
	case claims.Expiry.Time().After(now.Add(MaxAssertionLifetime + AssertionSkew)):
		err = fmt.Errorf("exp more than %s ahead", MaxAssertionLifetime)
	default:
		err = claims.ValidateWithLeeway(expected, AssertionSkew) // iss, sub, aud, nbf, iat
	}
	if err != nil {
		return store.Client{}, authFailed(fmt.Errorf("%w: %w", ErrBadAssertion, err))
	}
	if !r.replay.first(id+"\x00"+claims.ID, claims.Expiry.Time(), now) {
		return store.Client{}, authFailed(ErrAssertionReplayed)
	}
	return c, nil
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

// replayCache remembers used assertion ids until they expire (RFC 7523
// §3 item 7). It is in memory, so per replica: an assertion replayed on
// another replica within its lifetime is not caught. A shared cache in the
// store would close that gap.
type replayCache struct {
	mu   sync.Mutex
	seen map[string]time.Time
	max  int
}

func newReplayCache(max int) *replayCache {
	return &replayCache{seen: map[string]time.Time{}, max: max}
}

// first records key until exp and reports whether it was unused.
func (c *replayCache) first(key string, exp, now time.Time) bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	if e, ok := c.seen[key]; ok && e.After(now) {
		return false
	}
	if len(c.seen) >= c.max {
		for k, e := range c.seen {
			if !e.After(now) {
				delete(c.seen, k)
			}
		}
		if len(c.seen) >= c.max {
			return false // full of live entries: refuse rather than forget
		}
	}
	c.seen[key] = exp
	return true
}
