package bolt

import (
	"context"
	"encoding/base64"
	"fmt"
	"math/rand/v2"
	"os"
	"slices"
	"strconv"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/authd-dev/authd/store"
	"github.com/authd-dev/authd/store/storetest"
)

// BenchmarkSweepTail measures what sweeping expired records does to the
// tail latency of concurrent rotations (issue 13: a sweep of a million
// expired entries must not move p99 by more than 1 ms). It prefills
// AUTHD_BENCH_SWEEP expired families and as many expired denylist entries
// (default 20,000 each) with random keys, as production has (tokens.newID),
// expiring in an order unrelated to their keys, so that each sweep step
// deletes records on distinct pages. Eight goroutines rotate throughout
// while the sweep runs in windows of half a second, each followed by as
// long without it, and it reports the rotations' p50 and p99 in either
// phase, the p99's increase, the time spent sweeping and the sweep's rate.
//
//	AUTHD_BENCH_SWEEP=1000000 go test -run '^$' -bench BenchmarkSweepTail -benchtime 1x -timeout 40m -v ./store/bolt/
func BenchmarkSweepTail(b *testing.B) {
	n := 20_000
	if v, err := strconv.Atoi(os.Getenv("AUTHD_BENCH_SWEEP")); err == nil && v > 0 {
		n = v
	}
	ctx := context.Background()
	for range b.N {
		filled := time.Now()
		clk := &clock{t: storetest.Now()}
		s, _ := open(b, Options{Now: clk.Now, SweepInterval: -1})
		now := clk.Now()
		rng := rand.New(rand.NewPCG(13, uint64(n)))
		randID := func() string {
			var k [16]byte
			for i := range k {
				k[i] = byte(rng.Uint32())
			}
			return base64.RawURLEncoding.EncodeToString(k[:])
		}
		const workers = 8
		for w := range workers {
			if err := s.CreateFamily(ctx, storetest.NewFamily(fmt.Sprint("live", w), now, "0")); err != nil {
				b.Fatal(err)
			}
		}
		// Random keys, loaded in key order (Prefill appends then), expiring
		// over a minute in an order unrelated to the keys.
		ids := func() []string {
			v := make([]string, n)
			for i := range v {
				v[i] = randID()
			}
			slices.Sort(v)
			return v
		}
		famIDs, jtis := ids(), ids()
		famExp, denExp := rng.Perm(n), rng.Perm(n)
		expAt := func(j int) time.Time { return now.Add(time.Duration(j+1) * time.Minute / time.Duration(n)) }
		for done := 0; done < n; done += prefillChunk {
			m := min(prefillChunk, n-done)
			fams, dens := make([]store.Family, m), make([]store.Denial, m)
			for i := range m {
				f := storetest.NewFamily(famIDs[done+i], now, "x")
				f.IdleExpiresAt = expAt(famExp[done+i])
				fams[i] = f
				dens[i] = store.Denial{Kind: store.DenyJTI, Value: jtis[done+i], At: now, ExpiresAt: expAt(denExp[done+i])}
			}
			if err := s.Prefill(ctx, fams, nil); err != nil {
				b.Fatal(err)
			}
			if err := s.Prefill(ctx, nil, dens); err != nil {
				b.Fatal(err)
			}
		}
		clk.Add(2 * time.Minute) // every prefilled record has expired
		b.Logf("prefilled %d families and %d denials in %s", n, n, time.Since(filled).Round(time.Second))

		// The sweep runs for phases of phaseLen, each followed by as
		// long without it, while eight goroutines rotate throughout; a
		// rotation counts for the phase it started and ended in (none if
		// they differ). Alternating keeps the baseline under the same load
		// from the other processes of the machine, which moves latencies
		// far more than 1 ms within a minute.
		const phaseLen = 500 * time.Millisecond
		const (
			sweeping int32 = iota
			idle
		)
		var phase atomic.Int32
		lat := [2][]time.Duration{}
		var mu sync.Mutex
		stop := make(chan struct{})
		var wg sync.WaitGroup
		for w := range workers {
			wg.Add(1)
			go func() {
				defer wg.Done()
				id := fmt.Sprint("live", w)
				var mine [2][]time.Duration
				defer func() {
					mu.Lock()
					lat[sweeping] = append(lat[sweeping], mine[sweeping]...)
					lat[idle] = append(lat[idle], mine[idle]...)
					mu.Unlock()
				}()
				for gen := 0; ; gen++ {
					select {
					case <-stop:
						return
					default:
					}
					r := storetest.Rotate(id, strconv.Itoa(gen), strconv.Itoa(gen+1), clk.Now())
					p, start := phase.Load(), time.Now()
					if _, err := s.RotateRefresh(ctx, r); err != nil {
						b.Error(err)
						return
					}
					if took := time.Since(start); phase.Load() == p {
						mine[p] = append(mine[p], took)
					}
				}
			}()
		}
		// The sweeper parks before its next step while paused; the phase
		// turns idle only once it has parked (no step in flight), and
		// sweeping again before it resumes.
		var gmu sync.Mutex
		gate := sync.NewCond(&gmu)
		paused, parked, finished := false, false, false
		sweepStepHook = func() {
			gmu.Lock()
			defer gmu.Unlock()
			for paused {
				parked = true
				gate.Broadcast()
				gate.Wait()
			}
			parked = false
		}
		type result struct {
			n   int
			err error
		}
		res := make(chan result, 1)
		over := make(chan struct{}) // closed when Sweep has returned
		var end time.Time
		start := time.Now()
		go func() {
			n, err := s.Sweep(ctx)
			gmu.Lock()
			end = time.Now()
			phase.Store(idle)
			finished = true
			gate.Broadcast()
			gmu.Unlock()
			close(over)
			res <- result{n, err}
		}()
		var idleFor time.Duration // the sweeper parked, in all
		windows := 0
		for {
			select {
			case <-over:
			case <-time.After(phaseLen):
			}
			gmu.Lock()
			paused = true
			for !parked && !finished {
				gate.Wait()
			}
			done := finished
			gmu.Unlock()
			if done {
				break
			}
			windows++
			parkedAt := time.Now()
			phase.Store(idle)
			time.Sleep(phaseLen)
			phase.Store(sweeping)
			idleFor += time.Since(parkedAt)
			gmu.Lock()
			paused = false
			gate.Broadcast()
			gmu.Unlock()
		}
		r := <-res
		took := end.Sub(start) - idleFor // the phase turned idle at end
		sweepStepHook = nil
		time.Sleep(min(phaseLen, took)) // an idle phase after the last window too
		close(stop)
		wg.Wait()
		swept := r.n
		if r.err != nil || swept != 2*n {
			b.Fatalf("Sweep: %d, %v; want %d", swept, r.err, 2*n)
		}
		during, base := lat[sweeping], lat[idle]
		slices.Sort(during)
		slices.Sort(base)
		// pct is the p-th percentile of lat (sorted).
		pct := func(lat []time.Duration, p int) time.Duration {
			if len(lat) == 0 {
				return 0
			}
			return lat[len(lat)*p/100]
		}
		b.ReportMetric(float64(pct(base, 50).Microseconds()), "p50-µs-idle")
		b.ReportMetric(float64(pct(during, 50).Microseconds()), "p50-µs-sweeping")
		b.ReportMetric(float64(pct(base, 99).Microseconds()), "p99-µs-idle")
		b.ReportMetric(float64(pct(during, 99).Microseconds()), "p99-µs-sweeping")
		b.ReportMetric(float64((pct(during, 99) - pct(base, 99)).Microseconds()), "p99-µs-added")
		b.ReportMetric(took.Seconds(), "sweep-s")
		b.ReportMetric(float64(swept)/took.Seconds(), "swept/s")
		b.Logf("swept %d records in %s (%d windows, %.0f/s); rotations p50 %s p99 %s while sweeping (%d), p50 %s p99 %s without (%d)",
			swept, took.Round(time.Millisecond), windows, float64(swept)/took.Seconds(),
			pct(during, 50), pct(during, 99), len(during), pct(base, 50), pct(base, 99), len(base))
	}
}
