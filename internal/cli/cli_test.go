package cli_test

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"sync"
	"testing"
	"time"

	_ "github.com/authd-dev/authd/internal/app" // registers the store backends
	"github.com/authd-dev/authd/internal/cli"
	"github.com/authd-dev/authd/internal/config"
)

const token = "admin-token-0123456789"

// request is what the fake admin API saw.
type request struct {
	Method, Path, Auth, ContentType string
	Body                            any // decoded JSON, nil if empty
}

// fakeAdmin answers every request with status and reply and records it.
type fakeAdmin struct {
	*httptest.Server
	mu     sync.Mutex
	got    []request
	status int
	reply  string
}

func newFakeAdmin(t *testing.T) *fakeAdmin {
	f := &fakeAdmin{status: http.StatusOK, reply: "{}"}
	f.Server = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		b, _ := io.ReadAll(r.Body)
		var body any
		if len(b) > 0 {
			if err := json.Unmarshal(b, &body); err != nil {
				t.Errorf("request body is not JSON: %q", b)
			}
		}
		f.mu.Lock()
		f.got = append(f.got, request{r.Method, r.URL.EscapedPath(), r.Header.Get("Authorization"), r.Header.Get("Content-Type"), body})
		status, reply := f.status, f.reply
		f.mu.Unlock()
		if status != http.StatusNoContent {
			w.Header().Set("Content-Type", "application/json")
		}
		w.WriteHeader(status)
		if status != http.StatusNoContent {
			io.WriteString(w, reply+"\n")
		}
	}))
	t.Cleanup(f.Close)
	return f
}

func (f *fakeAdmin) answer(status int, reply string) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.status, f.reply = status, reply
}

func (f *fakeAdmin) requests() []request {
	f.mu.Lock()
	defer f.mu.Unlock()
	return append([]request(nil), f.got...)
}

type result struct {
	stdout, stderr string
	code           int
}

// run executes the root command with env as the whole environment.
func run(t *testing.T, opts cli.Options, env map[string]string, stdin string, args ...string) result {
	t.Helper()
	opts.Getenv = func(k string) string { return env[k] }
	if opts.DevTokenFile == "" {
		opts.DevTokenFile = filepath.Join(t.TempDir(), "no-dev-token")
	}
	root := cli.NewWithOptions(opts)
	var out, errOut bytes.Buffer
	root.SetOut(&out)
	root.SetErr(&errOut)
	root.SetIn(strings.NewReader(stdin))
	code := cli.Execute(context.Background(), root, args, &errOut)
	return result{out.String(), errOut.String(), code}
}

func jsonValue(t *testing.T, s string) any {
	t.Helper()
	if s == "" {
		return nil
	}
	var v any
	if err := json.Unmarshal([]byte(s), &v); err != nil {
		t.Fatalf("bad JSON in test: %q: %v", s, err)
	}
	return v
}

