// Package verifiertest provides a fake authd issuer for tests of resource
// servers that use package verifier: an httptest server with discovery, a
// JWKS (one RS256 and one ES256 key, rotatable) that honours ETag, and the
// revocation feed, plus a minter of RFC 9068 access tokens.
package verifiertest

import (
	"context"
	"crypto"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/rsa"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strconv"
	"sync"
	"testing"
	"time"

	jose "github.com/go-jose/go-jose/v4"
	"github.com/go-jose/go-jose/v4/jwt"
)

// Paths served by the fake issuer.
const (
	PathDiscovery = "/.well-known/openid-configuration"
	PathJWKS      = "/jwks.json"
	PathFeed      = "/oauth2/revocations"
)

// Credentials of the one client allowed to read the revocation feed. The
// secret holds characters that RFC 6749 §2.3.1 form-urlencoding changes.
const (
	FeedClientID     = "resource-server"
	FeedClientSecret = "s3cret:with space+plus"
)

// DefaultTTL is the lifetime Issue gives tokens without "exp".
const DefaultTTL = 5 * time.Minute

// EntryTTL is how long after Revoke a feed entry lives ("exp" - "at").
const EntryTTL = time.Hour

// Option configures an Issuer.
type Option func(*Issuer)

// WithClock sets the issuer's clock for "iat", "exp" and feed entries
// (default time.Now).
func WithClock(now func() time.Time) Option {
	return func(i *Issuer) { i.now = now }
}

// WithMaxAge sets the JWKS Cache-Control max-age (default 5 minutes).
func WithMaxAge(d time.Duration) Option {
	return func(i *Issuer) { i.maxAge = d }
}

// WithCacheControl sets the whole Cache-Control header of JWKS responses
// instead of "public, max-age=…" (e.g. to add stale-if-error or
// must-revalidate).
func WithCacheControl(v string) Option {
	return func(i *Issuer) { i.cacheControl = v }
}

type signingKey struct {
	kid  string
	alg  jose.SignatureAlgorithm
	priv crypto.Signer
}

type entry struct {
	Kind  string `json:"kind"`
	Value string `json:"value"`
	At    int64  `json:"at"`
	Exp   int64  `json:"exp"`
}

// Issuer is a fake authd issuer. Its methods are safe for concurrent use.
type Issuer struct {
	t            testing.TB
	srv          *httptest.Server
	now          func() time.Time
	maxAge       time.Duration
	cacheControl string

	mu          sync.Mutex
	keys        []*signingKey                           // every published key
	active      map[jose.SignatureAlgorithm]*signingKey // the key Issue signs with, by alg
	nextKey     int
	jwksHold    chan struct{} // non-nil: JWKS responses wait until it is closed
	jwksArrived chan struct{} // closed when a held JWKS request arrives
	jwksCount   int
	jwks304     int
	jwksFail    int           // non-zero: JWKS requests get this status
	entries     []entry       // cursor n means "after entries[:n]"
	changed     chan struct{} // closed and replaced at each Revoke
	drop        chan struct{} // closed and replaced by DropFeedConnections
	closing     chan struct{} // closed at cleanup, ending every stream
	feedReqs    []string      // the cursor of each feed connection
	suspended   bool          // feed requests get 503
	feedNotify  chan struct{} // closed and replaced at each feed connection
}

// NewIssuer starts a fake issuer; it is shut down at the end of the test.
func NewIssuer(t testing.TB, opts ...Option) *Issuer {
	t.Helper()
	i := &Issuer{
		t:          t,
		now:        time.Now,
		maxAge:     5 * time.Minute,
		active:     map[jose.SignatureAlgorithm]*signingKey{},
		changed:    make(chan struct{}),
		drop:       make(chan struct{}),
		closing:    make(chan struct{}),
		feedNotify: make(chan struct{}),
	}
	for _, o := range opts {
		o(i)
	}
	i.RotateKey()
	mux := http.NewServeMux()
	mux.HandleFunc("GET "+PathDiscovery, i.serveDiscovery)
	mux.HandleFunc("GET "+PathJWKS, i.serveJWKS)
	mux.HandleFunc("GET "+PathFeed, i.serveFeed)
	i.srv = httptest.NewServer(mux)
	t.Cleanup(func() {
		close(i.closing)
		i.srv.Close()
	})
	return i
}

// URL is the issuer identifier, the "iss" of its tokens.
func (i *Issuer) URL() string { return i.srv.URL }

