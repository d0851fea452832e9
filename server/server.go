// Package server is authd's HTTP adapter: routes, request decoding,
// middleware (request ids, metrics, the access log), one classify(err) and
// one renderer per medium (JSON, HTML page, redirect). Each handler decodes
// its request, calls one method of a domain service (tokens, clients,
// authorize, admin, keys) and renders the answer. The rules it keeps are
// HTTP's: paths, authentication challenges (RFC 6750 §3), no-store (RFC 6749
// §5.1), where parameters may come from, the browser's CSRF cookie, JWKS
// caching and the discovery document built from package oauth's vocabulary.
package server

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"net/netip"
	"net/url"
	"strings"
	"time"

	"github.com/gorilla/mux"
	"github.com/prometheus/client_golang/prometheus"

	"github.com/authd-dev/authd/admin"
	"github.com/authd-dev/authd/clients"
	"github.com/authd-dev/authd/keys"
	"github.com/authd-dev/authd/oauth"
	"github.com/authd-dev/authd/store"
	"github.com/authd-dev/authd/tokens"
	"github.com/authd-dev/authd/users"
)

// TokenIssuer runs token requests of authenticated clients.
type TokenIssuer interface {
	Token(ctx context.Context, req *tokens.Request) (*tokens.Response, error)
	GrantTypes() []string
}

// ClientAuthenticator authenticates the client of a token-endpoint request
// (Authenticate) or of a request at another endpoint that authenticates
// clients the same way but names its own audience (AuthenticateAt: the
// PAR endpoint, RFC 9126 §2).
type ClientAuthenticator interface {
	Authenticate(ctx context.Context, r *http.Request) (store.Client, error)
	AuthenticateAt(ctx context.Context, r *http.Request, ep clients.Endpoint) (store.Client, error)
}

// KeySource serves the JWKS.
type KeySource interface {
	JWKS() keys.JWKS
}

// AdminAPI is the admin use cases (package admin): one method per call.
type AdminAPI interface {
	CreateClient(ctx context.Context, m clients.Metadata) (clients.Registered, error)
	GetClient(ctx context.Context, id string) (clients.Metadata, error)
	ListClients(ctx context.Context) ([]clients.Metadata, error)
	ReplaceClient(ctx context.Context, id string, m clients.Metadata) (clients.Registered, error)
	DeleteClient(ctx context.Context, id string) error
	ResetClientSecret(ctx context.Context, id string) (clients.Registered, error)

	CreateUser(ctx context.Context, req users.CreateRequest) (users.View, error)
	GetUser(ctx context.Context, id string) (users.View, error)
	ListUsers(ctx context.Context) ([]users.View, error)
	PatchUser(ctx context.Context, id string, req users.PatchRequest) (users.View, error)
	DeleteUser(ctx context.Context, id string) error
	RevokeUser(ctx context.Context, id string) error

	// SSO sessions of a user (admin_users.go).
	ListSessions(ctx context.Context, userID string) ([]admin.SessionView, error)
	DeleteSession(ctx context.Context, userID, sid string) error

	ListKeys() []keys.Info
	RotateKey(ctx context.Context, alg string) (keys.Info, error)
	DeleteKey(ctx context.Context, kid string) error

	ConsentAdmin // admin_consents.go
}

var _ AdminAPI = (*admin.Service)(nil)

// Paths of the public endpoints (clients find them through discovery).
const (
	PathToken = "/oauth2/token"
	PathJWKS  = "/oauth2/jwks"
	// PathPAR is the pushed authorization request endpoint (RFC 9126 §2; par.go).
	PathPAR = "/oauth2/par"
)