func TestAdminCommands(t *testing.T) {
	tests := []struct {
		name        string
		args        []string
		stdin       string
		wantMethod  string
		wantPath    string
		wantBody    string // JSON; "" means no body
		status      int
		reply       string
		wantStdout  string // "" means the pretty-printed reply
		wantStderr  string
		wantNoReply bool
	}{
		{
			name: "client create",
			args: []string{"client", "create", "--name", "web", "--grant-type", "authorization_code", "--grant-type", "refresh_token",
				"--redirect-uri", "https://app.example.com/cb?a=1,2", "--redirect-uri", "http://127.0.0.1/cb",
				"--scope", "openid profile", "--scope", "api:read", "--audience", "https://api.example.com", "--audience", "urn:b",
				"--auth-method", "client_secret_post", "--signing-alg", "ES256", "--skip-consent", "--require-par", "--client-id", "web-1"},
			wantMethod: "POST", wantPath: "/admin/clients",
			wantBody: `{"client_name":"web","grant_types":["authorization_code","refresh_token"],
				"redirect_uris":["https://app.example.com/cb?a=1,2","http://127.0.0.1/cb"],"scope":"openid profile api:read",
				"audience":["https://api.example.com","urn:b"],"token_endpoint_auth_method":"client_secret_post",
				"access_token_signing_alg":"ES256","skip_consent":true,"require_pushed_authorization_requests":true,"client_id":"web-1"}`,
			status: 201, reply: `{"client_id":"web-1","client_secret":"s3cret","client_id_issued_at":1700000000}`,
		},
		{
			name: "client create minimal leaves defaults to the server",
			args: []string{"client", "create", "--name", "svc"}, wantMethod: "POST", wantPath: "/admin/clients",
			wantBody: `{"client_name":"svc"}`, status: 201, reply: `{"client_id":"x","client_secret":"y"}`,
		},
		{name: "registration-token create", args: []string{"registration-token", "create", "--expires-in", "2h", "--uses", "5"},
			wantMethod: "POST", wantPath: "/admin/registration-tokens", wantBody: `{"expires_in":7200,"uses":5}`,
			status: 201, reply: `{"token":"t0k","expires_at":1700007200,"uses":5}`},
		{name: "registration-token create leaves defaults to the server", args: []string{"registration-token", "create"},
			wantMethod: "POST", wantPath: "/admin/registration-tokens", wantBody: `{}`,
			status: 201, reply: `{"token":"t0k","expires_at":1700086400,"uses":1}`},
		{name: "registration-token list", args: []string{"registration-token", "list"}, wantMethod: "GET", wantPath: "/admin/registration-tokens",
			reply: `{"tokens":[{"id":"ab12","expires_at":1700086400,"uses":2,"created_at":1700000000}]}`},
		{name: "registration-token delete", args: []string{"registration-token", "delete", "ab12"}, wantMethod: "DELETE", wantPath: "/admin/registration-tokens/ab12",
			status: 204, wantStdout: "", wantStderr: "registration token ab12 deleted\n", wantNoReply: true},
		{name: "client list", args: []string{"client", "list"}, wantMethod: "GET", wantPath: "/admin/clients", reply: `{"clients":[]}`},
		{name: "client get escapes the id", args: []string{"client", "get", "a/b c"}, wantMethod: "GET", wantPath: "/admin/clients/a%2Fb%20c", reply: `{"client_id":"a/b c"}`},
		{name: "client delete", args: []string{"client", "delete", "web-1"}, wantMethod: "DELETE", wantPath: "/admin/clients/web-1",
			status: 204, wantStdout: "", wantStderr: "client web-1 deleted\n", wantNoReply: true},
		{name: "client rotate-secret", args: []string{"client", "rotate-secret", "web-1"}, wantMethod: "POST", wantPath: "/admin/clients/web-1/secret",
			reply: `{"client_id":"web-1","client_secret":"new"}`},
		{
			name:       "user create",
			args:       []string{"user", "create", "--username", "alice", "--password", "pw 1", "--email", "a@example.com", "--role", "admin", "--role", "dev"},
			wantMethod: "POST", wantPath: "/admin/users",
			wantBody: `{"username":"alice","password":"pw 1","email":"a@example.com","roles":["admin","dev"]}`,
			status:   201, reply: `{"id":"u1","username":"alice","email":"a@example.com","roles":["admin","dev"],"created_at":"2025-01-01T00:00:00Z"}`,
		},
		{
			name: "user create with profile fields",
			args: []string{"user", "create", "--username", "cleo", "--password", "pw", "--name", "Cleo Ray", "--given-name", "Cleo",
				"--family-name", "Ray", "--email", "c@example.com", "--email-verified", "--phone-number", "+1 425 555 1212", "--locale", "en-US"},
			wantMethod: "POST", wantPath: "/admin/users",
			wantBody: `{"username":"cleo","password":"pw","email":"c@example.com","name":"Cleo Ray","given_name":"Cleo","family_name":"Ray","email_verified":true,"phone_number":"+1 425 555 1212","locale":"en-US"}`,
			status:   201, reply: `{"id":"u3"}`,
		},
		{
			name: "user create --password-stdin", args: []string{"user", "create", "--username", "bob", "--password-stdin"}, stdin: " spaced pw \r\n",
			wantMethod: "POST", wantPath: "/admin/users", wantBody: `{"username":"bob","password":" spaced pw "}`, status: 201, reply: `{"id":"u2"}`,
		},
		{name: "user list", args: []string{"user", "list"}, wantMethod: "GET", wantPath: "/admin/users", reply: `{"users":[]}`},
		{name: "user get", args: []string{"user", "get", "u1"}, wantMethod: "GET", wantPath: "/admin/users/u1", reply: `{"id":"u1"}`},
		{name: "user delete", args: []string{"user", "delete", "u1"}, wantMethod: "DELETE", wantPath: "/admin/users/u1",
			status: 204, wantStderr: "user u1 deleted\n", wantNoReply: true},
		{name: "user revoke", args: []string{"user", "revoke", "u1"}, wantMethod: "POST", wantPath: "/admin/users/u1/revoke",
			status: 204, wantStderr: "tokens of user u1 revoked\n", wantNoReply: true},
		{name: "keys list", args: []string{"keys", "list"}, wantMethod: "GET", wantPath: "/admin/keys", reply: `{"keys":[{"kid":"k1","alg":"RS256","state":"active"}]}`},
		{name: "keys rotate", args: []string{"keys", "rotate", "--alg", "ES256"}, wantMethod: "POST", wantPath: "/admin/keys/rotate",
			wantBody: `{"alg":"ES256"}`, reply: `{"kid":"k2","alg":"ES256","state":"active"}`},
		{name: "keys rotate default alg", args: []string{"keys", "rotate"}, wantMethod: "POST", wantPath: "/admin/keys/rotate",
			wantBody: `{"alg":"RS256"}`, reply: `{"kid":"k3"}`},
		{name: "keys delete", args: []string{"keys", "delete", "k1"}, wantMethod: "DELETE", wantPath: "/admin/keys/k1",
			status: 204, wantStderr: "key k1 deleted\n", wantNoReply: true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			api := newFakeAdmin(t)
			if tt.status == 0 {
				tt.status = 200
			}
			api.answer(tt.status, tt.reply)
			args := append(tt.args, "--admin-url", api.URL, "--admin-token", token)
			res := run(t, cli.Options{Version: "test"}, nil, tt.stdin, args...)
			if res.code != 0 {
				t.Fatalf("exit %d, stderr %q", res.code, res.stderr)
			}
			got := api.requests()
			if len(got) != 1 {
				t.Fatalf("%d requests, want 1: %+v", len(got), got)
			}
			r := got[0]
			if r.Method != tt.wantMethod || r.Path != tt.wantPath || r.Auth != "Bearer "+token {
				t.Errorf("sent %s %s (Authorization %q), want %s %s with the bearer token", r.Method, r.Path, r.Auth, tt.wantMethod, tt.wantPath)
			}
			if want := jsonValue(t, tt.wantBody); !reflect.DeepEqual(r.Body, want) {
				t.Errorf("body %v, want %v", r.Body, want)
			}
			if tt.wantBody != "" && r.ContentType != "application/json" {
				t.Errorf("Content-Type %q", r.ContentType)
			}
			wantOut := tt.wantStdout
			if !tt.wantNoReply {
				var b bytes.Buffer
				json.Indent(&b, []byte(tt.reply), "", "  ")
				wantOut = b.String() + "\n"
			}
			if res.stdout != wantOut {
				t.Errorf("stdout %q, want %q", res.stdout, wantOut)
			}
			if res.stderr != tt.wantStderr {
				t.Errorf("stderr %q, want %q", res.stderr, tt.wantStderr)
			}
		})
	}
}

