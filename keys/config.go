package keys

import (
	"errors"
	"fmt"
	"log/slog"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/authd-dev/authd/oauth"
	"github.com/authd-dev/authd/store"
)

// Algorithms this package signs with (RFC 7518 §3.1), named once in
// package oauth.
const (
	RS256 = oauth.AlgRS256
	ES256 = oauth.AlgES256
)

// Token types ("typ" header, RFC 7515 §4.1.9) whose signers are cached.
const (
	// TypeAccessToken is the typ of JWT access tokens (RFC 9068 §2.1).
	TypeAccessToken = "at+jwt"
	// TypeIDToken is the typ of ID tokens (RFC 7519 §5.1).
	TypeIDToken = "JWT"
)

// supportedAlgs lists the supported algorithms in the order they are
// processed and published.
func supportedAlgs() [2]string { return [2]string{RS256, ES256} }

// Algorithms returns the signature algorithms authd signs with, in the
// order they are processed and published. Discovery, client metadata
// validation, settings validation and the CLI derive their lists from it.
func Algorithms() []string {
	a := supportedAlgs()
	return a[:]
}

// supported reports whether alg is one of supportedAlgs.
func supported(alg string) bool { return alg == RS256 || alg == ES256 }

// Defaults of Config.
const (
	DefaultRSABits         = 2048
	DefaultRotationPeriod  = 720 * time.Hour
	DefaultPublishAhead    = time.Hour
	DefaultRetireAfter     = time.Hour + time.Minute
	DefaultRefreshInterval = 2 * time.Second
)

// kekSize is the size of an AES-256 key.
const kekSize = 32

// Config configures a Manager. Zero durations take their defaults.
type Config struct {
	// Store keeps the key set; replicas sharing it coordinate through it.
	Store store.KeyStore
	// KEK is the 32-byte key-encryption key (AES-256-GCM) that seals
	// private keys at rest.
	KEK []byte
	// PreviousKEK, when set, opens keys sealed before a KEK change; they
	// are re-sealed with KEK (by compare-and-swap) when loaded.
	PreviousKEK []byte
	// RSABits is the RSA modulus size: 2048 (default), 3072 or 4096.
	RSABits int
	// RotationPeriod is how long a key is active (default 720h).
	RotationPeriod time.Duration
	// PublishAhead is how long a next key is published before it
	// activates (default 1h); it bounds the JWKS max-age.
	PublishAhead time.Duration
	// RetireAfter is how long a retired key stays published: the longest
	// token lifetime plus leeway (default 1h1m).
	RetireAfter time.Duration
	// RefreshInterval is how often Run reloads the set and applies due
	// transitions (default 2s).
	RefreshInterval time.Duration
	// Notifier, when set, carries key-set changes between replicas: every
	// change this Manager stores is published on store.TopicKeys, and Run
	// reloads at once when another replica publishes one. Polling every
	// RefreshInterval stays as the fallback.
	Notifier store.Notifier
	// Now is the clock (default time.Now).
	Now func() time.Time
	// Logger receives lifecycle events (default: discarded).
	Logger *slog.Logger
	// Registerer, when set, receives authd_key_rotations_total{alg,reason},
	// authd_signing_key_age_seconds{alg} and authd_jwks_served_total.
	Registerer prometheus.Registerer
}

// ErrConfig is wrapped by every configuration error of NewManager.
var ErrConfig = errors.New("keys: invalid config")

// withDefaults validates c and fills in defaults.
func (c Config) withDefaults() (Config, error) {
	if c.Store == nil {
		return c, fmt.Errorf("%w: Store is required", ErrConfig)
	}
	if len(c.KEK) != kekSize {
		return c, fmt.Errorf("%w: KEK must be %d bytes, got %d", ErrConfig, kekSize, len(c.KEK))
	}
	if len(c.PreviousKEK) != 0 && len(c.PreviousKEK) != kekSize {
		return c, fmt.Errorf("%w: PreviousKEK must be %d bytes, got %d", ErrConfig, kekSize, len(c.PreviousKEK))
	}
	switch c.RSABits {
	case 0:
		c.RSABits = DefaultRSABits
	case 2048, 3072, 4096:
	default:
		return c, fmt.Errorf("%w: RSABits must be 2048, 3072 or 4096, got %d", ErrConfig, c.RSABits)
	}
	for _, d := range []struct {
		name string
		v    *time.Duration
		def  time.Duration
	}{
		{"RotationPeriod", &c.RotationPeriod, DefaultRotationPeriod},
		{"PublishAhead", &c.PublishAhead, DefaultPublishAhead},
		{"RetireAfter", &c.RetireAfter, DefaultRetireAfter},
		{"RefreshInterval", &c.RefreshInterval, DefaultRefreshInterval},
	} {
		switch {
		case *d.v == 0:
			*d.v = d.def
		case *d.v < 0:
			return c, fmt.Errorf("%w: %s must be positive, got %s", ErrConfig, d.name, *d.v)
		}
	}
	if c.PublishAhead >= c.RotationPeriod {
		return c, fmt.Errorf("%w: PublishAhead (%s) must be shorter than RotationPeriod (%s)", ErrConfig, c.PublishAhead, c.RotationPeriod)
	}
	if c.Now == nil {
		c.Now = time.Now
	}
	if c.Logger == nil {
		c.Logger = slog.New(slog.DiscardHandler)
	}
	return c, nil
}
