package bolt

import (
	"context"
	"fmt"
	"os"
	"slices"
	"strconv"
	"sync"
	"testing"
	"time"

	"github.com/authd-dev/authd/store"
	"github.com/authd-dev/authd/store/storetest"
)

// BenchmarkSweepTail measures what sweeping expired records does to the
// tail latency of concurrent rotations (issue 13: a sweep of a million
// expired entries must not move p99 by more than 1 ms). It prefills
// AUTHD_BENCH_SWEEP expired families and as many expired denylist entries
// (default 20,000 each), then runs rotations on eight goroutines for as
// long as one Sweep takes, and for as long again without it, and reports
// both p99s and the sweep's duration.
//
//	AUTHD_BENCH_SWEEP=1000000 go test -run '^$' -bench BenchmarkSweepTail -benchtime 1x -timeout 20m ./store/bolt/
func BenchmarkSweepTail(b *testing.B) {
	n := 20_000
	if v, err := strconv.Atoi(os.Getenv("AUTHD_BENCH_SWEEP")); err == nil && v > 0 {
		n = v
	}
	ctx := context.Background()
	for range b.N {
		clk := &clock{t: storetest.Now()}
		s, _ := open(b, Options{Now: clk.Now, SweepInterval: -1})
		now := clk.Now()
		const workers = 8
		for w := range workers {
			if err := s.CreateFamily(ctx, storetest.NewFamily(fmt.Sprint("live", w), now, "0")); err != nil {
				b.Fatal(err)
			}
		}
		for done := 0; done < n; done += prefillChunk {
			m := min(prefillChunk, n-done)
			fams, dens := make([]store.Family, m), make([]store.Denial, m)
			for i := range m {
				f := storetest.NewFamily(fmt.Sprintf("dead%08d", done+i), now, "x")
				f.IdleExpiresAt = now.Add(time.Minute)
				fams[i] = f
				dens[i] = store.Denial{Kind: store.DenyJTI, Value: fmt.Sprintf("jti%08d", done+i), At: now, ExpiresAt: now.Add(time.Minute)}
			}
			if err := s.Prefill(ctx, fams, dens); err != nil {
				b.Fatal(err)
			}
		}
		clk.Add(2 * time.Minute) // every prefilled record has expired

		// rotate runs rotations on every worker until stop closes and
		// returns their latencies.
		gen := make([]int, workers)
		rotate := func(stop <-chan struct{}) []time.Duration {
			var mu sync.Mutex
			var lat []time.Duration
			var wg sync.WaitGroup
			for w := range workers {
				wg.Add(1)
				go func() {
					defer wg.Done()
					id := fmt.Sprint("live", w)
					var mine []time.Duration
					for {
						select {
						case <-stop:
							mu.Lock()
							lat = append(lat, mine...)
							mu.Unlock()
							return
						default:
						}
						r := storetest.Rotate(id, strconv.Itoa(gen[w]), strconv.Itoa(gen[w]+1), clk.Now())
						start := time.Now()
						if _, err := s.RotateRefresh(ctx, r); err != nil {
							b.Error(err)
							return
						}
						mine = append(mine, time.Since(start))
						gen[w]++
					}
				}()
			}
			wg.Wait()
			return lat
		}
		p99 := func(lat []time.Duration) time.Duration {
			if len(lat) == 0 {
				return 0
			}
			slices.Sort(lat)
			return lat[len(lat)*99/100]
		}

		stop := make(chan struct{})
		res := make(chan []time.Duration)
		go func() { res <- rotate(stop) }()
		start := time.Now()
		swept, err := s.Sweep(ctx)
		took := time.Since(start)
		close(stop)
		during := <-res
		if err != nil || swept != 2*n {
			b.Fatalf("Sweep: %d, %v; want %d", swept, err, 2*n)
		}
		stop = make(chan struct{})
		go func() { res <- rotate(stop) }()
		time.Sleep(took) // the same span without a sweep: the baseline
		close(stop)
		base := <-res
		b.ReportMetric(float64(p99(base).Microseconds()), "p99-µs-idle")
		b.ReportMetric(float64(p99(during).Microseconds()), "p99-µs-sweeping")
		b.ReportMetric(took.Seconds(), "sweep-s")
		b.Logf("swept %d records in %s; rotations p99 %s while sweeping (%d), %s without (%d)",
			swept, took.Round(time.Millisecond), p99(during), len(during), p99(base), len(base))
	}
}
