package main

import (
	"fmt"
	"io"
	"strings"
	"text/tabwriter"
	"time"
)

// Targets from the performance issue (2 shared cores, 16 clients).
const (
	targetES256PerSec  = 12000
	targetRS256Ratio   = 0.85
	targetJWKSPerSec   = 25000
	targetP99          = 10 * time.Millisecond
	targetRefreshRedis = 6000
	// targetIntrospectRedis is issue 4: introspection of an active ES256 token on Redis.
	targetIntrospectRedis = 12000
	// Issue 13: p99 of the open-loop phase, and the server CPU per
	// ES256 client_credentials token at the default log level.
	targetOpenP99       = 5 * time.Millisecond
	targetServerCPU     = 100 * time.Microsecond
	profileTopFunctions = 15
)

// concerns partition the CPU time of the profiled scenario: a sample
// belongs to the concern of the deepest function on its stack that one
// names, so JSON inside the token service counts as JSON, and the
// allocations of a concern count for it.
var concerns = []category{
	{"JWS signing + serialisation (go-jose, crypto, keys)", anyOf(prefix("github.com/go-jose/"), prefix("github.com/authd-dev/authd/keys."))},
	{"JSON encode/decode (encoding/json)", prefix("encoding/json.")},
	{"store reads/writes (bolt, redis client)", anyOf(prefix("github.com/authd-dev/authd/store/"), prefix("go.etcd.io/bbolt."), prefix("github.com/redis/go-redis/"))},
	{"client authentication (authd clients)", prefix("github.com/authd-dev/authd/clients.")},
	{"token service: checks, claims, ids (authd tokens)", prefix("github.com/authd-dev/authd/tokens.")},
	{"logging (log/slog)", prefix("log/slog.")},
	{"metrics (prometheus)", prefix("github.com/prometheus/")},
	{"middleware: request id, context, status (authd server)", prefix("github.com/authd-dev/authd/server.(*Server).instrument")},
	{"token handler: form, headers, response (authd server)", anyOf(prefix("github.com/authd-dev/authd/server."), prefix("net/url."), exact("net/http.(*Request).ParseForm"), prefix("mime."))},
	{"routing (gorilla/mux)", prefix("github.com/gorilla/mux.")},
	{"load generator (vegeta, http.Transport)", anyOf(prefix("github.com/tsenart/vegeta/"), prefix("net/http.(*persistConn)"), prefix("net/http.(*Transport)"), prefix("net/http.(*Client)"), prefix("net/http.persistConnWriter"))},
	{"network syscalls (server and generator)", anyOf(prefix("syscall."), prefix("internal/runtime/syscall."))},
	{"HTTP/1.1 server (net/http, bufio)", anyOf(prefix("net/http."), prefix("bufio."), prefix("net/textproto."))},
	{"garbage collector (background marking)", exact("runtime.gcBgMarkWorker")},
}

// crossCutting are inclusive shares shown beside the partition.
var crossCutting = []category{
	{"server side: all of net/http conn.serve", exact("net/http.(*conn).serve")},
	{"memory allocation anywhere (runtime.mallocgc)", exact("runtime.mallocgc")},
}

// exact matches one function.
func exact(s string) func(string) bool {
	return func(fn string) bool { return fn == s }
}

// prefix matches the functions of a package (or a method set).
func prefix(s string) func(string) bool {
	return func(fn string) bool { return strings.HasPrefix(fn, s) }
}

// contains matches functions whose name holds s.
func contains(s string) func(string) bool {
	return func(fn string) bool { return strings.Contains(fn, s) }
}

// anyOf matches what any of fs matches.
func anyOf(fs ...func(string) bool) func(string) bool {
	return func(fn string) bool {
		for _, f := range fs {
			if f(fn) {
				return true
			}
		}
		return false
	}
}

// ratio is o's throughput divided by the bare signing rate of its alg
// (wall clock), and CPU-normalised: bare CPU per signature divided by
// CPU per answer, which other load on the machine affects much less.
func (r *report) ratio(o outcome) (wall, cpu float64, ok bool) {
	bare, ok := r.bare[o.Bare]
	if !ok || bare.PerSec == 0 {
		return 0, 0, false
	}
	if o.CPU > 0 {
		cpu = float64(bare.CPU) / float64(o.CPU)
	}
	return o.Throughput / bare.PerSec, cpu, true
}

