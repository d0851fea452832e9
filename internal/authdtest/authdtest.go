// Package authdtest runs a real authd in-process for tests outside
// internal/app: the example resource server's test and the verification
// recipes of docs/verifying-tokens.md. It is the same wiring `authd serve`
// uses (config parsed from flags, app.New, the public and admin handlers)
// on loopback listeners, with a bolt store in a temporary directory.
package authdtest

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/spf13/pflag"

	"github.com/authd-dev/authd/internal/app"
	"github.com/authd-dev/authd/internal/config"
	"github.com/authd-dev/authd/server"
	"github.com/authd-dev/authd/users"
)

// cheapArgon2 keeps password hashing fast in tests.
var cheapArgon2 = &users.Argon2id{Time: 1, MemoryKiB: 64, Threads: 1, KeyLen: 32, SaltLen: 16}

// Server is one running authd.
type Server struct {
	// Issuer is the issuer URL, which is also the public listener's base.
	Issuer string
	// AdminURL is the base of the admin listener.
	AdminURL string
	// AdminToken is the bearer token of the admin API.
	AdminToken string

	t testing.TB
}

// Client is a registered client and its secret.
type Client struct {
	ID     string `json:"client_id"`
	Secret string `json:"client_secret"`
}

// Start runs an authd in dev mode on the bolt store in a fresh temporary
// directory; extra are more `authd serve` flags. It stops when the test
// ends.
func Start(t testing.TB, extra ...string) *Server {
	t.Helper()
	return StartWithClock(t, nil, extra...)
}

// StartWithClock is Start with authd's clock injected (nil: the real
// one); a test that needs an expired token issues it while the clock is
// in the past.
func StartWithClock(t testing.TB, now func() time.Time, extra ...string) *Server {
	t.Helper()
	pubLn, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	admLn, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	issuer := "http://" + pubLn.Addr().String()
	args := append([]string{"--dev", "--store", "bolt", "--data-dir", t.TempDir(), "--issuer", issuer, "--log-level", "warn"}, extra...)
	fs := pflag.NewFlagSet("serve", pflag.ContinueOnError)
	config.Register(fs)
	if err := fs.Parse(args); err != nil {
		t.Fatalf("authdtest: flags: %v", err)
	}
	cfg, err := config.Load(fs, func(string) string { return "" })
	if err != nil {
		t.Fatalf("authdtest: config: %v", err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	a, err := app.New(ctx, cfg, app.Options{Logger: slog.New(slog.DiscardHandler), Argon2: cheapArgon2, Now: now})
	if err != nil {
		cancel()
		t.Fatalf("authdtest: app.New: %v", err)
	}
	ran := make(chan struct{})
	go func() { defer close(ran); _ = a.Run(ctx) }()
	pub := &http.Server{Handler: a.Server.Public()}
	adm := &http.Server{Handler: a.Server.Admin()}
	go func() { _ = pub.Serve(pubLn) }()
	go func() { _ = adm.Serve(admLn) }()
	t.Cleanup(func() {
		cancel()
		_ = pub.Close() // also ends long-lived feed streams
		_ = adm.Close()
		<-ran
		_ = a.Close()
	})
	return &Server{Issuer: issuer, AdminURL: "http://" + admLn.Addr().String(), AdminToken: cfg.AdminToken, t: t}
}

// CreateClient registers a client through the admin API (RFC 7591
// metadata, see docs/admin-api.md).
func (s *Server) CreateClient(meta map[string]any) Client {
	s.t.Helper()
	var c Client
	s.admin(http.MethodPost, "/admin/clients", meta, &c)
	if c.ID == "" || c.Secret == "" {
		s.t.Fatalf("authdtest: client registration returned no id or secret")
	}
	return c
}

// CreateUser creates a user with roles and returns its id (the sub of its
// tokens).
func (s *Server) CreateUser(username, password string, roles ...string) string {
	s.t.Helper()
	var u struct {
		ID string `json:"id"`
	}
	s.admin(http.MethodPost, "/admin/users", map[string]any{"username": username, "password": password, "roles": roles}, &u)
	return u.ID
}

// Token asks the token endpoint for an access token with form (grant_type
// and the rest), authenticating as c (HTTP Basic), and fails the test
// unless it gets one.
func (s *Server) Token(c Client, form url.Values) string {
	s.t.Helper()
	var tr struct {
		AccessToken string `json:"access_token"`
	}
	st, raw := s.post(c, server.PathToken, form)
	if st != http.StatusOK {
		s.t.Fatalf("authdtest: token endpoint: %d %s", st, raw)
	}
	if err := json.Unmarshal(raw, &tr); err != nil || tr.AccessToken == "" {
		s.t.Fatalf("authdtest: token response %s: %v", raw, err)
	}
	return tr.AccessToken
}

// Revoke revokes an access token at the revocation endpoint (RFC 7009)
// as client c.
func (s *Server) Revoke(c Client, token string) {
	s.t.Helper()
	st, raw := s.post(c, server.PathRevoke, url.Values{"token": {token}, "token_type_hint": {"access_token"}})
	if st != http.StatusOK {
		s.t.Fatalf("authdtest: revoke: %d %s", st, raw)
	}
}

func (s *Server) post(c Client, path string, form url.Values) (int, []byte) {
	s.t.Helper()
	req, err := http.NewRequest(http.MethodPost, s.Issuer+path, strings.NewReader(form.Encode()))
	if err != nil {
		s.t.Fatal(err)
	}
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	req.SetBasicAuth(url.QueryEscape(c.ID), url.QueryEscape(c.Secret)) // RFC 6749 §2.3.1
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		s.t.Fatalf("authdtest: POST %s: %v", path, err)
	}
	defer resp.Body.Close()
	raw, _ := io.ReadAll(io.LimitReader(resp.Body, 1<<20))
	return resp.StatusCode, raw
}

func (s *Server) admin(method, path string, body, out any) {
	s.t.Helper()
	raw, err := json.Marshal(body)
	if err != nil {
		s.t.Fatal(err)
	}
	req, err := http.NewRequest(method, s.AdminURL+path, bytes.NewReader(raw))
	if err != nil {
		s.t.Fatal(err)
	}
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("Authorization", "Bearer "+s.AdminToken)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		s.t.Fatalf("authdtest: %s %s: %v", method, path, err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(io.LimitReader(resp.Body, 1<<20))
	if resp.StatusCode != http.StatusCreated && resp.StatusCode != http.StatusOK {
		s.t.Fatalf("authdtest: %s %s: %d %s", method, path, resp.StatusCode, b)
	}
	if err := json.Unmarshal(b, out); err != nil {
		s.t.Fatalf("authdtest: %s %s: %v", method, path, err)
	}
}