// Client is an HTTP client for the issuer's server.
func (i *Issuer) Client() *http.Client { return i.srv.Client() }

// RotateKey publishes a new RS256 and a new ES256 key and signs with them
// from now on; the previous keys stay published, as authd keeps retired
// keys until their tokens have expired.
func (i *Issuer) RotateKey() {
	i.t.Helper()
	rk, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		i.t.Fatalf("verifiertest: %v", err)
	}
	ek, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		i.t.Fatalf("verifiertest: %v", err)
	}
	i.mu.Lock()
	defer i.mu.Unlock()
	for _, k := range []*signingKey{{alg: jose.RS256, priv: rk}, {alg: jose.ES256, priv: ek}} {
		i.nextKey++
		k.kid = fmt.Sprintf("%s-%d", k.alg, i.nextKey)
		i.keys = append(i.keys, k)
		i.active[k.alg] = k
	}
}

// KeyID returns the kid of the key that signs alg ("RS256" or "ES256").
func (i *Issuer) KeyID(alg string) string {
	i.mu.Lock()
	defer i.mu.Unlock()
	return i.activeKey(alg).kid
}

// PublicKey returns the public key that verifies alg ("RS256" or "ES256").
func (i *Issuer) PublicKey(alg string) crypto.PublicKey {
	i.mu.Lock()
	defer i.mu.Unlock()
	return i.activeKey(alg).priv.Public()
}

func (i *Issuer) activeKey(alg string) *signingKey {
	k, ok := i.active[jose.SignatureAlgorithm(alg)]
	if !ok {
		i.t.Fatalf("verifiertest: no %q key (RS256 or ES256)", alg)
	}
	return k
}

type issueOptions struct {
	alg, kid, typ string
	kidSet        bool
	jkt           string
}

// IssueOption changes how Issue signs.
type IssueOption func(*issueOptions)

// WithAlg signs with the issuer's key of alg: "RS256" (default) or "ES256".
func WithAlg(alg string) IssueOption { return func(o *issueOptions) { o.alg = alg } }

// WithKeyID puts kid in the header instead of the signing key's own ("" leaves
// it out).
func WithKeyID(kid string) IssueOption {
	return func(o *issueOptions) { o.kid, o.kidSet = kid, true }
}

// WithType sets the "typ" header (default "at+jwt"; "" leaves it out).
func WithType(typ string) IssueOption { return func(o *issueOptions) { o.typ = typ } }

// WithJKT binds the token to the DPoP key whose RFC 7638 thumbprint is jkt
// (e.g. DPoPKey.JKT): the claim "cnf": {"jkt": jkt} (RFC 9449 §6.1), which
// a claims entry "cnf" overrides.
func WithJKT(jkt string) IssueOption { return func(o *issueOptions) { o.jkt = jkt } }

// Issue mints a signed access token (RFC 9068 §2). claims are added to the
// defaults "iss" (URL), "iat" (now), "exp" (now + DefaultTTL) and "jti"
// (random); a claim set to nil is left out. time.Time values become
// NumericDates.
func (i *Issuer) Issue(claims map[string]any, opts ...IssueOption) string {
	i.t.Helper()
	o := issueOptions{alg: "RS256", typ: "at+jwt"}
	for _, opt := range opts {
		opt(&o)
	}
	i.mu.Lock()
	k := i.activeKey(o.alg)
	i.mu.Unlock()
	if !o.kidSet {
		o.kid = k.kid
	}
	now := i.now()
	body := map[string]any{
		"iss": i.URL(),
		"iat": now.Unix(),
		"exp": now.Add(DefaultTTL).Unix(),
		"jti": rand.Text(),
	}
	if o.jkt != "" {
		body["cnf"] = map[string]any{"jkt": o.jkt}
	}
	mergeClaims(body, claims)
	so := &jose.SignerOptions{}
	if o.kid != "" {
		so = so.WithHeader(jose.HeaderKey("kid"), o.kid)
	}
	if o.typ != "" {
		so = so.WithType(jose.ContentType(o.typ))
	}
	signer, err := jose.NewSigner(jose.SigningKey{Algorithm: k.alg, Key: k.priv}, so)
	if err != nil {
		i.t.Fatalf("verifiertest: %v", err)
	}
	tok, err := jwt.Signed(signer).Claims(body).Serialize()
	if err != nil {
		i.t.Fatalf("verifiertest: %v", err)
	}
	return tok
}