func (r *report) print(w io.Writer, o options) {
	es, rs := r.bare["ES256"], r.bare["RS256"]
	fmt.Fprintf(w, "\nbare go-jose signing on every core: ES256 %.0f/s (%s CPU each), RS256-2048 %.0f/s (%s CPU each)\n\n",
		es.PerSec, us(es.CPU), rs.PerSec, us(rs.CPU))
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', tabwriter.AlignRight)
	fmt.Fprintln(tw, "scenario\treq/s\tok/s\tsuccess\tp50\tp99\tCPU/ok\t÷ bare sign\t÷ bare (CPU)\t")
	for _, oc := range r.outcomes {
		wall, cpu := "-", "-"
		if x, c, ok := r.ratio(oc); ok {
			wall = fmt.Sprintf("%.2f %s", x, oc.Bare)
			if c > 0 {
				cpu = fmt.Sprintf("%.2f", c)
			}
		}
		fmt.Fprintf(tw, "%s\t%.0f\t%.0f\t%.2f%%\t%s\t%s\t%s\t%s\t%s\t\n", oc.Name, oc.Rate, oc.Throughput, 100*oc.Success, ms(oc.P50), ms(oc.P99), us(oc.CPU), wall, cpu)
	}
	tw.Flush()
	fmt.Fprintln(w, "(CPU/ok: CPU of the server and the load generator together per successful answer)")
	for _, oc := range r.outcomes {
		if oc.FirstError != "" {
			fmt.Fprintf(w, "first error in %s: %s\n", oc.Name, oc.FirstError)
		}
	}
	r.printFeatures(w)
	r.printOpen(w, o)
	for _, n := range r.notes {
		fmt.Fprintln(w, n)
	}
	r.printTargets(w, o)
	r.printProfile(w, o)
}

// perSec is d per second of wall, in ms/s.
func perSec(d, wall time.Duration) string {
	if wall <= 0 {
		return "-"
	}
	return fmt.Sprintf("%.0fms/s", float64(d)/float64(time.Millisecond)/wall.Seconds())
}

func ms(d time.Duration) string { return fmt.Sprintf("%.2fms", float64(d)/float64(time.Millisecond)) }
func us(d time.Duration) string { return fmt.Sprintf("%.0fµs", float64(d)/float64(time.Microsecond)) }

