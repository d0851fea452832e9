package main

import (
	"math"
	"net/http"
	"os"
	"runtime"
	"runtime/metrics"
	"runtime/pprof"
	"sync"
	"time"
)

// windowStats is what one process saw between startWindow and window:
// where an open-loop phase's tail comes from (open.go). Durations from
// runtime/metrics histograms are the upper bound of their bucket.
type windowStats struct {
	CPU  time.Duration `json:"cpu"`  // process CPU (user + system)
	Wall time.Duration `json:"wall"` // length of the window
	// RunQueue is the time this process's threads spent runnable but
	// waiting for a core in the kernel (run_delay of
	// /proc/self/task/*/schedstat): other processes — the other side of
	// the test, Redis, other users of the machine — holding the cores.
	RunQueue time.Duration `json:"run_queue"`
	// GCs is the number of completed GC cycles, GCPauseMax the longest
	// stop-the-world pause of the GC.
	GCs        uint64        `json:"gcs"`
	GCPauseMax time.Duration `json:"gc_pause_max"`
	// SchedP99 and SchedMax are the time goroutines spent runnable before
	// they ran (/sched/latencies:seconds): a busy core shows here.
	SchedP99 time.Duration `json:"sched_p99"`
	SchedMax time.Duration `json:"sched_max"`
	// Handled is the number of public requests the server's handler
	// finished in the window and HandlerP50/P99/Max their time inside
	// the handler (from ServeHTTP to its return; no socket queueing);
	// 0 for the generator's process.
	Handled      int           `json:"handled"`
	HandlerP50   time.Duration `json:"handler_p50"`
	HandlerP99   time.Duration `json:"handler_p99"`
	HandlerMax   time.Duration `json:"handler_max"`
	HandlerTimes []int64       `json:"handler_ns,omitempty"`
}

var windowMetrics = []string{"/gc/cycles/total:gc-cycles", "/sched/pauses/total/gc:seconds", "/sched/latencies:seconds"}

// handlerTimes records how long the public handler takes per request.
type handlerTimes struct {
	mu sync.Mutex
	ns []int64
}

// wrap times h.
func (t *handlerTimes) wrap(h http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		t0 := time.Now()
		h.ServeHTTP(w, r)
		d := int64(time.Since(t0))
		t.mu.Lock()
		t.ns = append(t.ns, d)
		t.mu.Unlock()
	})
}

// take returns the recorded times and starts afresh.
func (t *handlerTimes) take() []int64 {
	t.mu.Lock()
	defer t.mu.Unlock()
	out := t.ns
	t.ns = make([]int64, 0, len(out))
	return out
}

// localControl is the control of this process's runtime: the window of
// runtime statistics, the CPU profile and GOMAXPROCS. A server child
// serves it over HTTP (child.go); in-process and for the generator it is
// called directly.
type localControl struct {
	timing *handlerTimes // nil in a process that serves nothing

	mu      sync.Mutex
	start   []metrics.Sample
	cpu0    time.Duration
	rq0     time.Duration
	t0      time.Time
	profile *os.File
}

func (c *localControl) startWindow() error {
	s := make([]metrics.Sample, len(windowMetrics))
	for i, n := range windowMetrics {
		s[i].Name = n
	}
	metrics.Read(s)
	c.mu.Lock()
	c.start, c.cpu0, c.rq0, c.t0 = s, processCPU(), runQueueWait(), time.Now()
	c.mu.Unlock()
	if c.timing != nil {
		c.timing.take()
	}
	return nil
}

func (c *localControl) window() (windowStats, error) {
	now := make([]metrics.Sample, len(windowMetrics))
	for i, n := range windowMetrics {
		now[i].Name = n
	}
	metrics.Read(now)
	c.mu.Lock()
	start, cpu0, rq0, t0 := c.start, c.cpu0, c.rq0, c.t0
	c.mu.Unlock()
	var w windowStats
	w.CPU, w.RunQueue, w.Wall = processCPU()-cpu0, max(runQueueWait()-rq0, 0), time.Since(t0)
	if start == nil {
		return w, nil
	}
	if now[0].Value.Kind() == metrics.KindUint64 {
		w.GCs = now[0].Value.Uint64() - start[0].Value.Uint64()
	}
	_, w.GCPauseMax = histDelta(start[1], now[1])
	w.SchedP99, w.SchedMax = histDelta(start[2], now[2])
	if c.timing != nil {
		w.HandlerTimes = c.timing.take()
	}
	w.summarise()
	return w, nil
}

// summarise fills the handler percentiles from HandlerTimes.
func (w *windowStats) summarise() {
	w.Handled = len(w.HandlerTimes)
	if w.Handled == 0 {
		return
	}
	lat := make([]time.Duration, len(w.HandlerTimes))
	for i, ns := range w.HandlerTimes {
		lat[i] = time.Duration(ns)
	}
	w.HandlerP50, w.HandlerP99, w.HandlerMax = percentiles(lat)
	w.HandlerTimes = nil
}

// histDelta returns the 99th percentile and the maximum of the samples
// a runtime/metrics histogram gained between a and b (bucket upper
// bounds; the lower bound for the last, unbounded bucket).
func histDelta(a, b metrics.Sample) (p99, maxD time.Duration) {
	if a.Value.Kind() != metrics.KindFloat64Histogram || b.Value.Kind() != metrics.KindFloat64Histogram {
		return 0, 0
	}
	ha, hb := a.Value.Float64Histogram(), b.Value.Float64Histogram()
	if len(ha.Counts) != len(hb.Counts) {
		return 0, 0
	}
	delta := make([]uint64, len(hb.Counts))
	var total uint64
	for i := range delta {
		delta[i] = hb.Counts[i] - ha.Counts[i]
		total += delta[i]
	}
	if total == 0 {
		return 0, 0
	}
	bound := func(i int) time.Duration {
		up := hb.Buckets[i+1]
		if math.IsInf(up, 1) {
			up = hb.Buckets[i]
		}
		return time.Duration(up * float64(time.Second))
	}
	want := uint64(math.Ceil(0.99 * float64(total)))
	var seen uint64
	for i, n := range delta {
		if n == 0 {
			continue
		}
		seen += n
		if seen >= want && p99 == 0 {
			p99 = bound(i)
		}
		maxD = bound(i)
	}
	return p99, maxD
}

func (c *localControl) startProfile(path string) error {
	f, err := os.Create(path)
	if err != nil {
		return err
	}
	if err := pprof.StartCPUProfile(f); err != nil {
		f.Close()
		return err
	}
	c.mu.Lock()
	c.profile = f
	c.mu.Unlock()
	return nil
}

func (c *localControl) stopProfile() error {
	pprof.StopCPUProfile()
	c.mu.Lock()
	f := c.profile
	c.profile = nil
	c.mu.Unlock()
	if f == nil {
		return nil
	}
	return f.Close()
}

// setProcs sets GOMAXPROCS (n ≤ 0: the number of usable CPUs).
func (c *localControl) setProcs(n int) error {
	if n <= 0 {
		n = runtime.NumCPU()
	}
	runtime.GOMAXPROCS(n)
	return nil
}