// Revoke adds a denylist entry and pushes it to every feed subscriber.
// kind is "jti", "sid", "sub" or "client"; "at" is now and "exp" now +
// EntryTTL.
func (i *Issuer) Revoke(kind, value string) {
	now := i.now()
	i.mu.Lock()
	defer i.mu.Unlock()
	i.entries = append(i.entries, entry{Kind: kind, Value: value, At: now.Unix(), Exp: now.Add(EntryTTL).Unix()})
	close(i.changed)
	i.changed = make(chan struct{})
}

// JWKSRequests returns how many JWKS requests the issuer answered, and
// how many of them with 304 Not Modified.
func (i *Issuer) JWKSRequests() (total, notModified int) {
	i.mu.Lock()
	defer i.mu.Unlock()
	return i.jwksCount, i.jwks304
}

// HoldJWKS makes JWKS requests wait until release is called. arrived is
// closed when the first held request comes in.
func (i *Issuer) HoldJWKS() (arrived <-chan struct{}, release func()) {
	i.mu.Lock()
	defer i.mu.Unlock()
	hold, got := make(chan struct{}), make(chan struct{})
	i.jwksHold, i.jwksArrived = hold, got
	var once sync.Once
	return got, func() {
		once.Do(func() {
			i.mu.Lock()
			i.jwksHold, i.jwksArrived = nil, nil
			i.mu.Unlock()
			close(hold)
		})
	}
}

// FailJWKS makes JWKS requests answer status (e.g. 503) until restore is
// called; failed requests count in JWKSRequests.
func (i *Issuer) FailJWKS(status int) (restore func()) {
	i.mu.Lock()
	defer i.mu.Unlock()
	i.jwksFail = status
	return func() {
		i.mu.Lock()
		i.jwksFail = 0
		i.mu.Unlock()
	}
}

// DropFeedConnections ends every open revocation-feed stream, as a
// restart of authd would.
func (i *Issuer) DropFeedConnections() {
	i.mu.Lock()
	defer i.mu.Unlock()
	close(i.drop)
	i.drop = make(chan struct{})
}

// SuspendFeed ends every open revocation-feed stream and answers new
// feed requests with 503 until resume is called: entries revoked meanwhile
// reach subscribers only by resuming from their cursor.
func (i *Issuer) SuspendFeed() (resume func()) {
	i.mu.Lock()
	defer i.mu.Unlock()
	i.suspended = true
	close(i.drop)
	i.drop = make(chan struct{})
	return func() {
		i.mu.Lock()
		i.suspended = false
		i.mu.Unlock()
	}
}

// AwaitFeedRequests waits until the feed has accepted at least n
// connections, or ctx ends, and returns the cursor (Last-Event-ID or
// ?after) of each accepted connection so far, "" for none.
func (i *Issuer) AwaitFeedRequests(ctx context.Context, n int) []string {
	for {
		i.mu.Lock()
		reqs, notify := append([]string(nil), i.feedReqs...), i.feedNotify
		i.mu.Unlock()
		if len(reqs) >= n {
			return reqs
		}
		select {
		case <-ctx.Done():
			return reqs
		case <-notify:
		}
	}
}

func (i *Issuer) serveDiscovery(w http.ResponseWriter, r *http.Request) {
	writeJSON(w, map[string]any{
		"issuer":                                i.URL(),
		"jwks_uri":                              i.URL() + PathJWKS,
		"revocation_feed_endpoint":              i.URL() + PathFeed,
		"id_token_signing_alg_values_supported": []string{"RS256", "ES256"},
	})
}