// Config configures a Server.
type Config struct {
	Issuer     string
	Tokens     TokenIssuer
	ClientAuth ClientAuthenticator
	Keys       KeySource
	// Admin serves the admin API.
	Admin AdminAPI
	// Inspector serves revocation and introspection (nil: not mounted).
	Inspector TokenInspector
	// Flow and UserInfo serve the OpenID Connect authorization code flow
	// and userinfo (nil: not mounted).
	Flow     BrowserFlow
	UserInfo UserInfoSource
	// PAR serves the pushed authorization request endpoint (par.go; nil:
	// not mounted, and only with Flow). RequirePAR is discovery's
	// require_pushed_authorization_requests (RFC 9126 §5).
	PAR        PushedAuthorizer
	RequirePAR bool
	// Logout serves the end_session endpoint (logout.go; nil: not
	// mounted, and only with Flow).
	Logout LogoutFlow
	// Registration serves dynamic client registration (register.go;
	// nil: not mounted, and not in discovery).
	Registration Registration
	// RegistrationTokens issues initial access tokens on the admin
	// listener (nil: not mounted).
	RegistrationTokens RegistrationTokenIssuer
	// Devices and DeviceFlow serve the device authorization grant's
	// endpoint and verification page (device.go; nil: not mounted, and
	// only with Flow).
	Devices    DeviceAuthorizer
	DeviceFlow DeviceVerifier
	// Feed serves the revocation feed (nil: not mounted).
	Feed FeedHub
	// FeedTimeout bounds every write of a feed stream; a reader that
	// stalls is cut (default DefaultFeedTimeout).
	FeedTimeout time.Duration
	// UIDir is an operator's directory of page templates and static files
	// (see loadUI); "" uses the built-in pages.
	UIDir string
	// ScopeText rewords scopes on the consent page (scope → text),
	// over the built-in descriptions of package oauth.
	ScopeText map[string]string
	// ScopesSupported is discovery's scopes_supported (nil: not listed).
	ScopesSupported []string
	// Ready reports whether the store is reachable (/readyz).
	Ready func(ctx context.Context) error
	// AdminToken is the bearer token of the admin API.
	AdminToken string
	// MetricsAuth makes /metrics require the admin token or MetricsToken;
	// a MetricsToken implies it.
	MetricsAuth bool
	// MetricsToken is a bearer token accepted for /metrics only.
	MetricsToken string
	// Registry receives the HTTP metrics and is served on /metrics.
	Registry *prometheus.Registry
	// MaxBodyBytes bounds request bodies (default 64 KiB).
	MaxBodyBytes int64
	// TrustedProxies are the reverse proxies whose X-Forwarded-For or
	// Forwarded header names the client (see clientIP); empty: none.
	TrustedProxies []netip.Prefix
	// JWKSStaleIfError is the stale-if-error window of the JWKS response.
	JWKSStaleIfError time.Duration
	// DPoPAlgorithms are the DPoP proof algorithms the token service
	// accepts (tokens.Service.DPoPAlgorithms; nil: DPoP off), listed in
	// discovery and in DPoP challenges (RFC 9449 §5.1, §7.1).
	DPoPAlgorithms []string
	Now            func() time.Time
	Logger         *slog.Logger
}

// Server holds the two HTTP handlers of authd.
type Server struct {
	cfg       Config
	log       *slog.Logger
	logBase   slog.Handler // log's handler without the request-id wrapper (logRequest)
	metrics   *httpMetrics
	ids       *requestIDs
	discovery []byte
	adminHash [32]byte
	// tokenURL, userInfoURL and parURL are the endpoints under the
	// issuer: the htu DPoP proofs must name (RFC 9449 §4.3), never the
	// Host header.
	tokenURL, userInfoURL, parURL *url.URL
	ui                            *ui
}

// New validates cfg and builds the Server.
func New(cfg Config) (*Server, error) {
	if cfg.Issuer == "" || cfg.Tokens == nil || cfg.ClientAuth == nil || cfg.Keys == nil || cfg.Admin == nil {
		return nil, errors.New("server: Issuer, Tokens, ClientAuth, Keys and Admin are required")
	}
	if (cfg.Flow == nil) != (cfg.UserInfo == nil) {
		return nil, errors.New("server: Flow and UserInfo go together")
	}
	if cfg.PAR != nil && cfg.Flow == nil {
		return nil, errors.New("server: PAR needs Flow")
	}
	if (cfg.Devices == nil) != (cfg.DeviceFlow == nil) || (cfg.Devices != nil && cfg.Flow == nil) {
		return nil, errors.New("server: Devices and DeviceFlow go together, and with Flow")
	}
	if cfg.AdminToken == "" { // its minimum length is internal/config's rule
		return nil, errors.New("server: an admin token is required")
	}
	if strings.HasSuffix(cfg.Issuer, "/") {
		return nil, errors.New("server: the issuer must not end in a slash")
	}
	if cfg.MaxBodyBytes <= 0 {
		cfg.MaxBodyBytes = 64 << 10
	}
	if cfg.FeedTimeout <= 0 {
		cfg.FeedTimeout = DefaultFeedTimeout
	}
	if cfg.JWKSStaleIfError <= 0 {
		cfg.JWKSStaleIfError = 24 * time.Hour
	}
	if cfg.Ready == nil {
		cfg.Ready = func(context.Context) error { return nil }
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.Default()
	}
	if cfg.Registry == nil {
		cfg.Registry = prometheus.NewRegistry()
	}
	s := &Server{cfg: cfg, log: slog.New(LogHandler(cfg.Logger.Handler())), metrics: newHTTPMetrics(cfg.Registry), ids: newRequestIDs()}
	s.logBase = unwrapLogHandler(s.log.Handler())
	s.adminHash = hashToken(cfg.AdminToken)
	var err error
	if s.tokenURL, err = url.Parse(cfg.Issuer + PathToken); err != nil {
		return nil, fmt.Errorf("server: issuer: %w", err)
	}
	if s.userInfoURL, err = url.Parse(cfg.Issuer + PathUserInfo); err != nil {
		return nil, fmt.Errorf("server: issuer: %w", err)
	}
	if s.parURL, err = url.Parse(cfg.Issuer + PathPAR); err != nil {
		return nil, fmt.Errorf("server: issuer: %w", err)
	}
	if s.discovery, err = s.discoveryDocument(); err != nil {
		return nil, err
	}
	if s.ui, err = loadUI(cfg.UIDir, s.issuerPath()); err != nil {
		return nil, err
	}
	return s, nil
}

