package clients

import (
	"context"
	"crypto/hmac"
	"encoding/json"
	"errors"
	"net/http"
	"net/url"
	"strings"
	"sync"
	"time"

	"github.com/go-jose/go-jose/v4"
	"github.com/go-jose/go-jose/v4/jwt"

	"github.com/authd-dev/authd/oauth"
	"github.com/authd-dev/authd/store"
)

// AssertionType is the client_assertion_type of RFC 7523 §2.2.
const AssertionType = "urn:ietf:params:oauth:client-assertion-type:jwt-bearer"

// errAuthFailed is the one answer to every failed authentication: unknown
// client and wrong secret must look the same.
var errAuthFailed = oauth.New(oauth.InvalidClient, "client authentication failed")

// UsedBasic reports whether the request carried HTTP Basic credentials.
func UsedBasic(req *http.Request) bool {
	scheme, _, _ := strings.Cut(req.Header.Get("Authorization"), " ")
	return strings.EqualFold(scheme, "Basic")
}

// Authenticate identifies and authenticates the client of a token,
// revocation or introspection request (RFC 6749 §2.3). The caller has
// parsed the form (req.PostForm). Exactly one method may be used, and it
// must be the client's registered one.
func (r *Registry) Authenticate(ctx context.Context, req *http.Request) (store.Client, error) {
	form := req.PostForm
	basic := req.Header.Get("Authorization") != ""
	post := form.Get("client_secret") != ""
	assertion := form.Get("client_assertion") != "" || form.Get("client_assertion_type") != ""
	n := 0
	for _, used := range []bool{basic, post, assertion} {
		if used {
			n++
		}
	}
	if n > 1 {
		return store.Client{}, oauth.New(oauth.InvalidRequest, "use exactly one client authentication method")
	}
	switch {
	case basic:
		id, secret, ok := basicCredentials(req)
		if !ok {
			return store.Client{}, errAuthFailed
		}
		if fid := form.Get("client_id"); fid != "" && fid != id {
			return store.Client{}, oauth.New(oauth.InvalidRequest, "client_id differs from the authenticated client")
		}
		return r.checkSecret(ctx, id, secret, AuthBasic)
	case post:
		return r.checkSecret(ctx, form.Get("client_id"), form.Get("client_secret"), AuthPost)
	case assertion:
		return r.checkAssertion(ctx, form)
	default:
		id := form.Get("client_id")
		if id == "" {
			return store.Client{}, errAuthFailed
		}
		c, err := r.cfg.Store.GetClient(ctx, id)
		if err != nil {
			return store.Client{}, lookupErr(err)
		}
		if c.TokenEndpointAuthMethod != AuthNone {
			return store.Client{}, errAuthFailed
		}
		return c, nil
	}
}

// basicCredentials decodes "Authorization: Basic" whose id and secret are
// each form-urlencoded (RFC 6749 §2.3.1).
func basicCredentials(req *http.Request) (id, secret string, ok bool) {
	rawID, rawSecret, ok := req.BasicAuth()
	if !ok {
		return "", "", false
	}
	id, err1 := url.QueryUnescape(rawID)
	secret, err2 := url.QueryUnescape(rawSecret)
	if err1 != nil || err2 != nil || id == "" {
		return "", "", false
	}
	return id, secret, true
}

func lookupErr(err error) error {
	if errors.Is(err, store.ErrNotFound) {
		return errAuthFailed
	}
	return err
}

// checkSecret compares the secret's digest in constant time; an unknown
// client costs the same digest and comparison.
func (r *Registry) checkSecret(ctx context.Context, id, secret, method string) (store.Client, error) {
	if id == "" || secret == "" {
		return store.Client{}, errAuthFailed
	}
	got := r.digest(secret)
	c, err := r.cfg.Store.GetClient(ctx, id)
	if err != nil {
		hmac.Equal(got, r.digest("")) // equal work for unknown clients
		return store.Client{}, lookupErr(err)
	}
	if !hmac.Equal(got, c.SecretDigest) || len(c.SecretDigest) == 0 || c.TokenEndpointAuthMethod != method {
		return store.Client{}, errAuthFailed
	}
	return c, nil
}

// checkAssertion is private_key_jwt (RFC 7523 §2.2, §3): a JWT signed by a
// key of the client's registered JWK set, iss = sub = client_id, aud naming
// authd, unexpired, its jti used once.
func (r *Registry) checkAssertion(ctx context.Context, form url.Values) (store.Client, error) {
	if form.Get("client_assertion_type") != AssertionType {
		return store.Client{}, oauth.New(oauth.InvalidRequest, "client_assertion_type must be %s", AssertionType)
	}
	tok, err := jwt.ParseSigned(form.Get("client_assertion"), []jose.SignatureAlgorithm{jose.RS256, jose.ES256})
	if err != nil {
		return store.Client{}, errAuthFailed
	}
	var unverified jwt.Claims
	if err := tok.UnsafeClaimsWithoutVerification(&unverified); err != nil || unverified.Subject == "" {
		return store.Client{}, errAuthFailed
	}
	id := unverified.Subject
	if fid := form.Get("client_id"); fid != "" && fid != id {
		return store.Client{}, errAuthFailed
	}
	c, err := r.cfg.Store.GetClient(ctx, id)
	if err != nil {
		return store.Client{}, lookupErr(err)
	}
	if c.TokenEndpointAuthMethod != AuthPrivateKeyJWT {
		return store.Client{}, errAuthFailed
	}
	if len(c.JWKS) == 0 {
		return store.Client{}, oauth.New(oauth.InvalidClient, "fetching jwks_uri is not supported yet; register the keys as jwks")
	}
	var set jose.JSONWebKeySet
	if err := json.Unmarshal(c.JWKS, &set); err != nil {
		return store.Client{}, err
	}
	var claims jwt.Claims
	if err := tok.Claims(set, &claims); err != nil {
		return store.Client{}, errAuthFailed
	}
	now := r.cfg.Now()
	if claims.Expiry == nil || claims.ID == "" || claims.Issuer != id ||
		claims.ValidateWithLeeway(jwt.Expected{Issuer: id, Subject: id, AnyAudience: r.cfg.Audiences, Time: now}, 30*time.Second) != nil ||
		claims.Expiry.Time().After(now.Add(10*time.Minute)) {
		return store.Client{}, errAuthFailed
	}
	if !r.replay.first(id+"\x00"+claims.ID, claims.Expiry.Time(), now) {
		return store.Client{}, oauth.New(oauth.InvalidClient, "client assertion already used")
	}
	return c, nil
}

// replayCache remembers used assertion ids until they expire. It is in
// memory, so per replica: an assertion replayed on another replica within
// its (short) lifetime is not caught.
type replayCache struct {
	mu   sync.Mutex
	seen map[string]time.Time
	max  int
}

func newReplayCache(max int) *replayCache {
	return &replayCache{seen: map[string]time.Time{}, max: max}
}

// first records key until exp and reports whether it was new.
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
