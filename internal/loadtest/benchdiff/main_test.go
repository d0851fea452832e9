package main

import (
	"bytes"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// A shortened `make bench` output: Go benchmarks of two packages (one
// with a custom metric), the load test's two tables, its profile table
// (which must be ignored) and the server CPU line.
const oldRun = `goos: linux
pkg: github.com/authd-dev/authd/keys
BenchmarkSignES256-2         	   50000	     25000 ns/op	   11256 B/op	     125 allocs/op
pkg: github.com/authd-dev/authd/server
BenchmarkClientCredentials/ES256-2   	   30000	     40000 ns/op	        80.00 cpu-µs/op	   18900 B/op	     189 allocs/op
PASS
authd load test: 16 workers, 5s per scenario, GOMAXPROCS=2 (load generator and server share the cores)

                          scenario  req/s   ok/s  success     p50     p99  CPU/ok  ÷ bare sign  ÷ bare (CPU)
   client_credentials ES256 (bolt)  10000  10000  100.00%  1.00ms  4.00ms   150µs   0.40 ES256          0.50
                          JWKS 200  40000  40000  100.00%  0.30ms  2.00ms    40µs            -             -
(CPU/ok: CPU of this process — server and load generator — per successful answer)

open loop at 70% of each maximum (constant rate; latency from the scheduled send time, so stalls are not hidden):
                          scenario  rate  ok/s  success     p50     p99     max  CPU/ok
   client_credentials ES256 (bolt)  7000  7000  100.00%  0.80ms  3.00ms  9.00ms   140µs

where the CPU goes (each sample counted once)                share   per request
JWS signing + serialisation (go-jose, crypto, keys)           32.2%  70.1µs
server CPU per request (authd's goroutines plus their share of GC and runtime): 120.0µs
`

// newRun regresses the signing benchmark's time (×1.5), improves the
// token benchmark's allocations, halves the load-test throughput of
// ES256, keeps JWKS and drops the open-loop table.
var newRun = strings.NewReplacer(
	"     25000 ns/op", "     37500 ns/op",
	"     189 allocs/op", "     150 allocs/op",
	"client_credentials ES256 (bolt)  10000  10000", "client_credentials ES256 (bolt)   5000   5000",
	"7000  7000  100.00%", "7000  7000   99.00%",
	"share of GC and runtime): 120.0µs", "share of GC and runtime): 96.0µs",
).Replace(oldRun)

func TestCompare(t *testing.T) {
	dir := t.TempDir()
	oldPath, newPath := filepath.Join(dir, "previous.txt"), filepath.Join(dir, "last.txt")
	if err := os.WriteFile(oldPath, []byte(oldRun), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(newPath, []byte(newRun), 0o600); err != nil {
		t.Fatal(err)
	}
	var out bytes.Buffer
	if err := run([]string{oldPath, newPath}, &out, &out); err != nil {
		t.Fatalf("run: %v", err)
	}
	for _, want := range []string{
		"github.com/authd-dev/authd/keys BenchmarkSignES256-2 ns/op 25000 37500 1.50× worse",
		"github.com/authd-dev/authd/keys BenchmarkSignES256-2 allocs/op 125 125 1.00×",
		"github.com/authd-dev/authd/server BenchmarkClientCredentials/ES256-2 allocs/op 189 150 0.79× better",
		"github.com/authd-dev/authd/server BenchmarkClientCredentials/ES256-2 cpu-µs/op 80 80 1.00×",
		"load: client_credentials ES256 (bolt) ok/s 10000 5000 0.50× worse",
		"load: client_credentials ES256 (bolt) p99 µs 4000 4000 1.00×",
		"load: JWKS 200 req/s 40000 40000 1.00×",
		"open loop: client_credentials ES256 (bolt) success % 100 99 0.99×",
		"open loop: client_credentials ES256 (bolt) max µs 9000 9000 1.00×",
		"load: server CPU per client_credentials ES256 request µs 120 96 0.80× better",
		"figures compared: 3 worse, 2 better by more than 10%",
	} {
		if !containsFields(out.String(), want) {
			t.Errorf("comparison lacks %q", want)
		}
	}
	if strings.Contains(out.String(), "JWS signing") {
		t.Errorf("the profile table was read as figures")
	}
	if t.Failed() {
		t.Log(out.String())
	}
}

// containsFields reports whether some line of s has the fields of want.
func containsFields(s, want string) bool {
	w := strings.Join(strings.Fields(want), " ")
	for _, l := range strings.Split(s, "\n") {
		if strings.Contains(strings.Join(strings.Fields(l), " "), w) {
			return true
		}
	}
	return false
}

func TestRunUsage(t *testing.T) {
	var out bytes.Buffer
	if err := run([]string{"only-one"}, &out, &out); err == nil {
		t.Error("one file: no error")
	}
	if err := run([]string{"/nonexistent/a", "/nonexistent/b"}, &out, &out); err == nil {
		t.Error("missing files: no error")
	}
}
