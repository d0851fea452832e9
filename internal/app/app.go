// Package app wires authd together: it opens the store named by the
// configuration, builds the domain services and the HTTP server, and owns
// the listeners and the shutdown. It is the only package that names a
// storage backend.
package app

import (
	"context"
	"crypto/hkdf"
	"crypto/sha256"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"strings"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"golang.org/x/sync/errgroup"

	"github.com/authd-dev/authd/admin"
	"github.com/authd-dev/authd/authorize"
	"github.com/authd-dev/authd/clients"
	"github.com/authd-dev/authd/feed"
	"github.com/authd-dev/authd/internal/config"
	"github.com/authd-dev/authd/internal/webhook"
	"github.com/authd-dev/authd/keys"
	"github.com/authd-dev/authd/logout"
	"github.com/authd-dev/authd/oauth"
	"github.com/authd-dev/authd/server"
	"github.com/authd-dev/authd/store"
	"github.com/authd-dev/authd/tokens"
	"github.com/authd-dev/authd/users"
	"github.com/authd-dev/authd/verifier/dpop"
)

// App is an assembled authd: its handlers and the parts behind them.
type App struct {
	Config  config.Config
	Store   store.Store
	Keys    *keys.Manager
	Clients *clients.Registry
	Users   *users.Service
	Tokens  *tokens.Service
	Server  *server.Server
	// Feed fans the denylist out to resource servers; Run follows the store.
	Feed   *feed.Hub
	Logger *slog.Logger
	// Registry holds every metric of this instance.
	Registry *prometheus.Registry
	// Webhook delivers security events (nil without a webhook URL); Run
	// runs it.
	Webhook *webhook.Sender
	// loops are the background goroutines; Run runs them in one group.
	loops []loop
}

// loop is one background goroutine of the app: it runs until its context
// ends.
type loop struct {
	name string
	run  func(ctx context.Context)
}

// background registers a loop that Run starts and waits for. No part of
// the app starts a goroutine of its own.
func (a *App) background(name string, run func(ctx context.Context)) {
	a.loops = append(a.loops, loop{name: name, run: run})
}

// Options are the parts of an App that tests and embedders may replace.
type Options struct {
	Logger *slog.Logger
	Now    func() time.Time
	// Argon2 overrides the password-hash parameters (tests use cheap ones).
	Argon2 *users.Argon2id
	// WrapStore, when set, wraps the opened store (tests inject failures
	// through it; an embedder may add instrumentation). Close still
	// reaches the backend through the wrapper.
	WrapStore func(store.Store) store.Store
	// ClientJWKSRootCAs, when set, replaces the system roots that client
	// jwks_uri fetches trust (tests serve a jwks_uri with their own
	// certificate; an embedder may have a private PKI).
	ClientJWKSRootCAs *x509.CertPool
}