func TestAdminErrors(t *testing.T) {
	tests := []struct {
		name   string
		status int
		reply  string
		want   string
	}{
		{"oauth error", 400, `{"error":"invalid_request","error_description":"malformed redirect URI"}`, "error: invalid_request: malformed redirect URI\n"},
		{"unauthorized", 401, `{"error":"invalid_token","error_description":"a valid admin bearer token is required"}`, "error: invalid_token: a valid admin bearer token is required\n"},
		{"no description", 404, `{"error":"not_found"}`, "error: not_found\n"},
		{"not JSON", 502, `<html>bad gateway</html>`, "error: HTTP 502: Bad Gateway\n"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			api := newFakeAdmin(t)
			api.answer(tt.status, tt.reply)
			res := run(t, cli.Options{}, map[string]string{"AUTHD_ADMIN_URL": api.URL, "AUTHD_ADMIN_TOKEN": token}, "", "client", "get", "x")
			if res.code == 0 || res.stderr != tt.want || res.stdout != "" {
				t.Errorf("exit %d, stdout %q, stderr %q; want non-zero and %q", res.code, res.stdout, res.stderr, tt.want)
			}
		})
	}
	t.Run("APIError", func(t *testing.T) {
		api := newFakeAdmin(t)
		api.answer(409, `{"error":"conflict","error_description":"username taken"}`)
		root := cli.NewWithOptions(cli.Options{Getenv: func(string) string { return "" }})
		root.SetArgs([]string{"user", "create", "--username", "a", "--password", "p", "--admin-url", api.URL, "--admin-token", token})
		root.SetOut(io.Discard)
		var apiErr *cli.APIError
		if err := root.Execute(); !errors.As(err, &apiErr) || apiErr.Status != 409 || apiErr.Code != "conflict" {
			t.Errorf("err = %v, want *APIError 409 conflict", err)
		}
	})
	t.Run("unreachable", func(t *testing.T) {
		api := newFakeAdmin(t)
		api.Close()
		res := run(t, cli.Options{}, nil, "", "keys", "list", "--admin-url", api.URL, "--admin-token", token)
		if res.code == 0 || !strings.HasPrefix(res.stderr, "error: admin API: ") || strings.Count(res.stderr, "\n") != 1 {
			t.Errorf("exit %d, stderr %q", res.code, res.stderr)
		}
	})
}