// printOpen prints the open-loop phase: latency measured from each
// request's scheduled send time, at a fixed rate; then, per row, what
// the two processes' runtimes and the server's handler saw meanwhile.
func (r *report) printOpen(w io.Writer, o options) {
	if len(r.open) == 0 {
		return
	}
	fmt.Fprintf(w, "\nopen loop at %.0f%% of each maximum (constant rate; latency from the scheduled send time, so stalls are not hidden):\n", 100*o.OpenLoad)
	r.printLayouts(w, o)
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', tabwriter.AlignRight)
	fmt.Fprintln(tw, "scenario\trate\tok/s\tsuccess\tp50\tp99\tmax\tCPU/ok\tclosed-loop max\t")
	for _, oc := range r.open {
		fmt.Fprintf(tw, "%s\t%.0f\t%.0f\t%.2f%%\t%s\t%s\t%s\t%s\t%.0f/s\t\n", oc.Name, oc.Rate, oc.Throughput, 100*oc.Success, ms(oc.P50), ms(oc.P99), ms(oc.Max), us(oc.CPU), oc.Closed)
	}
	tw.Flush()
	for _, oc := range r.open {
		if oc.FirstError != "" {
			fmt.Fprintf(w, "first error in %s (open loop): %s\n", oc.Name, oc.FirstError)
		}
	}
	fmt.Fprintf(w, "\nwhere the open-loop tail comes from (sent late: how late the generator sent, from the due time — its own stalls, or all its workers busy;\n"+
		"  late, worker free: requests sent ≥ the target late while fewer than its maximum of workers were in flight — the generator's own stalls;\n"+
		"  from send: latency from the actual send; handler: time inside authd's public handler; sched: goroutines runnable before running, runtime/metrics;\n"+
		"  CPU: the process's CPU time, ms per s; run queue: its threads runnable but waiting for a core in the kernel, ms per s; slow: requests ≥ %s, grouped in bursts %s apart):\n", ms(targetOpenP99), burstGap)
	tw = tabwriter.NewWriter(w, 0, 0, 2, ' ', tabwriter.AlignRight)
	fmt.Fprintln(tw, "open-loop row\tp99 seen\tsent late p99\tlate, worker free\tp99 from send\thandler p99\thandler max\tserver sched p99/max\tserver GCs, max pause\tserver CPU\tserver run queue\tgenerator sched p99/max\tgenerator GCs, max pause\tgenerator CPU\tgenerator run queue\tslow\tbursts\twidest\tmedian gap\tworst (at)\t")
	for _, oc := range r.open {
		gen, genGC, genCPU, genRQ := "same process", "-", "-", "-"
		if oc.Generator.CPU > 0 {
			gen = ms(oc.Generator.SchedP99) + " / " + ms(oc.Generator.SchedMax)
			genGC = fmt.Sprintf("%d, %s", oc.Generator.GCs, ms(oc.Generator.GCPauseMax))
			genCPU = perSec(oc.Generator.CPU, oc.Generator.Wall)
			genRQ = perSec(oc.Generator.RunQueue, oc.Generator.Wall)
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\t%d\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%d\t%d\t%s\t%s\t%s (%s)\t\n", oc.Name, ms(oc.P99), ms(oc.LateP99), oc.LateFree, ms(oc.SentP99),
			ms(oc.Server.HandlerP99), ms(oc.Server.HandlerMax),
			ms(oc.Server.SchedP99)+" / "+ms(oc.Server.SchedMax), fmt.Sprintf("%d, %s", oc.Server.GCs, ms(oc.Server.GCPauseMax)),
			perSec(oc.Server.CPU, oc.Server.Wall), perSec(oc.Server.RunQueue, oc.Server.Wall),
			gen, genGC, genCPU, genRQ,
			oc.Slow.Count, oc.Slow.Bursts, ms(oc.Slow.Widest), ms(oc.Slow.Gap), ms(oc.Slow.Worst), oc.Slow.At.Round(time.Millisecond))
	}
	tw.Flush()
	var starved []string
	for _, oc := range r.open {
		if oc.Server.Wall > 0 && float64(oc.Server.RunQueue) > starvedRunQueue*float64(oc.Server.Wall) {
			starved = append(starved, oc.Name)
		}
	}
	if len(starved) > 0 {
		fmt.Fprintf(w, "the server waited more than %.0f ms per s for a core (other processes held them) in: %s — those p99s measure the machine more than authd\n",
			1000*starvedRunQueue, strings.Join(starved, "; "))
	}
}

// starvedRunQueue is the share of wall time (summed over the server's
// threads) spent waiting for a core past which an open-loop row is
// flagged as measuring the machine's other load.
const starvedRunQueue = 0.1

// printLayouts says how the processes were laid out on the cores.
func (r *report) printLayouts(w io.Writer, o options) {
	for _, l := range r.layouts {
		switch {
		case l == layoutShared && o.InProcess:
			fmt.Fprintln(w, "  layout shared: server and generator in one process, one Go runtime, every core")
		case l == layoutShared:
			fmt.Fprintln(w, "  layout shared: server and generator in two processes, each free on every core (GOMAXPROCS = cores)")
		case l == layoutPinned:
			fmt.Fprintf(w, "  layout pinned (rows \", pinned)\"): generator on CPU %d, server on CPU %d, GOMAXPROCS=1 each; the rate is of the closed-loop maximum measured pinned just before (Redis itself is not pinned)\n", r.cpus[0], r.cpus[1])
		}
	}
}

