// Package cli is the authd command line: `authd serve`, `authd version` and
// the admin commands (`client`, `user`, `keys`), a thin client of the admin
// HTTP API. main only builds the root command and executes it.
package cli

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"os"
	"runtime/debug"
	"strings"
	"time"

	"github.com/spf13/cobra"

	"github.com/authd-dev/authd/internal/config"
)

// ServeFunc runs the server with cfg until ctx is cancelled and returns nil
// on a clean shutdown; logs go to out. app.Run is one.
type ServeFunc func(ctx context.Context, cfg config.Config, out io.Writer) error

// Options are the parts of the command line that tests replace.
type Options struct {
	// Serve runs the server (required for `authd serve`).
	Serve ServeFunc
	// Version is what `authd version` prints.
	Version string
	// Getenv reads the environment; nil means os.Getenv.
	Getenv func(string) string
	// HTTPClient talks to the admin API; nil means a client with
	// DefaultHTTPTimeout.
	HTTPClient *http.Client
	// DevTokenFile is read for the admin token when neither --admin-token
	// nor AUTHD_ADMIN_TOKEN is set; "" means DefaultDevTokenFile.
	DevTokenFile string
}

// Defaults of the admin client.
const (
	DefaultAdminURL    = "http://127.0.0.1:8081"
	DefaultHTTPTimeout = 30 * time.Second
)

// DefaultDevTokenFile is where `authd serve --dev` keeps its admin token
// with the default --data-dir (./data).
const DefaultDevTokenFile = "data/" + config.DevAdminTokenFile

// New builds the root `authd` command; main passes app.Run as serve.
func New(serve ServeFunc, version string) *cobra.Command {
	return NewWithOptions(Options{Serve: serve, Version: version})
}

// NewWithOptions builds the root `authd` command from opts.
func NewWithOptions(opts Options) *cobra.Command {
	if opts.Getenv == nil {
		opts.Getenv = os.Getenv
	}
	if opts.HTTPClient == nil {
		opts.HTTPClient = &http.Client{Timeout: DefaultHTTPTimeout}
	}
	if opts.DevTokenFile == "" {
		opts.DevTokenFile = DefaultDevTokenFile
	}
	root := &cobra.Command{
		Use:   "authd",
		Short: "authd is an OAuth 2.0 / OpenID Connect authorization server",
		Long: `authd is an OAuth 2.0 / OpenID Connect authorization server.

Run it with "authd serve" (try "authd serve --dev" first), and manage clients,
users and signing keys with "authd client", "authd user" and "authd keys".`,
		SilenceUsage:  true,
		SilenceErrors: true,
	}
	root.CompletionOptions.DisableDefaultCmd = true
	root.AddCommand(
		serveCmd(opts),
		versionCmd(opts),
		clientCmd(opts),
		userCmd(opts),
		keysCmd(opts),
		registrationTokenCmd(opts),
	)
	return root
}

// Execute runs root with args and ctx (cancelled on SIGINT/SIGTERM by
// main). An error is printed to stderr as one line, "error: …", and the
// exit code is 1; success is 0.
func Execute(ctx context.Context, root *cobra.Command, args []string, stderr io.Writer) int {
	root.SetArgs(args)
	if err := root.ExecuteContext(ctx); err != nil {
		fmt.Fprintln(stderr, "error: "+strings.Join(strings.Fields(err.Error()), " "))
		return 1
	}
	return 0
}

// ResolveVersion is the version to report: linked (set with -ldflags
// "-X main.version=…") if not empty, else the module version from the
// build info, else "dev".
func ResolveVersion(linked string) string {
	if linked != "" {
		return linked
	}
	if bi, ok := debug.ReadBuildInfo(); ok && bi.Main.Version != "" && bi.Main.Version != "(devel)" {
		return bi.Main.Version
	}
	return "dev"
}

func versionCmd(opts Options) *cobra.Command {
	return &cobra.Command{
		Use:   "version",
		Short: "Print the version of authd",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			_, err := fmt.Fprintln(cmd.OutOrStdout(), "authd", opts.Version)
			return err
		},
	}
}

func serveCmd(opts Options) *cobra.Command {
	cmd := &cobra.Command{
		Use:   "serve",
		Short: "Run the authorization server (public and admin listeners)",
		Long: `Run the authorization server: the public listener (--addr: token, JWKS,
discovery, authorize, …) and the admin listener (--admin-addr: /admin/…, /metrics).

Every flag has an environment twin (--foo-bar ↔ AUTHD_FOO_BAR) and a key in
the optional YAML file given by --config (e.g. "access-token-ttl: 15m").
Precedence: flag > environment > file > default. Durations use Go syntax (15m, 72h).

--admin-token and --kek are required unless --dev is set; --dev generates them
once into --data-dir and prints them. Never use --dev in production.
SIGINT/SIGTERM drain in-flight requests (up to --shutdown-timeout), then exit 0.`,
		Example: `  authd serve --dev
  AUTHD_ADMIN_TOKEN=... AUTHD_KEK=$(openssl rand -base64 32) authd serve --issuer https://auth.example.com --addr :8080`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			cfg, err := config.Load(cmd.Flags(), opts.Getenv)
			if err != nil {
				return err
			}
			if opts.Serve == nil {
				return errors.New("serve: no server linked into this binary")
			}
			return opts.Serve(cmd.Context(), cfg, cmd.OutOrStdout())
		},
	}
	cmd.Flags().SortFlags = false
	config.Register(cmd.Flags())
	return cmd
}