func TestAdminTokenAndURLResolution(t *testing.T) {
	api := newFakeAdmin(t)
	devFile := filepath.Join(t.TempDir(), "dev-admin-token")
	if err := os.WriteFile(devFile, []byte("from-dev-file-0123456\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name      string
		env       map[string]string
		args      []string
		devFile   string
		wantAuth  string
		wantError string
	}{
		{"flag beats env", map[string]string{"AUTHD_ADMIN_TOKEN": "env-token"}, []string{"--admin-token", "flag-token"}, devFile, "Bearer flag-token", ""},
		{"env beats dev file", map[string]string{"AUTHD_ADMIN_TOKEN": "env-token"}, nil, devFile, "Bearer env-token", ""},
		{"dev file as fallback", nil, nil, devFile, "Bearer from-dev-file-0123456", ""},
		{"nothing", nil, nil, "", "", "error: --admin-token is required (or AUTHD_ADMIN_TOKEN; in dev mode ./data/dev-admin-token is read if it exists)\n"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			env := map[string]string{"AUTHD_ADMIN_URL": api.URL}
			for k, v := range tt.env {
				env[k] = v
			}
			before := len(api.requests())
			res := run(t, cli.Options{DevTokenFile: tt.devFile}, env, "", append([]string{"keys", "list"}, tt.args...)...)
			if tt.wantError != "" {
				if res.code == 0 || res.stderr != tt.wantError || len(api.requests()) != before {
					t.Errorf("exit %d, stderr %q; want %q and no request", res.code, res.stderr, tt.wantError)
				}
				return
			}
			got := api.requests()
			if res.code != 0 || len(got) != before+1 || got[before].Auth != tt.wantAuth {
				t.Errorf("exit %d (%s), auth %+v, want %q", res.code, res.stderr, got, tt.wantAuth)
			}
		})
	}
	t.Run("admin-url flag beats env", func(t *testing.T) {
		other := newFakeAdmin(t)
		res := run(t, cli.Options{}, map[string]string{"AUTHD_ADMIN_URL": api.URL, "AUTHD_ADMIN_TOKEN": token}, "", "keys", "list", "--admin-url", other.URL+"/")
		if res.code != 0 || len(other.requests()) != 1 || other.requests()[0].Path != "/admin/keys" {
			t.Errorf("exit %d (%s): flag URL not used: %+v", res.code, res.stderr, other.requests())
		}
	})
	t.Run("bad admin-url", func(t *testing.T) {
		res := run(t, cli.Options{}, map[string]string{"AUTHD_ADMIN_URL": "127.0.0.1:8081", "AUTHD_ADMIN_TOKEN": token}, "", "keys", "list")
		if res.code == 0 || !strings.HasPrefix(res.stderr, "error: --admin-url: ") {
			t.Errorf("exit %d, stderr %q", res.code, res.stderr)
		}
	})
}