// printTargets compares the outcomes with the targets.
func (r *report) printTargets(w io.Writer, o options) {
	find := func(name string) (outcome, bool) {
		for _, oc := range r.outcomes {
			if oc.Name == name {
				return oc, true
			}
		}
		return outcome{}, false
	}
	fmt.Fprintln(w, "\ntargets:")
	check := func(what string, ok bool, got string) {
		mark := "FAIL"
		if ok {
			mark = "ok  "
		}
		fmt.Fprintf(w, "  %s %s: %s\n", mark, what, got)
	}
	if oc, ok := find("client_credentials ES256 (bolt)"); ok {
		check(fmt.Sprintf("client_credentials ES256 ≥ %d tokens/s", targetES256PerSec), oc.Throughput >= targetES256PerSec, fmt.Sprintf("%.0f/s", oc.Throughput))
	}
	if oc, ok := find("client_credentials RS256 (bolt)"); ok {
		x, c, _ := r.ratio(oc)
		check(fmt.Sprintf("client_credentials RS256 ≥ %.0f%% of bare RS256 signing", 100*targetRS256Ratio), x >= targetRS256Ratio,
			fmt.Sprintf("%.1f%% (CPU-normalised %.1f%%)", 100*x, 100*c)) // one decimal: 84.9% is a miss
	}
	if oc, ok := find("JWKS 200"); ok {
		check(fmt.Sprintf("JWKS ≥ %d req/s", targetJWKSPerSec), oc.Throughput >= targetJWKSPerSec, fmt.Sprintf("%.0f/s", oc.Throughput))
	}
	var slow []string
	for _, oc := range r.outcomes {
		if oc.P99 >= targetP99 {
			slow = append(slow, fmt.Sprintf("%s %s", oc.Name, ms(oc.P99)))
		}
	}
	got := "every scenario"
	if len(slow) > 0 {
		got = strings.Join(slow, "; ")
	}
	check(fmt.Sprintf("p99 < %s at %d concurrent clients", ms(targetP99), o.Workers), len(slow) == 0, got)
	if len(r.open) > 0 {
		var slow []string
		for _, oc := range r.open {
			switch {
			case oc.Requests == 0 || oc.Success < 1:
				slow = append(slow, fmt.Sprintf("%s %.2f%% success", oc.Name, 100*oc.Success))
			case oc.P99 >= targetOpenP99:
				slow = append(slow, fmt.Sprintf("%s %s", oc.Name, ms(oc.P99)))
			}
		}
		got := fmt.Sprintf("all %d", len(r.open))
		if len(slow) > 0 {
			got = strings.Join(slow, "; ")
		}
		check(fmt.Sprintf("open-loop p99 < %s and no failed answer at %.0f%% of the maximum rate", ms(targetOpenP99), 100*o.OpenLoad), len(slow) == 0, got)
	}
	if cpu, ok := r.serverCPU(); ok {
		check(fmt.Sprintf("server CPU per client_credentials ES256 token ≤ %s at log level %s", us(targetServerCPU), o.LogLevel), cpu <= targetServerCPU,
			fmt.Sprintf("%.1fµs (from the profile)", float64(cpu)/1e3))
	}
	if oc, ok := find("refresh rotation ES256 (redis)"); ok {
		check(fmt.Sprintf("refresh rotations ≥ %d/s on Redis", targetRefreshRedis), oc.Throughput >= targetRefreshRedis, fmt.Sprintf("%.0f/s", oc.Throughput))
	}
	if oc, ok := find("introspection ES256 (redis)"); ok {
		check(fmt.Sprintf("introspection of an active ES256 token ≥ %d/s on Redis", targetIntrospectRedis), oc.Throughput >= targetIntrospectRedis, fmt.Sprintf("%.0f/s", oc.Throughput))
	}
}

// serverSide and generatorSide split the profile's samples between
// authd (the goroutines net/http's server runs) and the load generator
// (vegeta and the client transport's goroutines).
var (
	serverSide    = category{"server", exact("net/http.(*conn).serve")}
	generatorSide = category{"load generator", anyOf(prefix("github.com/tsenart/vegeta/"), prefix("net/http.(*persistConn)"), prefix("net/http.(*Transport)"), prefix("net/http.(*Client)"), prefix("net/http.persistConnWriter"))}
)

// serverCPU estimates authd's CPU per request in the profiled scenario:
// the samples on the server's goroutines, plus the server's share (its
// proportion of server and generator samples) of the rest, which both
// cause (garbage collection, the scheduler, timers).
func (r *report) serverCPU() (time.Duration, bool) {
	p := r.profile
	if p == nil || p.Total == 0 || r.profiled.Requests == 0 {
		return 0, false
	}
	sh := p.share([]category{serverSide, generatorSide})
	srv, gen := float64(sh[0]), float64(sh[1])
	if srv+gen == 0 {
		return 0, false
	}
	rest := max(float64(p.Total)-srv-gen, 0)
	total := srv + rest*srv/(srv+gen)
	return time.Duration(total / float64(r.profiled.Requests)), true
}

