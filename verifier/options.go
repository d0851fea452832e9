package verifier

import (
	"log/slog"
	"net/http"
	"time"
)

// Defaults of the options.
const (
	// DefaultLeeway is the clock skew allowed on exp, nbf and iat.
	DefaultLeeway = 30 * time.Second
	// DefaultMinRefreshInterval is the least time between two JWKS fetches.
	DefaultMinRefreshInterval = 10 * time.Second
)

// defaultAlgorithms is the allowlist when WithAlgorithms is not given: the
// two algorithms authd signs with.
var defaultAlgorithms = []string{"RS256", "ES256"}

// options collects what the Option functions set; New validates it.
type options struct {
	audience           string
	skipAudience       bool
	algorithms         []string
	algorithmsSet      bool
	client             *http.Client
	now                func() time.Time
	leeway             time.Duration
	jwksURL            string
	minRefreshInterval time.Duration
	feedClientID       string
	feedClientSecret   string
	feed               bool
	logger             *slog.Logger
}

// Option configures a Verifier.
type Option func(*options)

// WithAudience sets the audience this resource server answers to: a token
// is accepted only if its "aud" contains it (RFC 9068 §4, step 4). It is
// required unless WithInsecureSkipAudienceCheck is given.
func WithAudience(aud string) Option {
	return func(o *options) { o.audience = aud }
}

// WithInsecureSkipAudienceCheck accepts tokens whatever their audience.
// Any token the issuer minted for any other resource server is then
// accepted here too; use it only when the issuer serves this resource
// server alone.
func WithInsecureSkipAudienceCheck() Option {
	return func(o *options) { o.skipAudience = true }
}

// WithAlgorithms sets the allowlist of signing algorithms (default RS256
// and ES256). Only asymmetric JWS algorithms are accepted (RS*, PS*, ES*,
// EdDSA); "none", HMAC algorithms or an empty list make New fail
// (RFC 8725 §3.1, §3.2).
func WithAlgorithms(algs ...string) Option {
	return func(o *options) {
		o.algorithms = append([]string(nil), algs...)
		o.algorithmsSet = true
	}
}

// WithHTTPClient sets the HTTP client for discovery, the JWKS and the
// revocation feed (default: a client of http.DefaultTransport). Its Timeout
// is ignored for the long-lived feed stream; requests for discovery and the
// JWKS are bounded by 10 s besides.
func WithHTTPClient(c *http.Client) Option {
	return func(o *options) { o.client = c }
}

// WithClock sets the clock used for token times, the JWKS cache and the
// revocation entries (default time.Now).
func WithClock(now func() time.Time) Option {
	return func(o *options) { o.now = now }
}

// WithLeeway sets the clock skew allowed on exp, nbf and iat (default 30 s).
func WithLeeway(d time.Duration) Option {
	return func(o *options) { o.leeway = d }
}

// WithJWKSURL sets the JWKS location and skips discovery. The revocation
// feed, if enabled, is then expected at issuer + "/oauth2/revocations".
func WithJWKSURL(u string) Option {
	return func(o *options) { o.jwksURL = u }
}

// WithMinRefreshInterval sets the least time between two JWKS fetches
// (default 10 s). A token with a kid that is still unknown within the
// interval after a fetch fails with ErrUnknownKey without a fetch.
func WithMinRefreshInterval(d time.Duration) Option {
	return func(o *options) { o.minRefreshInterval = d }
}

// WithRevocationFeed follows the issuer's revocation feed, authenticating
// as a confidential client (HTTP Basic, RFC 6749 §2.3.1). Verify then
// returns ErrRevoked for revoked tokens, and fails closed with
// ErrFeedNotReady until the feed's first snapshot has arrived (it waits up
// to about 2 s for it). Call Close to stop following the feed.
func WithRevocationFeed(clientID, clientSecret string) Option {
	return func(o *options) {
		o.feed = true
		o.feedClientID = clientID
		o.feedClientSecret = clientSecret
	}
}

// WithLogger sets the logger for JWKS refreshes and the feed connection
// (default: discard).
func WithLogger(l *slog.Logger) Option {
	return func(o *options) { o.logger = l }
}