func TestTableOutput(t *testing.T) {
	tests := []struct {
		args  []string
		reply string
		want  []string // whitespace-normalised lines
	}{
		{[]string{"client", "list"},
			`{"clients":[{"client_id":"web","client_name":"Web App","grant_types":["authorization_code","refresh_token"],"token_endpoint_auth_method":"none","scope":"openid profile","client_id_issued_at":1700000000}]}`,
			[]string{"CLIENT_ID NAME GRANT_TYPES AUTH_METHOD SCOPE AUDIENCE", "web Web App authorization_code,refresh_token none openid profile -"}},
		{[]string{"user", "list"},
			`{"users":[{"id":"u1","username":"alice","roles":["admin"],"created_at":"2025-01-01T00:00:00Z"},{"id":"u2","username":"bob","email":"b@x","roles":[],"created_at":"2025-01-02T00:00:00Z"}]}`,
			[]string{"ID USERNAME EMAIL ROLES CREATED_AT", "u1 alice - admin 2025-01-01T00:00:00Z", "u2 bob b@x - 2025-01-02T00:00:00Z"}},
		{[]string{"keys", "list"},
			`{"keys":[{"kid":"k1","alg":"ES256","state":"next","created_at":"2025-01-01T00:00:00Z","activated_at":null}]}`,
			[]string{"KID ALG STATE CREATED_AT ACTIVATED_AT RETIRED_AT EXPIRES_AT", "k1 ES256 next 2025-01-01T00:00:00Z - - -"}},
		{[]string{"keys", "list"}, `{"keys":[]}`, []string{"KID ALG STATE CREATED_AT ACTIVATED_AT RETIRED_AT EXPIRES_AT"}},
	}
	for _, tt := range tests {
		t.Run(strings.Join(tt.args, " "), func(t *testing.T) {
			api := newFakeAdmin(t)
			api.answer(200, tt.reply)
			res := run(t, cli.Options{}, map[string]string{"AUTHD_ADMIN_URL": api.URL, "AUTHD_ADMIN_TOKEN": token}, "", append(tt.args, "-o", "table")...)
			if res.code != 0 {
				t.Fatalf("exit %d: %s", res.code, res.stderr)
			}
			var lines []string
			for l := range strings.Lines(res.stdout) {
				lines = append(lines, strings.Join(strings.Fields(l), " "))
			}
			if !reflect.DeepEqual(lines, tt.want) {
				t.Errorf("table:\n%s\nwant lines %q", res.stdout, tt.want)
			}
		})
	}
	t.Run("columns are aligned", func(t *testing.T) {
		api := newFakeAdmin(t)
		api.answer(200, `{"users":[{"id":"u-long-id","username":"a"},{"id":"u2","username":"b"}]}`)
		res := run(t, cli.Options{}, map[string]string{"AUTHD_ADMIN_URL": api.URL, "AUTHD_ADMIN_TOKEN": token}, "", "user", "list", "-o", "table")
		lines := strings.Split(res.stdout, "\n")
		if len(lines) < 3 || strings.Index(lines[1], "a ") != strings.Index(lines[2], "b ") || strings.Index(lines[0], "USERNAME") != strings.Index(lines[1], "a ") {
			t.Errorf("not aligned:\n%s", res.stdout)
		}
	})
}

func TestCommandLineMistakes(t *testing.T) {
	api := newFakeAdmin(t)
	env := map[string]string{"AUTHD_ADMIN_URL": api.URL, "AUTHD_ADMIN_TOKEN": token}
	tests := []struct {
		args  []string
		stdin string
		want  string
	}{
		{[]string{"client", "get", "x", "-o", "table"}, "", "error: --output: table is only available for list commands\n"},
		{[]string{"client", "list", "-o", "yaml"}, "", `error: --output: unknown format "yaml" (json or table)` + "\n"},
		{[]string{"user", "create", "--username", "a"}, "", "error: --password or --password-stdin is required\n"},
		{[]string{"user", "create", "--username", "a", "--password", "p", "--password-stdin"}, "p\n", "error: --password and --password-stdin are exclusive\n"},
		{[]string{"user", "create", "--username", "a", "--password-stdin"}, "\n", "error: --password or --password-stdin is required\n"},
		{[]string{"user", "create", "--password", "p"}, "", "error: --username is required\n"},
		{[]string{"client", "get"}, "", "error: accepts 1 arg(s), received 0\n"},
		{[]string{"client", "create", "--jwks", "/nonexistent/jwks.json"}, "", "error: --jwks: open /nonexistent/jwks.json: no such file or directory\n"},
		{[]string{"client", "create", "--bogus"}, "", "error: unknown flag: --bogus\n"},
		{[]string{"frobnicate"}, "", `error: unknown command "frobnicate" for "authd"` + "\n"},
	}
	for _, tt := range tests {
		t.Run(strings.Join(tt.args, " "), func(t *testing.T) {
			res := run(t, cli.Options{}, env, tt.stdin, tt.args...)
			if res.code == 0 || res.stderr != tt.want {
				t.Errorf("exit %d, stderr %q, want %q", res.code, res.stderr, tt.want)
			}
		})
	}
	if n := len(api.requests()); n != 0 {
		t.Errorf("%d requests sent for invalid command lines", n)
	}
}