// printProfile prints where the CPU time of the profiled scenario went.
func (r *report) printProfile(w io.Writer, o options) {
	p := r.profile
	if p == nil || p.Total == 0 {
		return
	}
	reqs := float64(r.profiled.Requests)
	perReq := func(ns int64) string {
		if reqs == 0 {
			return "-"
		}
		return fmt.Sprintf("%.1fµs", float64(ns)/reqs/1e3)
	}
	whose := "server and load generator"
	if r.serverOnlyProfile {
		whose = "the server process alone"
	}
	fmt.Fprintf(w, "\nCPU profile of %q: %s of CPU for %d requests = %s of CPU per request (%s)\n",
		r.profiled.Name, time.Duration(p.Total).Round(time.Millisecond), r.profiled.Requests, perReq(p.Total), whose)
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	fmt.Fprintln(tw, "where the CPU goes (each sample counted once)\tshare\tper request\t")
	part := p.partition(concerns)
	for i, ns := range part {
		name := "other (runtime: scheduler, timers, …)"
		if i < len(concerns) {
			name = concerns[i].Name
		}
		fmt.Fprintf(tw, "%s\t%5.1f%%\t%s\t\n", name, 100*float64(ns)/float64(p.Total), perReq(ns))
	}
	for i, ns := range p.share(crossCutting) {
		fmt.Fprintf(tw, "  (inclusive) %s\t%5.1f%%\t%s\t\n", crossCutting[i].Name, 100*float64(ns)/float64(p.Total), perReq(ns))
	}
	tw.Flush()
	if cpu, ok := r.serverCPU(); ok {
		fmt.Fprintf(w, "server CPU per request (authd's goroutines plus their share of GC and runtime): %.1fµs\n", float64(cpu)/1e3)
	}
	fmt.Fprintf(w, "\ntop %d functions by cumulative share:\n", profileTopFunctions)
	tw = tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	fmt.Fprintln(tw, "  cum\tflat\tfunction\t")
	for _, f := range p.top(profileTopFunctions) {
		fmt.Fprintf(tw, "%5.1f%%\t%5.1f%%\t%s\t\n", 100*float64(f.Cum)/float64(p.Total), 100*float64(f.Flat)/float64(p.Total), f.Name)
	}
	tw.Flush()
	if !r.tempProfile {
		fmt.Fprintf(w, "(more: go tool pprof -top -cum %s)\n", o.CPUProfile)
	}
}

// printFeatures prints each feature scenario beside its baseline, both
// measured on the same instance in this run: the ratios of throughput
// and of CPU per successful answer (feature ÷ baseline; a CPU ratio of
// 1.5 means the feature costs 50% more per answer).
func (r *report) printFeatures(w io.Writer) {
	if len(r.features) == 0 {
		return
	}
	byName := make(map[string]outcome, len(r.outcomes))
	for _, oc := range r.outcomes {
		byName[oc.Name] = oc
	}
	fmt.Fprintln(w, "\ncosts of this round's features (each beside its baseline on the same instance, in this run):")
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', tabwriter.AlignRight)
	fmt.Fprintln(tw, "feature\tok/s\tCPU/ok\tbaseline\tok/s\tCPU/ok\tok/s ÷ baseline\tCPU/ok ÷ baseline\t")
	for _, f := range r.features {
		fo, bo := byName[f.Feature], byName[f.Baseline]
		rate, cpu := "-", "-"
		if bo.Throughput > 0 {
			rate = fmt.Sprintf("%.2f×", fo.Throughput/bo.Throughput)
		}
		if bo.CPU > 0 && fo.CPU > 0 {
			cpu = fmt.Sprintf("%.2f×", float64(fo.CPU)/float64(bo.CPU))
		}
		fmt.Fprintf(tw, "%s\t%.0f\t%s\t%s\t%.0f\t%s\t%s\t%s\t\n", f.Feature, fo.Throughput, us(fo.CPU), f.Baseline, bo.Throughput, us(bo.CPU), rate, cpu)
	}
	tw.Flush()
	for _, f := range r.features {
		if f.Note != "" {
			fmt.Fprintf(w, "%s: %s\n", f.Feature, f.Note)
		}
	}
}