// Public returns the handler of the public listener.
func (s *Server) Public() http.Handler {
	r := s.router()
	s.route(r, "public", "discovery", "/.well-known/openid-configuration", http.HandlerFunc(s.handleDiscovery), http.MethodGet, http.MethodHead)
	s.route(r, "public", "discovery_oauth", "/.well-known/oauth-authorization-server", http.HandlerFunc(s.handleDiscovery), http.MethodGet, http.MethodHead)
	s.route(r, "public", "jwks", PathJWKS, http.HandlerFunc(s.handleJWKS), http.MethodGet, http.MethodHead)
	s.route(r, "public", "token", PathToken, http.HandlerFunc(s.handleToken), http.MethodPost)
	if s.cfg.Inspector != nil {
		s.route(r, "public", "revoke", PathRevoke, http.HandlerFunc(s.handleRevoke), http.MethodPost)
		s.route(r, "public", "introspect", PathIntrospect, http.HandlerFunc(s.handleIntrospect), http.MethodPost)
	}
	if s.cfg.Flow != nil {
		s.route(r, "public", "authorize", PathAuthorize, http.HandlerFunc(s.handleAuthorize), http.MethodGet, http.MethodPost)
		s.route(r, "public", "authorize_login", PathAuthorize+"/login", http.HandlerFunc(s.handleLogin), http.MethodPost)
		if s.cfg.PAR != nil {
			s.route(r, "public", "par", PathPAR, http.HandlerFunc(s.handlePAR), http.MethodPost)
		}
		if s.cfg.Logout != nil {
			s.route(r, "public", "end_session", PathEndSession, http.HandlerFunc(s.handleEndSession), http.MethodGet, http.MethodPost)
		}
		s.route(r, "public", "userinfo", PathUserInfo, http.HandlerFunc(s.handleUserInfo), http.MethodGet, http.MethodPost)
		if s.cfg.Devices != nil {
			s.route(r, "public", "device_authorization", PathDeviceAuthorization, http.HandlerFunc(s.handleDeviceAuthorization), http.MethodPost)
			s.route(r, "public", "device", PathDevice, http.HandlerFunc(s.handleDevice), http.MethodGet, http.MethodPost)
		}
		s.route(r, "public", "ui", PathUI+"{file}", http.HandlerFunc(s.serveUI), http.MethodGet, http.MethodHead)
	}
	if s.cfg.Registration != nil {
		s.registrationRoutes(r)
	}
	if s.cfg.Feed != nil {
		s.route(r, "public", "revocation_feed", PathRevocationFeed, http.HandlerFunc(s.handleRevocationFeed), http.MethodGet)
	}
	s.health(r, "public")
	return r
}

// Admin returns the handler of the admin listener.
func (s *Server) Admin() http.Handler {
	r := s.router()
	// Route on the escaped path, so that ids holding '/' or ".." (clients
	// created by older versions) can be named percent-encoded; handlers
	// decode their path variables (admin_clients.go).
	r.UseEncodedPath()
	s.health(r, "admin")
	s.route(r, "admin", "metrics", "/metrics", s.metricsHandler(), http.MethodGet)
	s.adminRoutes(r)
	return r
}

func (s *Server) router() *mux.Router {
	r := mux.NewRouter()
	r.NotFoundHandler = s.instrument("any", "not_found", http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		writeJSON(w, http.StatusNotFound, errorBody{Error: oauth.NotFound, Description: "no such endpoint"})
	}))
	r.MethodNotAllowedHandler = s.instrument("any", "method_not_allowed", http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		writeJSON(w, http.StatusMethodNotAllowed, errorBody{Error: oauth.InvalidRequest, Description: "method " + r.Method + " is not allowed here"})
	}))
	return r
}

// route registers h for path and methods, instrumented under name.
func (s *Server) route(r *mux.Router, listener, name, path string, h http.Handler, methods ...string) {
	r.Handle(path, s.instrument(listener, name, h)).Methods(methods...)
}

func (s *Server) health(r *mux.Router, listener string) {
	s.route(r, listener, "healthz", "/healthz", http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		writeJSON(w, http.StatusOK, map[string]string{"status": "ok"})
	}), http.MethodGet, http.MethodHead)
	s.route(r, listener, "readyz", "/readyz", http.HandlerFunc(s.handleReady), http.MethodGet, http.MethodHead)
}

func (s *Server) handleReady(w http.ResponseWriter, r *http.Request) {
	ctx, cancel := context.WithTimeout(r.Context(), 2*time.Second)
	defer cancel()
	if err := s.cfg.Ready(ctx); err != nil {
		s.log.WarnContext(ctx, "not ready", "err", err)
		writeJSON(w, http.StatusServiceUnavailable, map[string]string{"status": "unavailable", "store": "unreachable"})
		return
	}
	writeJSON(w, http.StatusOK, map[string]string{"status": "ok", "store": "ok"})
}
