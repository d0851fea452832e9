package verifier

import (
	"fmt"
	"log/slog"
	"net/http"
	"net/url"
	"time"
)

// Defaults of the options.
const (
	// DefaultLeeway is the clock skew allowed on exp, nbf and iat.
	DefaultLeeway = 30 * time.Second
	// DefaultMinRefreshInterval is the least time between two JWKS fetches.
	DefaultMinRefreshInterval = 10 * time.Second
	// DefaultMaxKeyStaleness is the longest a JWKS is used past its
	// freshness lifetime while it cannot be refreshed (see
	// WithMaxKeyStaleness). It matches the stale-if-error authd serves.
	DefaultMaxKeyStaleness = 24 * time.Hour
	// DefaultFeedMaxStaleness is how long after the revocation feed was
	// last connected the local denylist still counts as current (see
	// WithFeedMaxStaleness).
	DefaultFeedMaxStaleness = 2 * time.Minute
	// MaxKeyStalenessLimit is the largest bound WithMaxKeyStaleness
	// accepts: keys an issuer could not confirm for a month are not keys
	// to trust.
	MaxKeyStalenessLimit = 30 * 24 * time.Hour
	// MaxLeeway is the largest clock skew WithLeeway accepts.
	MaxLeeway = 5 * time.Minute
	// DefaultDPoPMaxAge is how old a DPoP proof's iat may be (see
	// WithDPoPMaxAge). RFC 9449 §11.1 asks for a short window, so that the
	// jti replay record stays small.
	DefaultDPoPMaxAge = time.Minute
	// MaxDPoPMaxAge is the largest window WithDPoPMaxAge accepts.
	MaxDPoPMaxAge = 10 * time.Minute
	// DefaultDPoPReplayCacheSize is how many proofs the in-memory replay
	// cache holds at most (see WithDPoPReplayCacheSize).
	DefaultDPoPReplayCacheSize = 100_000
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
	maxKeyStaleness    time.Duration
	feedMaxStaleness   time.Duration
	feedFailClosed     bool
	feedStalenessSet   bool
	insecureHTTP       bool
	dpopBaseURL        *url.URL
	dpopMaxAge         time.Duration
	dpopAlgorithms     []string
	dpopAlgorithmsSet  bool
	dpopReplay         ReplayCache
	dpopReplaySize     int
	dpopReplaySizeSet  bool
	// errs collects invalid option values; New reports them all.
	errs []error
}