// New assembles an App from cfg. Close releases it.
func New(ctx context.Context, cfg config.Config, opts Options) (*App, error) {
	if opts.Logger == nil {
		opts.Logger = slog.Default()
	}
	if opts.Now == nil {
		opts.Now = time.Now
	}
	// Every component logs through this logger, so every line logged with
	// a request's context carries that request's id.
	log := slog.New(server.LogHandler(opts.Logger.Handler()))
	opts.Logger = log
	st, err := openStore(ctx, cfg, opts)
	if err != nil {
		return nil, err
	}
	if opts.WrapStore != nil {
		st = opts.WrapStore(st)
	}
	a := &App{Config: cfg, Store: st, Logger: log, Registry: prometheus.NewRegistry()}
	ok := false
	defer func() {
		if !ok {
			st.Close()
		}
	}()
	a.Registry.MustRegister(collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))

	longest := max(cfg.AccessTokenTTL, cfg.IDTokenTTL)
	a.Keys, err = keys.NewManager(ctx, keys.Config{
		Store:          st,
		KEK:            cfg.KEK,
		PreviousKEK:    cfg.KEKPrevious,
		RSABits:        cfg.RSAKeyBits,
		RotationPeriod: cfg.KeyRotationPeriod,
		PublishAhead:   cfg.KeyPublishAhead,
		RetireAfter:    longest + time.Minute,
		Notifier:       st,
		Now:            opts.Now,
		Logger:         log.With("component", "keys"),
		Registerer:     a.Registry,
	})
	if err != nil {
		return nil, fmt.Errorf("signing keys: %w", err)
	}

	// The secrets of client_secret_jwt clients are sealed under a key
	// derived from the KEK; the previous KEK's key still opens old seals.
	sealKeys, err := deriveKeys(cfg.KEK, cfg.KEKPrevious, "authd client secret seal v1")
	if err != nil {
		return nil, err
	}
	fetcher, err := clients.NewKeyFetcher(clients.FetcherConfig{
		Timeout:       cfg.ClientJWKSTimeout,
		AllowPrivate:  cfg.ClientJWKSAllowPrivate,
		AllowLoopback: cfg.Dev,
		RootCAs:       opts.ClientJWKSRootCAs,
		Now:           opts.Now,
		Logger:        log.With("component", "client-keys"),
	})
	if err != nil {
		return nil, err
	}
	a.Clients, err = clients.NewRegistry(clients.Config{
		SecretSealKeys: sealKeys,
		KeyFetcher:     fetcher,
		Store:          st,
		SecretKey:      clientSecretDigestKey,
		Now:            opts.Now,
		Logger:         log.With("component", "clients"),
		Issuer:         cfg.Issuer,
		// The token endpoint URL as an assertion audience only where the
		// operator allows it (draft-ietf-oauth-rfc7523bis).
		TokenEndpoint:               cfg.Issuer + server.PathToken,
		AcceptTokenEndpointAudience: cfg.ClientAssertionAudienceTokenEndpoint,
		// RFC 9126 §2: accepted at the PAR endpoint only.
		PAREndpoint: cfg.Issuer + server.PathPAR,
		Replay:      st,
		Notifier:    st,
		CacheTTL:    cfg.ClientCacheTTL,
	})
	if err != nil {
		return nil, err
	}

	hasher := opts.Argon2
	if hasher == nil {
		hasher = &users.Argon2id{Time: cfg.Argon2Time, MemoryKiB: cfg.Argon2MemoryKiB, Threads: cfg.Argon2Threads, KeyLen: 32, SaltLen: 16}
	}
	throttle, err := users.NewThrottle(users.ThrottleConfig{
		Store:             st,
		UsernamePerMinute: cfg.LoginUsernamePerMinute,
		UsernameBurst:     cfg.LoginUsernameBurst,
		IPPerMinute:       cfg.LoginIPPerMinute,
		IPBurst:           cfg.LoginIPBurst,
	})
	if err != nil {
		return nil, err
	}
	a.Users, err = users.New(users.Config{
		Store:         st,
		Revoker:       subjectRevoker{a},
		Hasher:        hasher,
		Throttle:      throttle,
		HashMemoryKiB: int64(cfg.PasswordHashMemoryMiB) * 1024,
		HashPerIP:     cfg.PasswordHashPerIP,
		Registerer:    a.Registry,
		Now:           opts.Now,
		Logger:        log.With("component", "users"),
		CacheTTL:      cfg.UserCacheTTL,
		Notifier:      st,
	})
	if err != nil {
		return nil, err
	}

	var onSecurityEvent func(tokens.SecurityEvent)
	if cfg.SecurityWebhookURL != "" {
		wc := webhook.DefaultConfig(cfg.SecurityWebhookURL, cfg.SecurityWebhookSecret)
		wc.Now, wc.Logger, wc.Registerer = opts.Now, log.With("component", "webhook"), a.Registry
		if a.Webhook, err = webhook.New(wc); err != nil {
			return nil, err
		}
		onSecurityEvent = func(ev tokens.SecurityEvent) { a.Webhook.Send(ev) }
	}

	macKeys, err := refreshMACKeys(cfg.KEK, cfg.KEKPrevious)
	if err != nil {
		return nil, err
	}
	codeKey, err := hkdf.Key(sha256.New, cfg.KEK, nil, "authd authorization code v1", 32)
	if err != nil {
		return nil, err
	}
	// DPoP (RFC 9449): one algorithm list for the check and discovery;
	// server nonces (§8) keyed by the KEK, so every replica agrees.
	dpopCfg := tokens.DPoPConfig{Algorithms: dpop.DefaultAlgorithms(), MaxAge: cfg.DPoPProofMaxAge, Replay: st}
	if cfg.DPoPNonce {
		if dpopCfg.NonceKey, err = hkdf.Key(sha256.New, cfg.KEK, nil, "authd dpop nonce v1", 32); err != nil {
			return nil, err
		}
	}
	// On Redis introspection answers from a local denylist copy of bounded
	// staleness (no round trip); on bolt the store is local and the read
	// is cheaper than keeping a copy.
	var mirrorStaleness time.Duration
	if cfg.Store == "redis" {
		mirrorStaleness = cfg.DenyMirrorStaleness
	}
	a.Tokens, err = tokens.New(tokens.Config{
		Issuer:                  cfg.Issuer,
		DefaultAudience:         []string{cfg.DefaultAudience},
		DefaultAlg:              cfg.SigningAlg,
		AccessTokenTTL:          cfg.AccessTokenTTL,
		IDTokenTTL:              cfg.IDTokenTTL,
		CodeKey:                 codeKey,
		RefreshTokenTTL:         cfg.RefreshTokenTTL,
		RefreshTokenMaxLifetime: cfg.RefreshTokenMaxLifetime,
		RefreshReuseLeeway:      cfg.RefreshReuseLeeway,
		RefreshReuseMaxRetries:  cfg.RefreshReuseMaxRetries,
		RefreshMACKeys:          macKeys,
		Signer:                  a.Keys,
		Families:                st,
		Deny:                    st,
		Verifier:                a.Keys,
		DenyReader:              st,
		DenyMirrorStaleness:     mirrorStaleness,
		DenyFeed:                st,
		Users:                   a.Users,
		DPoP:                    dpopCfg,
		Devices:                 st,
		DeviceCodeTTL:           cfg.DeviceCodeTTL,
		DevicePollInterval:      cfg.DevicePollInterval,
		DeviceThrottle: tokens.DeviceThrottle{Store: st,
			ClientEvery: time.Minute / time.Duration(cfg.DeviceAuthorizationClientPerMinute), ClientBurst: cfg.DeviceAuthorizationClientBurst,
			IPEvery: time.Minute / time.Duration(cfg.DeviceAuthorizationIPPerMinute), IPBurst: cfg.DeviceAuthorizationIPBurst},
		Sessions:        st,
		OnSecurityEvent: onSecurityEvent,
		Registerer:      a.Registry,
		Now:             opts.Now,
		Logger:          log.With("component", "tokens"),
	})
	if err != nil {
		return nil, err
	}

	a.Feed = feed.NewHub(feed.Config{Source: st, Buffer: cfg.RevocationFeedQueue, MaxSubscribers: cfg.RevocationFeedMaxSubscribers, Logger: log.With("component", "feed")})
	a.background("keys", a.Keys.Run)
	a.background("revocation feed", a.Feed.Run)
	a.background("client invalidations", func(ctx context.Context) {
		if err := a.Clients.Run(ctx); err != nil && ctx.Err() == nil {
			log.WarnContext(ctx, "client invalidations stopped; other replicas' changes are seen after the cache TTL", "err", err)
		}
	})
	a.background("denylist mirror", a.Tokens.RunDenyMirror)
	a.background("user invalidations", func(ctx context.Context) {
		if err := a.Users.Run(ctx); err != nil && ctx.Err() == nil {
			log.WarnContext(ctx, "user invalidations stopped; other replicas' changes are seen after the cache TTL", "err", err)
		}
	})
	if a.Webhook != nil {
		a.background("security webhook", a.Webhook.Run)
	}
	// backchannel_logout_uri is the registrant's choice (anyone's, with
	// open dynamic registration): its POST meets the jwks_uri SSRF guard,
	// with the same settings, and no proxy so the guard sees the address.
	const backchannelTimeout = 5 * time.Second
	backchannelHTTP := &http.Client{Timeout: backchannelTimeout, Transport: &http.Transport{
		Proxy:           nil,
		DialContext:     clients.GuardedDialer(backchannelTimeout, cfg.ClientJWKSAllowPrivate, cfg.Dev).DialContext,
		TLSClientConfig: &tls.Config{MinVersion: tls.VersionTLS12}, TLSHandshakeTimeout: backchannelTimeout,
		ResponseHeaderTimeout: backchannelTimeout, MaxResponseHeaderBytes: 16 << 10, ForceAttemptHTTP2: true,
	}}
	backchannel, err := logout.NewBackchannel(logout.BackchannelConfig{Issuer: cfg.Issuer, Signer: a.Keys, Now: opts.Now,
		HTTP: backchannelHTTP, Timeout: backchannelTimeout, Logger: log.With("component", "backchannel")})
	if err != nil {
		return nil, err
	}
	a.background("back-channel logout", backchannel.Run)
	lo, err := logout.New(logout.Config{Sessions: st, Logins: a.Tokens, Clients: a.Clients, Hints: a.Tokens,
		Backchannel: backchannel, DefaultAlg: cfg.SigningAlg, Issuer: cfg.Issuer, Logger: log.With("component", "logout")})
	if err != nil {
		return nil, err
	}
	flow, err := authorize.New(authorize.Config{Requests: a.Tokens, Users: a.Tokens, Clients: a.Clients, Consents: st, Now: opts.Now,
		Sessions: st, Hints: a.Tokens, SessionIdleTTL: cfg.SessionIdleTTL, SessionMaxLifetime: cfg.SessionMaxLifetime,
		Pushed: st, PushedLifetime: cfg.PARLifetime, RequirePushed: cfg.RequirePushedAuthorizationRequests, Proofs: a.Tokens,
		Accounts: a.Users, Logout: lo,
		Device: &authorize.DeviceConfig{Devices: a.Tokens, Throttle: st,
			Every: time.Minute / time.Duration(cfg.DeviceVerifyIPPerMinute), Burst: cfg.DeviceVerifyIPBurst}})
	if err != nil {
		return nil, err
	}
	adm, err := admin.New(admin.Config{Clients: a.Clients, Users: a.Users, Keys: a.Keys, Revoker: a.Tokens, Consents: st, Families: a.Tokens, Now: opts.Now,
		Sessions: st, Logout: lo})
	if err != nil {
		return nil, err
	}
	registrar, err := newRegistrar(cfg, a.Clients, st, adm, opts.Now, log.With("component", "registration"))
	if err != nil {
		return nil, err
	}
	scopeText, err := oauth.ParseScopeDescriptions(cfg.ScopeDescriptions)
	if err != nil { // internal/config checked them
		return nil, err
	}
	a.Server, err = server.New(server.Config{
		Issuer:     cfg.Issuer,
		Tokens:     a.Tokens,
		ClientAuth: a.Clients,
		Keys:       a.Keys,
		Admin:      adm,
		Inspector:  a.Tokens,
		Feed:       a.Feed,
		// An untyped nil when registration is off: nothing is mounted.
		Registration:       registrationOrNil(registrar),
		RegistrationTokens: registrationTokensOrNil(registrar),
		FeedTimeout:        cfg.RevocationFeedWriteTimeout,
		Flow:               flow,
		PAR:                flow,
		Devices:            a.Tokens,
		DeviceFlow:         flow,
		RequirePAR:         cfg.RequirePushedAuthorizationRequests,
		Logout:             lo,
		UserInfo:           a.Tokens,
		ScopesSupported:    oauth.Scopes(),
		UIDir:              cfg.UIDir,
		ScopeText:          scopeText,
		Ready:              st.Ping,
		AdminToken:         cfg.AdminToken,
		MetricsToken:       cfg.MetricsToken,
		MetricsAuth:        cfg.MetricsRequireAuth,
		TrustedProxies:     cfg.TrustedProxies,
		DPoPAlgorithms:     a.Tokens.DPoPAlgorithms(),
		Registry:           a.Registry,
		Now:                opts.Now,
		Logger:             log.With("component", "http"),
	})
	if err != nil {
		return nil, err
	}
	ok = true
	return a, nil
}

