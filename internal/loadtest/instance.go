package main

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/url"
	"strings"
	"time"

	"github.com/redis/go-redis/v9"
	"github.com/spf13/pflag"

	"github.com/authd-dev/authd/internal/app"
	"github.com/authd-dev/authd/internal/config"
)

// instance is one authd on loopback listeners, exactly as `authd serve`
// assembles it: in this process (startInstance) or in a child process
// (startChild), whose fields app, public and admin are then nil.
type instance struct {
	app    *app.App
	public *http.Server
	admin  *http.Server
	// adminToken authenticates the admin API calls of the set-up.
	adminToken string
	// ctl drives the server's runtime (statistics window, CPU profile,
	// GOMAXPROCS); local is its in-process side (nil for a child), child
	// the child process (nil in-process).
	ctl   control
	local *localControl
	child *childControl
	// stop ends a child (nil in-process).
	stop func()
	// adminURL is the base of the admin listener; tokenURL and jwksURL
	// come from the discovery document (RFC 8414 §3).
	adminURL, tokenURL, jwksURL, introspectURL string
	// issuer, and the authorization and device authorization endpoints
	// (RFC 8628 §4), also from discovery.
	issuer, authorizeURL, deviceURL string
	cancel                          context.CancelFunc
	client                          *http.Client
}

// startInstance runs authd with the given store settings (flags of
// `authd serve`), in dev mode with its data in dataDir, logging at warn.
func startInstance(ctx context.Context, dataDir string, logger *slog.Logger, storeArgs ...string) (*instance, error) {
	pubLn, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return nil, err
	}
	admLn, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		pubLn.Close()
		return nil, err
	}
	issuer := "http://" + pubLn.Addr().String()
	args := append([]string{
		"--dev", "--data-dir", dataDir, "--issuer", issuer, "--log-level", "warn",
		"--addr", pubLn.Addr().String(), "--admin-addr", admLn.Addr().String(),
		// Logins are set-up, not what is measured: cheap password hashes.
		"--argon2-time", "1", "--argon2-memory", "64",
	}, storeArgs...)
	fs := pflag.NewFlagSet("serve", pflag.ContinueOnError)
	config.Register(fs)
	cfg, err := func() (config.Config, error) {
		if err := fs.Parse(args); err != nil {
			return config.Config{}, err
		}
		return config.Load(fs, func(string) string { return "" })
	}()
	if err != nil {
		pubLn.Close()
		admLn.Close()
		return nil, fmt.Errorf("config: %w", err)
	}
	runCtx, cancel := context.WithCancel(ctx)
	a, err := app.New(runCtx, cfg, app.Options{Logger: logger})
	if err != nil {
		cancel()
		pubLn.Close()
		admLn.Close()
		return nil, fmt.Errorf("app.New: %w", err)
	}
	go a.Run(runCtx)
	// The public handler is timed (windowStats.Handler*): the open-loop
	// report compares the time inside the server with the latency seen.
	local := &localControl{timing: &handlerTimes{}}
	in := &instance{
		app:        a,
		public:     &http.Server{Handler: local.timing.wrap(a.Server.Public()), ReadHeaderTimeout: 10 * time.Second},
		admin:      &http.Server{Handler: a.Server.Admin(), ReadHeaderTimeout: 10 * time.Second},
		adminURL:   "http://" + admLn.Addr().String(),
		adminToken: a.Config.AdminToken,
		ctl:        inProcess{local},
		local:      local,
		cancel:     cancel,
		client:     &http.Client{Timeout: 30 * time.Second},
	}
	go in.public.Serve(pubLn)
	go in.admin.Serve(admLn)
	if err := in.discover(ctx, issuer); err != nil {
		in.close()
		return nil, err
	}
	return in, nil
}

// discover reads the token endpoint and the JWKS URI from discovery.
func (in *instance) discover(ctx context.Context, issuer string) error {
	var doc struct {
		TokenEndpoint         string `json:"token_endpoint"`
		JWKSURI               string `json:"jwks_uri"`
		IntrospectionEndpoint string `json:"introspection_endpoint"`
		AuthorizationEndpoint string `json:"authorization_endpoint"`
		DeviceEndpoint        string `json:"device_authorization_endpoint"`
	}
	if err := in.call(ctx, http.MethodGet, issuer+"/.well-known/oauth-authorization-server", "", nil, &doc); err != nil {
		return fmt.Errorf("discovery: %w", err)
	}
	if doc.TokenEndpoint == "" || doc.JWKSURI == "" {
		return errors.New("discovery: no token_endpoint or jwks_uri")
	}
	in.tokenURL, in.jwksURL, in.introspectURL = doc.TokenEndpoint, doc.JWKSURI, doc.IntrospectionEndpoint
	in.issuer, in.authorizeURL, in.deviceURL = issuer, doc.AuthorizationEndpoint, doc.DeviceEndpoint
	return nil
}

// close stops the listeners and the background loops and closes the
// store, or ends the child.
func (in *instance) close() {
	if in.stop != nil {
		in.stop()
		return
	}
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	in.public.Shutdown(ctx)
	in.admin.Shutdown(ctx)
	in.cancel()
	in.app.Close()
}

