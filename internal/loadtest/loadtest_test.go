package main

import (
	"bytes"
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/authd-dev/authd/internal/redistest"
)

// TestMain lets the test binary be the load test's server child
// (child.go), as the loadtest binary is: run re-executes os.Executable.
func TestMain(m *testing.M) {
	if os.Getenv(serveEnv) == "1" {
		if err := serveChild(context.Background(), os.Args[1:], os.Stdin, os.Stdout); err != nil {
			fmt.Fprintln(os.Stderr, "loadtest server child:", err)
			os.Exit(1)
		}
		os.Exit(0)
	}
	os.Exit(m.Run())
}

// TestRunShort runs the whole load test briefly against real stores (bolt
// and the Redis that `make test` makes sure of): every scenario must get
// only successful answers (wanted status and a body its check accepts:
// run fails otherwise), and the report must hold the table, the targets
// and the profile.
func TestRunShort(t *testing.T) {
	prof := filepath.Join(t.TempDir(), "cpu.pprof")
	var out bytes.Buffer
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	args := []string{"-workers", "4", "-duration", "300ms", "-sign-duration", "100ms", "-logins", "8", "-cpuprofile", prof, "-redis-url", redistest.URL(t)}
	err := run(ctx, args, &out, io.Discard)
	if err != nil {
		t.Fatalf("run: %v\n%s", err, out.String())
	}
	report := out.String()
	for _, want := range []string{
		"bare go-jose signing on every core: ES256",
		"client_credentials ES256 (bolt)",
		"client_credentials RS256 (bolt)",
		"JWKS 200",
		"JWKS 304 (If-None-Match)",
		"refresh rotation ES256 (bolt)",
		"client_credentials ES256 (redis)",
		"refresh rotation ES256 (redis)",
		"introspection ES256 (bolt)",
		"introspection ES256 (redis)",
		"client_credentials ES256 DPoP (bolt)",
		"silent SSO authorize prompt=none (bolt)",
		"device poll, pending (bolt)",
		"token exchange ES256, delegation (bolt)",
		"client_credentials ES256 DPoP (redis)",
		"silent SSO authorize prompt=none (redis)",
		"device poll, pending (redis)",
		"token exchange ES256, delegation (redis)",
		"costs of this round's features",
		"100.00%",
		"targets:",
		// One line per target (TestPrintTargets checks their verdicts).
		"client_credentials ES256 ≥ 12000 tokens/s:",
		"client_credentials RS256 ≥ 85% of bare RS256 signing:",
		"JWKS ≥ 25000 req/s:",
		"p99 < 10.00ms at 4 concurrent clients:",
		"refresh rotations ≥ 6000/s on Redis:",
		"introspection of an active ES256 token ≥ 12000/s on Redis:",
		"open loop at 70% of each maximum",
		"open-loop p99 < 5.00ms and no failed answer at 70% of the maximum rate:",
		// The server is a child; the open loop runs in both layouts.
		"server in a process of its own",
		"client_credentials ES256 (bolt, pinned)",
		"introspection ES256 (redis, pinned)",
		"where the open-loop tail comes from",
		"(the server process alone)",
		"server CPU per client_credentials ES256 token ≤ 100µs at log level info:",
		"server CPU per request (authd's goroutines",
		"top 15 functions by cumulative share",
		"JWS signing + serialisation",
		"(inclusive) server side",
	} {
		if !strings.Contains(report, want) {
			t.Errorf("report lacks %q", want)
		}
	}
	// With two CPUs to pin to, the open loop runs in both layouts.
	if cpus, _ := usableCPUs(); len(cpus) >= 2 {
		for _, want := range []string{"client_credentials ES256 (bolt, pinned)", "introspection ES256 (redis, pinned)", "layout pinned"} {
			if !strings.Contains(report, want) {
				t.Errorf("report lacks %q", want)
			}
		}
	} else if !strings.Contains(report, "no pinned open loop") {
		t.Errorf("report does not say why there is no pinned layout")
	}
	if strings.Contains(report, "first error") {
		t.Errorf("report names a failed request")
	}
	if fi, err := os.Stat(prof); err != nil || fi.Size() == 0 {
		t.Errorf("CPU profile not written: %v", err)
	}
	if t.Failed() {
		t.Log(report)
	}
}

