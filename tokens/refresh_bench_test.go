//go:build unix

package tokens_test

import (
	"context"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	goredis "github.com/redis/go-redis/v9"
)

// BenchmarkRefreshPath runs one path (refresh rotation or
// client_credentials) on one store through the assembled app's public
// handler (no sockets) on 16 goroutines, for a focused CPU profile of the
// refresh path (issue 13):
//
//	go test -run '^$' -bench 'BenchmarkRefreshPath/redis' -cpuprofile cpu.out ./tokens/
//
// Besides wall time it reports the CPU this process used per request
// (cpu-µs/op) and, on Redis, the CPU the Redis server used per request
// (redis-cpu-µs/op, from INFO cpu): on a shared machine the two compete
// for the same cores, so their sum is what bounds the throughput.
// BenchmarkTokenPaths is the one that compares paths and stores.
func BenchmarkRefreshPath(b *testing.B) {
	for _, st := range []string{"redis", "bolt"} {
		p := newPathApp(b, st, st)
		for _, op := range []string{"refresh", "client_credentials"} {
			b.Run(st+"/"+op, func(b *testing.B) {
				b.ReportAllocs()
				b.SetParallelism(8) // 16 callers on 2 cores, as the load test
				cpu0, redis0 := processCPU(), redisCPU(b, p.rdb)
				b.ResetTimer()
				b.RunParallel(func(pb *testing.PB) {
					for pb.Next() {
						if err := p.do(op); err != nil {
							b.Error(err)
							return
						}
					}
				})
				b.StopTimer()
				b.ReportMetric(float64((processCPU()-cpu0).Microseconds())/float64(b.N), "cpu-µs/op")
				if p.rdb != nil {
					b.ReportMetric(float64((redisCPU(b, p.rdb)-redis0).Microseconds())/float64(b.N), "redis-cpu-µs/op")
				}
			})
		}
	}
}

// processCPU is the CPU time (user + system) this process has used.
func processCPU() time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		return 0
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

// redisCPU is the CPU time the Redis server has used (INFO cpu), 0
// without Redis.
func redisCPU(b *testing.B, rdb *goredis.Client) time.Duration {
	if rdb == nil {
		return 0
	}
	info, err := rdb.Info(context.Background(), "cpu").Result()
	if err != nil {
		b.Fatal(err)
	}
	var total time.Duration
	for _, line := range strings.Split(info, "\r\n") {
		k, v, _ := strings.Cut(line, ":")
		if k == "used_cpu_sys" || k == "used_cpu_user" {
			s, err := strconv.ParseFloat(v, 64)
			if err != nil {
				b.Fatalf("INFO cpu %s: %v", k, err)
			}
			total += time.Duration(s * float64(time.Second))
		}
	}
	return total
}