func TestServe(t *testing.T) {
	type key struct{}
	dir := t.TempDir()
	var got config.Config
	var gotCtx context.Context
	calls := 0
	serve := func(ctx context.Context, cfg config.Config, out io.Writer) error {
		calls++
		got, gotCtx = cfg, ctx
		io.WriteString(out, "serving\n")
		return nil
	}
	root := cli.NewWithOptions(cli.Options{Serve: serve, Getenv: func(k string) string {
		return map[string]string{"AUTHD_KEK": "BwcHBwcHBwcHBwcHBwcHBwcHBwcHBwcHBwcHBwcHBwc=", "AUTHD_ID_TOKEN_TTL": "2h"}[k]
	}})
	var out, errOut bytes.Buffer
	root.SetOut(&out)
	ctx := context.WithValue(context.Background(), key{}, "ctx")
	code := cli.Execute(ctx, root, []string{"serve", "--admin-token", token, "--access-token-ttl", "5m", "--data-dir", dir, "--issuer", "https://auth.example.com/"}, &errOut)
	if code != 0 || calls != 1 {
		t.Fatalf("exit %d, %d serve calls, stderr %q", code, calls, errOut.String())
	}
	if got.AdminToken != token || got.AccessTokenTTL != 5*time.Minute || got.IDTokenTTL != 2*time.Hour ||
		got.Issuer != "https://auth.example.com" || got.DataDir != dir || len(got.KEK) != 32 || got.Store != "bolt" {
		t.Errorf("serve got %+v", got)
	}
	if gotCtx.Value(key{}) != "ctx" {
		t.Error("serve did not get the context given to Execute")
	}
	if out.String() != "serving\n" {
		t.Errorf("serve output %q went elsewhere", out.String())
	}

	t.Run("config error stops before serve", func(t *testing.T) {
		calls = 0
		res := run(t, cli.Options{Serve: serve}, nil, "", "serve", "--kek", "BwcHBwcHBwcHBwcHBwcHBwcHBwcHBwcHBwcHBwcHBwc=")
		if res.code == 0 || res.stderr != "error: --admin-token is required (or use --dev)\n" || calls != 0 {
			t.Errorf("exit %d, stderr %q, %d serve calls", res.code, res.stderr, calls)
		}
		res = run(t, cli.Options{Serve: serve}, nil, "", "serve", "--access-token-ttl", "15x")
		if res.code == 0 || !strings.HasPrefix(res.stderr, `error: --access-token-ttl: invalid duration "15x"`) || calls != 0 {
			t.Errorf("exit %d, stderr %q, %d serve calls", res.code, res.stderr, calls)
		}
	})
	t.Run("serve error", func(t *testing.T) {
		failing := func(context.Context, config.Config, io.Writer) error {
			return errors.New("--addr: listen tcp: address in use")
		}
		res := run(t, cli.Options{Serve: failing}, map[string]string{"AUTHD_ADMIN_TOKEN": token, "AUTHD_KEK": "BwcHBwcHBwcHBwcHBwcHBwcHBwcHBwcHBwcHBwcHBwc="}, "", "serve")
		if res.code != 1 || res.stderr != "error: --addr: listen tcp: address in use\n" {
			t.Errorf("exit %d, stderr %q", res.code, res.stderr)
		}
	})
	t.Run("help lists settings with env twins", func(t *testing.T) {
		res := run(t, cli.Options{}, nil, "", "serve", "--help")
		for _, want := range []string{"--access-token-ttl duration", "AUTHD_ACCESS_TOKEN_TTL", "--config", "--dev", "flag > environment > file > default"} {
			if !strings.Contains(res.stdout, want) {
				t.Errorf("serve --help lacks %q", want)
			}
		}
	})
}

// TestAdminHelpNamesValueTypes guards the admin commands' --help: a
// backquoted phrase in a usage string becomes pflag's value name, which
// printed "--admin-token authd serve --dev".
func TestAdminHelpNamesValueTypes(t *testing.T) {
	res := run(t, cli.Options{}, nil, "", "client", "create", "--help")
	for _, want := range []string{"--admin-token string", "--admin-url string"} {
		if !strings.Contains(res.stdout, want) {
			t.Errorf("client create --help lacks %q:\n%s", want, res.stdout)
		}
	}
}

func TestVersion(t *testing.T) {
	res := run(t, cli.Options{Version: "v1.2.3"}, nil, "", "version")
	if res.code != 0 || res.stdout != "authd v1.2.3\n" {
		t.Errorf("exit %d, stdout %q", res.code, res.stdout)
	}
	if v := cli.ResolveVersion("v9"); v != "v9" {
		t.Errorf("ResolveVersion(linked) = %q", v)
	}
	if v := cli.ResolveVersion(""); v == "" {
		t.Error("ResolveVersion(\"\") is empty")
	}
}