// TestRunInProcess runs the load test briefly with authd in the load
// generator's process (the layout before issue 13), limited to two
// scenarios: the open loop runs shared only, the profile is of the one
// process, and no other scenario is reported.
func TestRunInProcess(t *testing.T) {
	var out bytes.Buffer
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	args := []string{"-in-process", "-workers", "4", "-duration", "200ms", "-sign-duration", "100ms", "-logins", "8", "-redis-url", "",
		"-scenarios", `^(client_credentials ES256|introspection ES256) \(bolt\)$`}
	if err := run(ctx, args, &out, io.Discard); err != nil {
		t.Fatalf("run: %v\n%s", err, out.String())
	}
	report := out.String()
	for _, want := range []string{
		"load generator and server in one process",
		"layout shared: server and generator in one process",
		"open loop at 70% of each maximum",
		"(server and load generator)",
		"client_credentials ES256 (bolt)",
		"introspection ES256 (bolt)",
		"only the scenarios matching -scenarios",
	} {
		if !strings.Contains(report, want) {
			t.Errorf("report lacks %q", want)
		}
	}
	for _, skipped := range []string{"JWKS 200", "refresh rotation", "DPoP", "client_credentials RS256"} {
		if strings.Contains(report, skipped) {
			t.Errorf("report has the skipped scenario %q", skipped)
		}
	}
	if strings.Contains(report, "pinned)") {
		t.Errorf("an in-process run has pinned rows")
	}
	if t.Failed() {
		t.Log(report)
	}
}

// TestRunSentinel runs the -sentinel scenarios briefly (bolt too; Redis
// single skipped): both rotations through a private Sentinel deployment
// must get only successful answers and be reported side by side.
func TestRunSentinel(t *testing.T) {
	for _, bin := range []string{"redis-server", "redis-sentinel"} {
		if _, err := exec.LookPath(bin); err != nil {
			redistest.Unavailable(t, "%s not installed: %v", bin, err)
		}
	}
	var out bytes.Buffer
	ctx, cancel := context.WithTimeout(context.Background(), 90*time.Second)
	defer cancel()
	args := []string{"-workers", "4", "-duration", "200ms", "-sign-duration", "100ms", "-logins", "8", "-open-load", "0", "-redis-url", "", "-sentinel"}
	if err := run(ctx, args, &out, io.Discard); err != nil {
		t.Fatalf("run: %v\n%s", err, out.String())
	}
	report := out.String()
	for _, want := range []string{
		"refresh rotation ES256 (sentinel, wait-replicas off)",
		"refresh rotation ES256 (sentinel, wait-replicas 1)",
		"costs of this round's features",
	} {
		if !strings.Contains(report, want) {
			t.Errorf("report lacks %q", want)
		}
	}
	if strings.Contains(report, "first error") {
		t.Errorf("report names a failed request")
	}
	if t.Failed() {
		t.Log(report)
	}
}

func TestParseFlags(t *testing.T) {
	for _, tc := range []struct {
		args    []string
		want    options
		wantErr bool
	}{
		{args: nil, want: options{Workers: 16, Duration: 5 * time.Second, SignDuration: 2 * time.Second, Logins: 64, RedisURL: "redis://127.0.0.1:6379/0", LogLevel: "info", OpenLoad: 0.7, OpenLayout: "both"}},
		{args: []string{"-workers", "2", "-duration", "1s", "-cpuprofile", "p", "-redis-url", "", "-log-level", "warn", "-open-load", "0", "-sentinel"}, want: options{Workers: 2, Duration: time.Second, SignDuration: 2 * time.Second, Logins: 8, CPUProfile: "p", LogLevel: "warn", Sentinel: true, OpenLayout: "both"}},
		{args: []string{"-in-process", "-open-layout", "shared"}, want: options{Workers: 16, Duration: 5 * time.Second, SignDuration: 2 * time.Second, Logins: 64, RedisURL: "redis://127.0.0.1:6379/0", LogLevel: "info", OpenLoad: 0.7, InProcess: true, OpenLayout: "shared"}},
		{args: []string{"-open-layout", "sideways"}, wantErr: true},
		{args: []string{"-scenarios", "("}, wantErr: true},
		{args: []string{"-in-process", "-open-layout", "pinned"}, wantErr: true},
		{args: []string{"-workers", "0"}, wantErr: true},
		{args: []string{"-duration", "-1s"}, wantErr: true},
		{args: []string{"extra"}, wantErr: true},
		{args: []string{"-open-load", "1.5"}, wantErr: true},
		{args: []string{"-log-level", "trace"}, wantErr: true},
		{args: []string{"-nope"}, wantErr: true},
	} {
		got, err := parseFlags(tc.args, io.Discard)
		if (err != nil) != tc.wantErr {
			t.Errorf("%q: err = %v", tc.args, err)
			continue
		}
		if !tc.wantErr && got != tc.want {
			t.Errorf("%q: got %+v, want %+v", tc.args, got, tc.want)
		}
	}
	if _, err := parseFlags([]string{"-h"}, io.Discard); !errors.Is(err, flag.ErrHelp) {
		t.Errorf("-h: %v; want flag.ErrHelp", err)
	}
}
