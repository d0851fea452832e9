package main

import (
	"cmp"
	"context"
	"net/http"
	"slices"
	"sort"
	"time"

	vegeta "github.com/tsenart/vegeta/v12/lib"
)

// openOutcome is the result of the open-loop phase of one scenario.
//
// A closed loop (a fixed pool of workers, each waiting for its answer)
// hides stalls: while the server stalls, the workers send nothing, so the
// requests that would have waited are never measured (coordinated
// omission). The open loop sends at a fixed rate whatever the server
// does — vegeta's constant pacer, with as many workers as the rate needs —
// and measures each request from the moment the schedule says it should
// have been sent, so a stall of the server or of the generator itself
// shows in every request it delayed.
type openOutcome struct {
	Name       string
	Rate       float64 // the scheduled rate, requests per second
	Requests   uint64
	Throughput float64 // successful answers per second
	Success    float64
	// P50, P99 and Max are measured from each request's scheduled send
	// time (see scheduledLatencies).
	P50, P99, Max time.Duration
	// LateP99 is the 99th percentile of how late the generator sent a
	// request (vegeta's send time minus the due time): its own stalls,
	// and the wait for one of its maxWorkers to come free — the queue in
	// front of a server that answers too slowly. SentP99 is that of the
	// latency from the actual send (the server, its socket's queue, the
	// network and reading the answer).
	LateP99, SentP99 time.Duration
	// LateFree counts the requests sent at least the open-loop target
	// late although fewer than the generator's maximum of workers were
	// in flight when they were due (lateWithFreeWorker).
	LateFree int
	// CPU is the CPU time of server and generator per successful answer
	// at this rate.
	CPU        time.Duration
	FirstError string
	// Layout is the open-loop layout (shared or pinned) and Closed the
	// closed-loop maximum measured in it, of which Rate is a share.
	Layout string
	Closed float64
	// Server and Generator are the runtime windows of the two processes
	// over the phase (Generator is empty when they are one process).
	Server, Generator windowStats
	// Slow describes the requests at or past the open-loop target.
	Slow slowBursts
}

// slowBursts groups the requests whose latency reached the open-loop
// target by when they were due: requests due within burstGap of the
// previous slow one belong to its burst. A few long bursts at a regular
// interval point at a periodic stall (a GC, a poll, a sync); many short
// ones at queueing.
type slowBursts struct {
	Count  int           // slow requests
	Bursts int           // their bursts
	Widest time.Duration // the longest burst, first to last due time
	// Worst is the highest latency, At when it was due (since the start).
	Worst, At time.Duration
	// Gap is the median time between the starts of successive bursts.
	Gap time.Duration
}

// burstGap separates two bursts of slow requests.
const burstGap = 20 * time.Millisecond

// findBursts groups the slow requests (latency ≥ limit) of reqs, which
// it sorts by due time.
func findBursts(reqs []timedRequest, limit time.Duration) slowBursts {
	slices.SortFunc(reqs, func(a, b timedRequest) int { return cmp.Compare(a.Due, b.Due) })
	var (
		b      slowBursts
		starts []time.Duration
		first  time.Duration
		last   = time.Duration(-1)
	)
	for _, r := range reqs {
		if r.Latency < limit {
			continue
		}
		b.Count++
		if r.Latency > b.Worst {
			b.Worst, b.At = r.Latency, r.Due
		}
		if last < 0 || r.Due-last > burstGap {
			b.Bursts++
			starts = append(starts, r.Due)
			first = r.Due
		}
		last = r.Due
		b.Widest = max(b.Widest, last-first)
	}
	if len(starts) > 1 {
		gaps := make([]time.Duration, len(starts)-1)
		for i := range gaps {
			gaps[i] = starts[i+1] - starts[i]
		}
		slices.Sort(gaps)
		b.Gap = gaps[len(gaps)/2]
	}
	return b
}

// timedRequest is one open-loop request: when it was due, sent and
// answered (since the phase's start) and its latency from the due time.
type timedRequest struct {
	Due, Latency time.Duration
	Sent, End    time.Duration
}

// lateWithFreeWorker counts the requests of reqs sent limit or more
// after they were due although fewer than workers requests were in
// flight (sent, not yet answered) at their due time: a worker was free,
// or could have been added, so the delay was the generator's own (its
// pacer or a worker not running), not the queue behind busy workers.
func lateWithFreeWorker(reqs []timedRequest, workers int, limit time.Duration) int {
	sends := make([]time.Duration, len(reqs))
	ends := make([]time.Duration, len(reqs))
	for i, r := range reqs {
		sends[i], ends[i] = r.Sent, r.End
	}
	slices.Sort(sends)
	slices.Sort(ends)
	upTo := func(a []time.Duration, t time.Duration) int { // how many ≤ t
		return sort.Search(len(a), func(i int) bool { return a[i] > t })
	}
	n := 0
	for _, r := range reqs {
		if r.Sent-r.Due < limit {
			continue
		}
		if upTo(sends, r.Due)-upTo(ends, r.Due) < workers {
			n++
		}
	}
	return n
}