// call sends a JSON request (body may be nil) with an optional bearer
// token and decodes a 2xx JSON answer into out.
func (in *instance) call(ctx context.Context, method, u, bearer string, body, out any) error {
	var rd io.Reader
	if body != nil {
		raw, err := json.Marshal(body)
		if err != nil {
			return err
		}
		rd = bytes.NewReader(raw)
	}
	req, err := http.NewRequestWithContext(ctx, method, u, rd)
	if err != nil {
		return err
	}
	if body != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	if bearer != "" {
		req.Header.Set("Authorization", "Bearer "+bearer)
	}
	return in.do(req, out)
}

func (in *instance) do(req *http.Request, out any) error { return doJSON(in.client, req, out) }

// doJSON sends req with hc and decodes a 2xx answer into out (nil: the
// body is not read as JSON); any other status is an error with the body.
func doJSON(hc *http.Client, req *http.Request, out any) error {
	resp, err := hc.Do(req)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	raw, err := io.ReadAll(resp.Body)
	if err != nil {
		return err
	}
	if resp.StatusCode/100 != 2 {
		return fmt.Errorf("%s %s: %s: %s", req.Method, req.URL.Path, resp.Status, bytes.TrimSpace(raw))
	}
	if out != nil {
		if err := json.Unmarshal(raw, out); err != nil {
			return fmt.Errorf("%s %s: decode: %w", req.Method, req.URL.Path, err)
		}
	}
	return nil
}

// client is a client registered through the admin API (RFC 7591 names).
type client struct {
	ID     string `json:"client_id"`
	Secret string `json:"client_secret"`
}

// basicAuth is the Authorization header value of RFC 6749 §2.3.1
// (form-urlencoded id and secret).
func (c client) basicAuth() string {
	req, _ := http.NewRequest(http.MethodGet, "http://x", nil)
	req.SetBasicAuth(url.QueryEscape(c.ID), url.QueryEscape(c.Secret))
	return req.Header.Get("Authorization")
}

func (in *instance) createClient(ctx context.Context, meta map[string]any) (client, error) {
	var c client
	err := in.call(ctx, http.MethodPost, in.adminURL+"/admin/clients", in.adminToken, meta, &c)
	if err == nil && (c.ID == "" || c.Secret == "") {
		err = errors.New("client registration answered no client_id or client_secret")
	}
	return c, err
}

// tokenAnswer is the part of a token response the load test reads.
type tokenAnswer struct {
	AccessToken  string `json:"access_token"`
	RefreshToken string `json:"refresh_token"`
}

// token posts form to the token endpoint with Basic client authentication.
func (in *instance) token(ctx context.Context, c client, form url.Values) (tokenAnswer, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, in.tokenURL, strings.NewReader(form.Encode()))
	if err != nil {
		return tokenAnswer{}, err
	}
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	req.Header.Set("Authorization", c.basicAuth())
	var ans tokenAnswer
	err = in.do(req, &ans)
	return ans, err
}

// logins creates n users and logs each in once with the password grant
// (RFC 6749 §4.3), returning one live refresh token per login.
func (in *instance) logins(ctx context.Context, c client, n int) ([]string, error) {
	out := make([]string, 0, n)
	for i := range n {
		name := fmt.Sprintf("loadtest-user-%d", i)
		pw := "loadtest password " + name
		body := map[string]any{"username": name, "password": pw, "email": name + "@example.com", "roles": []string{"reader"}}
		if err := in.call(ctx, http.MethodPost, in.adminURL+"/admin/users", in.adminToken, body, nil); err != nil {
			return nil, fmt.Errorf("create user: %w", err)
		}
		ans, err := in.token(ctx, c, url.Values{"grant_type": {"password"}, "username": {name}, "password": {pw}})
		if err != nil {
			return nil, fmt.Errorf("login: %w", err)
		}
		if ans.RefreshToken == "" {
			return nil, errors.New("login answered no refresh token")
		}
		out = append(out, ans.RefreshToken)
	}
	return out, nil
}

// redisPrefix connects to the Redis at redisURL and returns a key prefix
// no one else uses, and a cleanup that deletes its keys. ok is false when
// Redis does not answer.
func redisPrefix(ctx context.Context, redisURL string) (prefix string, cleanup func() error, ok bool) {
	opts, err := redis.ParseURL(redisURL)
	if err != nil {
		return "", nil, false
	}
	opts.DialTimeout = time.Second
	rdb := redis.NewClient(opts)
	pctx, cancel := context.WithTimeout(ctx, 2*time.Second)
	defer cancel()
	if err := rdb.Ping(pctx).Err(); err != nil {
		rdb.Close()
		return "", nil, false
	}
	b := make([]byte, 6)
	rand.Read(b)
	prefix = "authd-loadtest-" + hex.EncodeToString(b) + ":"
	cleanup = func() error {
		defer rdb.Close()
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer cancel()
		iter := rdb.Scan(ctx, 0, prefix+"*", 1000).Iterator()
		var batch []string
		for iter.Next(ctx) {
			if batch = append(batch, iter.Val()); len(batch) == 1000 {
				if err := rdb.Unlink(ctx, batch...).Err(); err != nil {
					return err
				}
				batch = batch[:0]
			}
		}
		if err := iter.Err(); err != nil {
			return err
		}
		if len(batch) > 0 {
			return rdb.Unlink(ctx, batch...).Err()
		}
		return nil
	}
	return prefix, cleanup, true
}
