package main

import (
	"context"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"runtime"
	"runtime/metrics"
	"testing"
	"time"
)

// TestChildWindow starts a server child and checks its control API: the
// window counts the public requests its handler served, the CPU is the
// child's own, the profile is written, and GOMAXPROCS can be set.
func TestChildWindow(t *testing.T) {
	dir := t.TempDir()
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	in, err := startChild(ctx, filepath.Join(dir, "data"), filepath.Join(dir, "authd.log"), "warn", io.Discard, "--store", "bolt")
	if err != nil {
		t.Fatal(err)
	}
	defer in.close()
	if in.child == nil || in.child.pid() == os.Getpid() {
		t.Fatalf("the server is not a child process")
	}
	if err := in.ctl.startWindow(); err != nil {
		t.Fatal(err)
	}
	prof := filepath.Join(dir, "cpu.pprof")
	if err := in.ctl.startProfile(prof); err != nil {
		t.Fatal(err)
	}
	const n = 25
	for range n {
		if _, _, err := fetchJWKS(ctx, in); err != nil {
			t.Fatal(err)
		}
	}
	if err := in.ctl.stopProfile(); err != nil {
		t.Fatal(err)
	}
	w, err := in.ctl.window()
	if err != nil {
		t.Fatal(err)
	}
	if w.Handled != n {
		t.Errorf("window handled %d requests; want %d", w.Handled, n)
	}
	if w.HandlerMax <= 0 || w.HandlerP50 > w.HandlerP99 || w.HandlerP99 > w.HandlerMax {
		t.Errorf("handler times p50 %v p99 %v max %v", w.HandlerP50, w.HandlerP99, w.HandlerMax)
	}
	if w.CPU <= 0 || in.ctl.cpu() < w.CPU {
		t.Errorf("child CPU: window %v, total %v", w.CPU, in.ctl.cpu())
	}
	if fi, err := os.Stat(prof); err != nil || fi.Size() == 0 {
		t.Errorf("child's CPU profile not written: %v", err)
	}
	if err := in.ctl.setProcs(1); err != nil {
		t.Errorf("setProcs: %v", err)
	}
	// A window of the admin listener's requests counts none.
	if err := in.ctl.startWindow(); err != nil {
		t.Fatal(err)
	}
	resp, err := http.Get(in.adminURL + "/healthz")
	if err == nil {
		resp.Body.Close()
	}
	if w, err := in.ctl.window(); err != nil || w.Handled != 0 {
		t.Errorf("admin requests counted: %d (%v)", w.Handled, err)
	}
}

func TestFindBursts(t *testing.T) {
	ms := time.Millisecond
	reqs := []timedRequest{
		{Due: 1000 * ms, Latency: 9 * ms}, // second burst, unsorted on purpose
		{Due: 0, Latency: ms},
		{Due: 100 * ms, Latency: 6 * ms}, // first burst: 100–130 ms
		{Due: 115 * ms, Latency: 20 * ms},
		{Due: 130 * ms, Latency: 7 * ms},
		{Due: 500 * ms, Latency: 2 * ms},
		{Due: 1010 * ms, Latency: 5 * ms},
		{Due: 2100 * ms, Latency: 5 * ms}, // third
	}
	got := findBursts(reqs, 5*ms)
	want := slowBursts{Count: 6, Bursts: 3, Widest: 30 * ms, Worst: 20 * ms, At: 115 * ms, Gap: 1100 * ms}
	if got != want {
		t.Errorf("findBursts = %+v; want %+v", got, want)
	}
	if got := findBursts(reqs[:2], 50*ms); got != (slowBursts{}) {
		t.Errorf("no slow request: %+v", got)
	}
}

// TestHistDelta reads the scheduling latencies this process gains while
// goroutines queue on one P: the delta has samples and p99 ≤ max.
func TestHistDelta(t *testing.T) {
	read := func() metrics.Sample {
		s := []metrics.Sample{{Name: "/sched/latencies:seconds"}}
		metrics.Read(s)
		return s[0]
	}
	a := read()
	if p99, m := histDelta(a, a); p99 != 0 || m != 0 {
		t.Errorf("empty delta: p99 %v max %v", p99, m)
	}
	prev := runtime.GOMAXPROCS(1)
	done := make(chan struct{})
	for range 8 {
		go func() {
			for {
				select {
				case <-done:
					return
				default:
					runtime.Gosched()
				}
			}
		}()
	}
	time.Sleep(50 * time.Millisecond)
	close(done)
	runtime.GOMAXPROCS(prev)
	p99, m := histDelta(a, read())
	if m <= 0 || p99 > m {
		t.Errorf("delta: p99 %v max %v", p99, m)
	}
}

// TestLateWithFreeWorker: with two workers, a request sent late while
// both were busy is the queue's; one sent late with a worker free is the
// generator's own stall.
func TestLateWithFreeWorker(t *testing.T) {
	ms := time.Millisecond
	reqs := []timedRequest{
		{Due: 0, Sent: 0, End: 50 * ms},
		{Due: 1 * ms, Sent: 1 * ms, End: 50 * ms},
		{Due: 2 * ms, Sent: 50 * ms, End: 52 * ms},     // both workers busy until 50 ms: queued
		{Due: 100 * ms, Sent: 120 * ms, End: 121 * ms}, // nothing in flight at 100 ms: a stall
		{Due: 200 * ms, Sent: 203 * ms, End: 204 * ms}, // 3 ms late: under the limit
	}
	if got := lateWithFreeWorker(reqs, 2, 5*ms); got != 1 {
		t.Errorf("lateWithFreeWorker = %d; want 1", got)
	}
	if got := lateWithFreeWorker(reqs, 3, 5*ms); got != 2 {
		t.Errorf("with three workers: %d; want 2 (the queued one had a worker free)", got)
	}
}