func (i *Issuer) serveJWKS(w http.ResponseWriter, r *http.Request) {
	i.mu.Lock()
	hold, arrived := i.jwksHold, i.jwksArrived
	i.mu.Unlock()
	if hold != nil {
		select {
		case <-arrived:
		default:
			close(arrived)
		}
		select {
		case <-hold:
		case <-r.Context().Done():
			return
		}
	}
	i.mu.Lock()
	if i.jwksFail != 0 {
		i.jwksCount++
		status := i.jwksFail
		i.mu.Unlock()
		http.Error(w, "failing on purpose", status)
		return
	}
	var set jose.JSONWebKeySet
	for _, k := range i.keys {
		set.Keys = append(set.Keys, jose.JSONWebKey{Key: k.priv.Public(), KeyID: k.kid, Algorithm: string(k.alg), Use: "sig"})
	}
	i.jwksCount++
	body, err := json.Marshal(set)
	if err != nil {
		i.mu.Unlock()
		http.Error(w, err.Error(), http.StatusInternalServerError)
		return
	}
	sum := sha256.Sum256(body)
	etag := `"` + hex.EncodeToString(sum[:8]) + `"`
	notModified := r.Header.Get("If-None-Match") == etag
	if notModified {
		i.jwks304++
	}
	i.mu.Unlock()
	if i.cacheControl != "" {
		w.Header().Set("Cache-Control", i.cacheControl)
	} else {
		w.Header().Set("Cache-Control", "public, max-age="+strconv.Itoa(int(i.maxAge/time.Second)))
	}
	w.Header().Set("ETag", etag)
	if notModified {
		w.WriteHeader(http.StatusNotModified)
		return
	}
	w.Header().Set("Content-Type", "application/jwk-set+json")
	_, _ = w.Write(body)
}

// serveFeed serves the revocation feed as authd does
// (docs/revocation-feed.md).
func (i *Issuer) serveFeed(w http.ResponseWriter, r *http.Request) {
	id, secret, ok := r.BasicAuth()
	if ok {
		id, _ = url.QueryUnescape(id)
		secret, _ = url.QueryUnescape(secret)
	}
	if !ok || subtle.ConstantTimeCompare([]byte(id), []byte(FeedClientID)) != 1 ||
		subtle.ConstantTimeCompare([]byte(secret), []byte(FeedClientSecret)) != 1 {
		w.Header().Set("WWW-Authenticate", `Basic realm="verifiertest"`)
		http.Error(w, `{"error":"invalid_client"}`, http.StatusUnauthorized)
		return
	}
	cursor := r.Header.Get("Last-Event-ID")
	if cursor == "" {
		cursor = r.URL.Query().Get("after")
	}
	i.mu.Lock()
	if i.suspended {
		i.mu.Unlock()
		http.Error(w, "suspended", http.StatusServiceUnavailable)
		return
	}
	i.feedReqs = append(i.feedReqs, cursor)
	close(i.feedNotify)
	i.feedNotify = make(chan struct{})
	i.mu.Unlock()

	w.Header().Set("Content-Type", "text/event-stream")
	w.Header().Set("Cache-Control", "no-store")
	w.WriteHeader(http.StatusOK)
	rc := http.NewResponseController(w)

	pos, err := strconv.Atoi(cursor)
	i.mu.Lock()
	if err != nil || pos < 0 || pos > len(i.entries) {
		// No cursor, or one this issuer never gave: a fresh snapshot.
		now := i.now().Unix()
		live := []entry{}
		for _, e := range i.entries {
			if e.Exp >= now {
				live = append(live, e)
			}
		}
		pos = len(i.entries)
		i.mu.Unlock()
		writeEvent(w, "snapshot", pos, map[string]any{"entries": live})
	} else {
		i.mu.Unlock()
	}
	_, _ = fmt.Fprint(w, ": ping\n\n")
	for {
		i.mu.Lock()
		pending := append([]entry(nil), i.entries[pos:]...)
		changed, drop := i.changed, i.drop
		i.mu.Unlock()
		for _, e := range pending {
			pos++
			writeEvent(w, "revocation", pos, e)
		}
		if rc.Flush() != nil {
			return
		}
		select {
		case <-changed:
		case <-drop:
			return
		case <-i.closing:
			return
		case <-r.Context().Done():
			return
		}
	}
}

func writeEvent(w http.ResponseWriter, event string, id int, data any) {
	b, _ := json.Marshal(data)
	_, _ = fmt.Fprintf(w, "event: %s\nid: %d\ndata: %s\n\n", event, id, b)
}

func writeJSON(w http.ResponseWriter, v any) {
	w.Header().Set("Content-Type", "application/json")
	_ = json.NewEncoder(w).Encode(v)
}

// mergeClaims lays claims over the defaults in body: a nil value removes
// the default and a time.Time becomes a NumericDate (RFC 7519 §2), so a
// test can build tokens and proofs that must fail.
func mergeClaims(body, claims map[string]any) {
	for name, v := range claims {
		switch v := v.(type) {
		case nil:
			delete(body, name)
		case time.Time:
			body[name] = v.Unix()
		default:
			body[name] = v
		}
	}
}
