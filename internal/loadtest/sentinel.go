package main

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/authd-dev/authd/internal/redistest"
)

// sentinelScenarios (flag -sentinel) starts a private Redis Sentinel
// deployment (a primary, its replica and three Sentinels, as the app's
// failover test does through internal/redistest) and measures refresh
// rotation through it twice in the same run: with the durable rotation
// (--redis-wait-replicas 1: every rotation waits for the replica's
// acknowledgement, WAIT) and with the plain one (off).
func sentinelScenarios(ctx context.Context, o options, rep *report, dir string, logger *slog.Logger, stderr io.Writer) (err error) {
	tb := &runTB{dir: dir}
	defer tb.cleanup()
	var sen *redistest.Sentinel
	if err := tb.do(func() { sen = redistest.NewSentinel(tb) }); err != nil {
		return fmt.Errorf("start Redis Sentinel: %w", err)
	}
	var plain outcome
	for _, wait := range []string{"off", "1"} {
		if ctx.Err() != nil {
			return ctx.Err()
		}
		in, err := serverFor(ctx, o, filepath.Join(dir, "authd-wait-"+wait), logger, stderr,
			"--store", "redis", "--redis-addrs", strings.Join(sen.Sentinels, ","),
			"--redis-master-name", redistest.SentinelMaster, "--redis-prefix", "loadtest-wait-"+wait+":",
			"--redis-wait-replicas", wait)
		if err != nil {
			return fmt.Errorf("start authd (sentinel, wait-replicas %s): %w", wait, err)
		}
		atk := newAttackOptions(o, in)
		atk.OpenLoad = 0
		rt, tokens, err := refreshSetup(ctx, in, o.Logins)
		if err != nil {
			in.close()
			return err
		}
		oc := attack(ctx, rotation("refresh rotation ES256 (sentinel, wait-replicas "+wait+")", in, rt, tokens), atk)
		in.close()
		if wait == "off" {
			plain = oc
			rep.add(oc)
			continue
		}
		rep.featureOutcome(oc, plain.Name, "")
	}
	return nil
}

// runTB lets the load test use internal/redistest's process helpers
// outside a test: it provides the few testing.TB methods they call
// (the embedded nil TB is never reached). Fatal and Skip end the
// helper's call by a panic that do turns into an error.
type runTB struct {
	testing.TB
	dir      string
	n        int
	cleanups []func()
	failed   bool
}

// tbStop is the panic of a Fatal or Skip.
type tbStop struct{ msg string }

func (t *runTB) do(f func()) (err error) {
	defer func() {
		if r := recover(); r != nil {
			s, ok := r.(tbStop)
			if !ok {
				panic(r)
			}
			err = fmt.Errorf("%s", s.msg)
		}
	}()
	f()
	return nil
}

func (t *runTB) cleanup() {
	for i := len(t.cleanups) - 1; i >= 0; i-- {
		t.cleanups[i]()
	}
	t.cleanups = nil
}

func (t *runTB) Helper()             {}
func (t *runTB) Cleanup(f func())    { t.cleanups = append(t.cleanups, f) }
func (t *runTB) Failed() bool        { return t.failed }
func (t *runTB) Logf(string, ...any) {}
func (t *runTB) Errorf(format string, args ...any) {
	t.failed = true
	fmt.Fprintf(os.Stderr, "sentinel: "+format+"\n", args...)
}
func (t *runTB) Fatal(args ...any) { t.failed = true; panic(tbStop{fmt.Sprint(args...)}) }
func (t *runTB) Fatalf(format string, args ...any) {
	t.failed = true
	panic(tbStop{fmt.Sprintf(format, args...)})
}
func (t *runTB) Skipf(format string, args ...any) { panic(tbStop{fmt.Sprintf(format, args...)}) }

// TempDir is a new directory under the run's temp dir (removed with it).
func (t *runTB) TempDir() string {
	t.n++
	d := filepath.Join(t.dir, fmt.Sprintf("redis-%d", t.n))
	if err := os.MkdirAll(d, 0o700); err != nil {
		t.Fatal(err)
	}
	return d
}