// openAttack drives s at rate requests per second for o.Duration, open
// loop; o.Workers is the closed loop's number of clients.
func openAttack(ctx context.Context, s scenario, rate float64, o attackOptions) openOutcome {
	d, workers := o.Duration, o.Workers
	want := s.Want
	if want == 0 {
		want = http.StatusOK
	}
	out := openOutcome{Name: s.Name, Rate: rate}
	if rate < 1 {
		out.FirstError = "no rate to drive (the closed-loop phase had no successes)"
		return out
	}
	// vegeta starts a few workers and adds one whenever all are busy, so
	// a stall does not slow the schedule down — up to maxWorkers (4× the
	// closed loop's clients, at least 64): past that many requests in
	// flight the schedule slips, the latencies measured from it show the
	// delay, and the generator does not drown the two cores (or the
	// store's connection pool) in idle connections.
	maxWorkers := max(4*workers, 64)
	atk := vegeta.NewAttacker(
		vegeta.Workers(min(workers, maxWorkers)),
		vegeta.MaxWorkers(maxWorkers),
		vegeta.Connections(int(maxWorkers)),
		vegeta.KeepAlive(true),
		vegeta.Redirects(vegeta.NoFollow),
		vegeta.Timeout(10*time.Second),
	)
	stop := context.AfterFunc(ctx, func() { atk.Stop() })
	defer stop()
	pacer := vegeta.ConstantPacer{Freq: int(rate), Per: time.Second}
	var (
		ok    uint64
		lat   []time.Duration
		late  []time.Duration
		sent  []time.Duration
		reqs  []timedRequest
		first string
		last  time.Time
	)
	cpu0 := o.cpu()
	start := time.Now() // vegeta's own start is a moment later: never earlier than the schedule
	for res := range atk.Attack(s.Targeter, pacer, d, s.Name) {
		out.Requests++
		end := res.Timestamp.Add(res.Latency)
		if end.After(last) {
			last = end
		}
		l := scheduledLatency(start, pacer, res)
		lat = append(lat, l)
		d := due(start, pacer, res.Seq)
		reqs = append(reqs, timedRequest{Due: d.Sub(start), Latency: l, Sent: res.Timestamp.Sub(start), End: end.Sub(start)})
		late = append(late, max(res.Timestamp.Sub(d), 0))
		sent = append(sent, res.Latency)
		if err := s.judge(res, want); err == nil {
			ok++
		} else if first == "" {
			first = describe(res, want, err)
		}
	}
	cpu := o.cpu() - cpu0
	out.FirstError = first
	if out.Requests == 0 {
		return out
	}
	out.Success = float64(ok) / float64(out.Requests)
	if secs := last.Sub(start).Seconds(); secs > 0 {
		out.Throughput = float64(ok) / secs
	}
	if ok > 0 {
		out.CPU = cpu / time.Duration(ok)
	}
	out.P50, out.P99, out.Max = percentiles(lat)
	_, out.LateP99, _ = percentiles(late)
	_, out.SentP99, _ = percentiles(sent)
	out.LateFree = lateWithFreeWorker(reqs, int(maxWorkers), targetOpenP99)
	out.Slow = findBursts(reqs, targetOpenP99)
	return out
}

// scheduledLatency is the time from the moment request number res.Seq
// was due by the constant schedule (start + Seq/rate) to its answer, or
// vegeta's own latency if that is longer: vegeta times a request from
// when a worker picks it up, so a late pacer or a worker pool that had to
// grow would otherwise not count.
func scheduledLatency(start time.Time, p vegeta.ConstantPacer, res *vegeta.Result) time.Duration {
	l := res.Timestamp.Add(res.Latency).Sub(due(start, p, res.Seq))
	return max(l, res.Latency)
}

// due is when request number seq is due by the constant schedule.
func due(start time.Time, p vegeta.ConstantPacer, seq uint64) time.Time {
	return start.Add(time.Duration(float64(seq) * float64(p.Per) / float64(p.Freq)))
}

// percentiles returns the 50th and 99th percentiles (nearest rank) and
// the maximum of lat, which it sorts.
func percentiles(lat []time.Duration) (p50, p99, maxLat time.Duration) {
	if len(lat) == 0 {
		return 0, 0, 0
	}
	slices.Sort(lat)
	rank := func(q float64) time.Duration {
		i := int(q*float64(len(lat))+0.999999) - 1 // ceil(q·n) - 1
		return lat[min(max(i, 0), len(lat)-1)]
	}
	return rank(0.50), rank(0.99), lat[len(lat)-1]
}
