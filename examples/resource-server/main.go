// Command resource-server is an example API that checks authd access
// tokens locally with the verifier package and follows authd's revocation
// feed. See README.md for running it against `make run`.
//
// Settings (flag, or its environment twin):
//
//	--addr           RS_ADDR            listen address (default 127.0.0.1:9090)
//	--issuer         RS_ISSUER          authd's issuer (default http://127.0.0.1:8080)
//	--audience       RS_AUDIENCE        the "aud" this API answers to (default: the issuer, authd's default audience)
//	--client-id      RS_CLIENT_ID       confidential client for the revocation feed (default authd-dev, the dev client of `make run`)
//	--client-secret  RS_CLIENT_SECRET   its secret (required; with `make run`: the contents of data/dev-client-secret)
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"os"
	"os/signal"
	"syscall"
	"time"

	"github.com/authd-dev/authd/verifier"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	if err := run(ctx, os.Args[1:], os.Getenv, os.Stderr, nil); err != nil {
		fmt.Fprintln(os.Stderr, "resource-server:", err)
		os.Exit(1)
	}
}

// settings are the example's configuration.
type settings struct {
	addr, issuer, audience, clientID, clientSecret string
}

// parse reads flags, falling back to the RS_* environment variables.
func parse(args []string, getenv func(string) string) (settings, error) {
	env := func(k, def string) string {
		if v := getenv(k); v != "" {
			return v
		}
		return def
	}
	var s settings
	fs := flag.NewFlagSet("resource-server", flag.ContinueOnError)
	fs.StringVar(&s.addr, "addr", env("RS_ADDR", "127.0.0.1:9090"), "listen address (RS_ADDR)")
	fs.StringVar(&s.issuer, "issuer", env("RS_ISSUER", "http://127.0.0.1:8080"), "authd's issuer URL (RS_ISSUER)")
	fs.StringVar(&s.audience, "audience", env("RS_AUDIENCE", ""), "audience of this API (RS_AUDIENCE; default: the issuer)")
	fs.StringVar(&s.clientID, "client-id", env("RS_CLIENT_ID", "authd-dev"), "confidential client that reads the revocation feed (RS_CLIENT_ID)")
	fs.StringVar(&s.clientSecret, "client-secret", env("RS_CLIENT_SECRET", ""), "its secret (RS_CLIENT_SECRET)")
	if err := fs.Parse(args); err != nil {
		return s, err
	}
	if s.audience == "" {
		s.audience = s.issuer
	}
	if s.clientSecret == "" {
		return s, errors.New("--client-secret (or RS_CLIENT_SECRET) is required to follow the revocation feed; with `make run` it is in data/dev-client-secret")
	}
	return s, nil
}

// run serves the example API until ctx ends. If ready is non-nil it
// receives the listener's address once the server accepts connections.
func run(ctx context.Context, args []string, getenv func(string) string, logOut io.Writer, ready chan<- string) error {
	s, err := parse(args, getenv)
	if err != nil {
		return err
	}
	log := slog.New(slog.NewTextHandler(logOut, nil))
	newCtx, cancel := context.WithTimeout(ctx, 15*time.Second)
	defer cancel()
	v, err := verifier.New(newCtx, s.issuer,
		verifier.WithAudience(s.audience),
		verifier.WithRevocationFeed(s.clientID, s.clientSecret),
		verifier.WithLogger(log),
	)
	if err != nil {
		return err
	}
	defer v.Close()

	ln, err := net.Listen("tcp", s.addr)
	if err != nil {
		return err
	}
	srv := &http.Server{Handler: newHandler(v), ReadHeaderTimeout: 10 * time.Second}
	log.Info("resource server listening", "addr", "http://"+ln.Addr().String(), "issuer", s.issuer, "audience", s.audience)
	if ready != nil {
		ready <- ln.Addr().String()
	}
	errc := make(chan error, 1)
	go func() { errc <- srv.Serve(ln) }()
	select {
	case err := <-errc:
		return err
	case <-ctx.Done():
	}
	shut, cancelShut := context.WithTimeout(context.WithoutCancel(ctx), 5*time.Second)
	defer cancelShut()
	return srv.Shutdown(shut)
}
