// Command authd is the OAuth 2.0 / OpenID Connect authorization server and
// its admin command line. All logic lives in internal/cli and internal/app.
package main

import (
	"context"
	"os"
	"os/signal"
	"syscall"

	"github.com/authd-dev/authd/internal/app"
	"github.com/authd-dev/authd/internal/cli"
)

// version is set at link time: go build -ldflags "-X main.version=v1.2.3".
var version string

func main() {
	app.SetDefaultGC(os.Getenv) // GOGC=200 unless GOGC is set
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	code := cli.Execute(ctx, cli.New(app.Run, cli.ResolveVersion(version)), os.Args[1:], os.Stderr)
	stop()
	os.Exit(code)
}