// invalid records an invalid option value.
func (o *options) invalid(option, format string, args ...any) {
	o.errs = append(o.errs, fmt.Errorf("%w: %s: %s", ErrInvalidOption, option, fmt.Sprintf(format, args...)))
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
// JWKS are bounded by 10 s besides. A nil client makes New fail.
func WithHTTPClient(c *http.Client) Option {
	return func(o *options) {
		if c == nil {
			o.invalid("WithHTTPClient", "nil client")
		}
		o.client = c
	}
}

// WithClock sets the clock used for token times, the JWKS cache and the
// revocation entries (default time.Now). A nil clock makes New fail.
func WithClock(now func() time.Time) Option {
	return func(o *options) {
		if now == nil {
			o.invalid("WithClock", "nil clock")
		}
		o.now = now
	}
}

// WithLeeway sets the clock skew allowed on exp, nbf and iat (default 30 s;
// 0 allows none). A negative leeway or one above MaxLeeway makes New fail.
func WithLeeway(d time.Duration) Option {
	return func(o *options) {
		if d < 0 || d > MaxLeeway {
			o.invalid("WithLeeway", "%s is negative or above %s", d, MaxLeeway)
		}
		o.leeway = d
	}
}

// WithJWKSURL sets the JWKS location and skips discovery. The revocation
// feed, if enabled, is then expected at issuer + "/oauth2/revocations".
func WithJWKSURL(u string) Option {
	return func(o *options) { o.jwksURL = u }
}

// WithMinRefreshInterval sets the least time between two JWKS fetches
// (default 10 s). A token with a kid that is still unknown within the
// interval after a fetch fails with ErrUnknownKey without a fetch. The
// interval must be positive: without one, tokens with made-up key ids
// would turn every request into a fetch from the issuer.
func WithMinRefreshInterval(d time.Duration) Option {
	return func(o *options) {
		if d <= 0 {
			o.invalid("WithMinRefreshInterval", "%s is not positive", d)
		}
		o.minRefreshInterval = d
	}
}

// WithMaxKeyStaleness bounds how long the cached JWKS is used past its
// freshness lifetime (Cache-Control max-age) while refreshing it fails
// (default DefaultMaxKeyStaleness, 24 h). Within the bound the issuer's
// stale-if-error directive (RFC 5861 §4) decides: the cached keys serve
// for stale-if-error seconds after they went stale, or up to the bound
// when the issuer sends none; must-revalidate (RFC 9111 §5.2.2.2) allows
// no stale use at all. Past it, Verify fails closed with ErrStaleKeys
// until a fetch succeeds. It must be positive and at most
// MaxKeyStalenessLimit.
func WithMaxKeyStaleness(d time.Duration) Option {
	return func(o *options) {
		if d <= 0 || d > MaxKeyStalenessLimit {
			o.invalid("WithMaxKeyStaleness", "%s is not positive or above %s", d, MaxKeyStalenessLimit)
		}
		o.maxKeyStaleness = d
	}
}

// WithFeedMaxStaleness sets how long the local denylist counts as current
// after the revocation feed disconnected (default DefaultFeedMaxStaleness,
// 2 minutes). Revocations made meanwhile arrive only when the feed
// reconnects, so past the bound a revoked token may be accepted. What
// happens then is WithFeedFailClosed's choice: by default Verify keeps
// accepting tokens and logs a warning (at most once a minute); FeedStatus
// reports the staleness either way. A silently dead connection is noticed
// within 45 s (the feed's idle timeout), so the effective bound is up to
// 45 s longer. It must be positive.
func WithFeedMaxStaleness(d time.Duration) Option {
	return func(o *options) {
		if d <= 0 {
			o.invalid("WithFeedMaxStaleness", "%s is not positive", d)
		}
		o.feedMaxStaleness, o.feedStalenessSet = d, true
	}
}

// WithFeedFailClosed makes Verify fail with ErrFeedStale (Middleware: 503)
// once the revocation feed has been disconnected for longer than the
// WithFeedMaxStaleness bound, until it reconnects: no token is accepted
// while revocations may be missing. Without it the verifier fails open
// after the bound (tokens are accepted, a warning is logged), so that an
// issuer outage does not become an outage of the resource server; access
// tokens are short-lived, which bounds the exposure.
func WithFeedFailClosed() Option {
	return func(o *options) { o.feedFailClosed = true }
}

// WithInsecureAllowHTTP allows discovery, the JWKS and the revocation feed
// over plain http to hosts other than loopback. Without it New refuses such
// URLs, and a fetch redirected to one fails: anyone on the path could
// substitute their own keys, or hide revocations (RFC 8414 §2 wants https
// issuers, §6.1 TLS for the metadata and what it points to). Loopback
// hosts (localhost, 127.0.0.0/8, ::1) may always use http.
func WithInsecureAllowHTTP() Option {
	return func(o *options) { o.insecureHTTP = true }
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
// (default: discard). A nil logger makes New fail.
func WithLogger(l *slog.Logger) Option {
	return func(o *options) {
		if l == nil {
			o.invalid("WithLogger", "nil logger")
		}
		o.logger = l
	}
}

// WithDPoPBaseURL sets the externally visible origin (and optional path
// prefix) of the resource server, e.g. "https://api.example.com" behind a
// TLS-terminating proxy. A DPoP proof's htu must name this base joined
// with the request's path (RFC 9449 §4.3 item 9). Without it the target
// URI is taken from the request: https if it arrived over TLS, else http,
// and its Host header; behind a proxy that is rarely what the client
// signed. The URL must be absolute http(s), without query or fragment.
func WithDPoPBaseURL(base string) Option {
	return func(o *options) {
		u, err := url.Parse(base)
		if err != nil || (u.Scheme != "https" && u.Scheme != "http") || u.Host == "" ||
			u.RawQuery != "" || u.ForceQuery || u.Fragment != "" || u.User != nil {
			o.invalid("WithDPoPBaseURL", "%q is not an absolute http(s) URL without userinfo, query or fragment", base)
			return
		}
		o.dpopBaseURL = u
	}
}

// WithDPoPMaxAge sets how old a DPoP proof's iat may be (default
// DefaultDPoPMaxAge, 1 minute); a proof's iat may lie at most the
// WithLeeway skew in the future (RFC 9449 §4.3 item 11, §11.1). Proof
// identifiers are remembered for this long, so the window bounds the
// replay cache. It must be positive and at most MaxDPoPMaxAge.
func WithDPoPMaxAge(d time.Duration) Option {
	return func(o *options) {
		if d <= 0 || d > MaxDPoPMaxAge {
			o.invalid("WithDPoPMaxAge", "%s is not positive or above %s", d, MaxDPoPMaxAge)
		}
		o.dpopMaxAge = d
	}
}

// WithDPoPAlgorithms sets the algorithms a DPoP proof may be signed with
// (default dpop.DefaultAlgorithms(): ES256, ES384, ES512, RS256, PS256,
// EdDSA). They are advertised in the algs parameter of DPoP challenges
// (RFC 9449 §7.1). Only asymmetric algorithms are accepted; an empty list
// makes New fail (§4.3 item 5).
func WithDPoPAlgorithms(algs ...string) Option {
	return func(o *options) {
		o.dpopAlgorithms = append([]string(nil), algs...)
		o.dpopAlgorithmsSet = true
	}
}

// WithDPoPReplayCache replaces the in-memory record of DPoP proof
// identifiers with c, e.g. one in Redis shared by every replica of the
// resource server, so that a proof used on one replica is refused on the
// others (RFC 9449 §11.1). A nil cache makes New fail.
func WithDPoPReplayCache(c ReplayCache) Option {
	return func(o *options) {
		if c == nil {
			o.invalid("WithDPoPReplayCache", "nil cache")
		}
		o.dpopReplay = c
	}
}

// WithDPoPReplayCacheSize bounds the in-memory replay cache (default
// DefaultDPoPReplayCacheSize). When it is full of proofs still inside
// their window, further DPoP requests fail with ErrDPoPUnavailable (503)
// rather than forgetting a proof that could then be replayed. Only
// requests with a valid token and a valid proof take room. It must be
// positive, and it cannot be combined with WithDPoPReplayCache.
func WithDPoPReplayCacheSize(n int) Option {
	return func(o *options) {
		if n <= 0 {
			o.invalid("WithDPoPReplayCacheSize", "%d is not positive", n)
		}
		o.dpopReplaySize, o.dpopReplaySizeSet = n, true
	}
}
