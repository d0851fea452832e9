// Command loadtest measures authd on loopback in one run: it starts authd
// in a child process (bolt in a temp dir, and Redis when one answers;
// -in-process: in this one), drives
// it with vegeta at the maximum rate a fixed number of workers sustains,
// compares the token rates with bare go-jose signing on the same cores,
// and prints one table. `make bench` runs it after the Go benchmarks.
//
//	go run ./internal/loadtest [-workers 16] [-duration 5s] [-cpuprofile FILE] [-open-layout both]
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/signal"
	"syscall"

	"github.com/authd-dev/authd/internal/app"
)

func main() {
	// The GC setting `authd serve` runs with (GOGC=200 unless GOGC is
	// set), in the load generator and in a server child alike.
	app.SetDefaultGC(os.Getenv)
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	if os.Getenv(serveEnv) == "1" { // a server child (child.go)
		if err := serveChild(ctx, os.Args[1:], os.Stdin, os.Stdout); err != nil {
			fmt.Fprintln(os.Stderr, "loadtest server child:", err)
			os.Exit(1)
		}
		return
	}
	if err := run(ctx, os.Args[1:], os.Stdout, os.Stderr); err != nil {
		if !errors.Is(err, flag.ErrHelp) {
			fmt.Fprintln(os.Stderr, "loadtest:", err)
		}
		os.Exit(1)
	}
}

// run parses args, runs the load test and writes the report to stdout;
// authd's own warnings go to stderr.
func run(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	o, err := parseFlags(args, stderr)
	if err != nil {
		return err
	}
	return loadTest(ctx, o, stdout, stderr)
}