// Run runs every background loop (key rotation and key-set notifications,
// client-cache invalidations, the revocation feed, the security webhook)
// in one group until ctx ends, and returns once all of them have returned.
func (a *App) Run(ctx context.Context) error {
	g, ctx := errgroup.WithContext(ctx)
	for _, l := range a.loops {
		g.Go(func() error {
			l.run(ctx)
			a.Logger.DebugContext(ctx, "background loop stopped", "loop", l.name)
			return nil
		})
	}
	return g.Wait()
}

// Close releases the store.
func (a *App) Close() error { return a.Store.Close() }

// clientSecretDigestKey keys the digests of client secrets. It is a fixed
// domain-separation constant, not a secret: client secrets carry 256 bits
// of entropy, so their SHA-256 digest cannot be inverted, and a constant
// key lets the KEK change without invalidating every client secret.
var clientSecretDigestKey = func() []byte {
	k := sha256.Sum256([]byte("authd client secret digest v1"))
	return k[:]
}()

// refreshMACKeys derives the refresh-token MAC keys from the KEK (and the
// previous KEK, so tokens survive a KEK change).
func refreshMACKeys(kek, previous []byte) ([][]byte, error) {
	return deriveKeys(kek, previous, "authd refresh-token mac v1")
}

// deriveKeys derives a 32-byte key for purpose from the KEK, then from the
// previous KEK if there is one (HKDF-SHA-256, RFC 5869): the first is the
// key to use, the second keeps what the previous KEK's key made valid.
func deriveKeys(kek, previous []byte, purpose string) ([][]byte, error) {
	var out [][]byte
	for _, k := range [][]byte{kek, previous} {
		if len(k) == 0 {
			continue
		}
		mk, err := hkdf.Key(sha256.New, k, nil, purpose, 32)
		if err != nil {
			return nil, err
		}
		out = append(out, mk)
	}
	if len(out) == 0 {
		return nil, errors.New("a KEK is required")
	}
	return out, nil
}

// subjectRevoker gives the users service the tokens service's subject
// watermark; it is bound late because the tokens service reads users.
type subjectRevoker struct{ a *App }

func (r subjectRevoker) RevokeSubject(ctx context.Context, sub string, at time.Time) error {
	return r.a.Tokens.RevokeSubject(ctx, sub, at)
}

// NewLogger builds the process logger from the log settings.
func NewLogger(w io.Writer, level, format string) *slog.Logger {
	var lv slog.Level
	if err := lv.UnmarshalText([]byte(level)); err != nil {
		lv = slog.LevelInfo
	}
	o := &slog.HandlerOptions{Level: lv}
	if strings.EqualFold(format, "json") {
		return slog.New(slog.NewJSONHandler(w, o))
	}
	return slog.New(slog.NewTextHandler(w, o))
}
