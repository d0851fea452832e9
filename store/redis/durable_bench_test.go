package redis

import (
	"context"
	"strconv"
	"sync/atomic"
	"testing"
	"time"

	"github.com/authd-dev/authd/internal/redistest"
	"github.com/authd-dev/authd/store"
)

// BenchmarkDurableRotation measures what WAIT costs per rotation: two
// Stores on the same primary (with its one replica), one with
// WaitReplicas 0 and one with 1, rotate interleaved — one rotation each
// per iteration, so both see the same machine load — and the benchmark
// reports each one's time per rotation, their ratio, and the client's
// round trips per durable rotation (the pipelined script+WAIT, then the
// finish). Run with -benchtime 1s or so; the ratio is the figure to read.
func BenchmarkDurableRotation(b *testing.B) {
	ctx := context.Background()
	pair := redistest.NewReplicated(b)
	open := func(wait int) *Store {
		s, err := Open(ctx, Options{URL: "redis://" + pair.Nodes[0] + "/0", WaitReplicas: wait, WaitTimeout: 200 * time.Millisecond})
		if err != nil {
			b.Fatal(err)
		}
		b.Cleanup(func() { _ = s.Close() })
		s.prefix = redistest.Prefix(b, s.rdb)
		if err := rotateScript.Load(ctx, s.rdb).Err(); err != nil {
			b.Fatal(err)
		}
		if err := finishRotationScript.Load(ctx, s.rdb).Err(); err != nil {
			b.Fatal(err)
		}
		return s
	}
	plain, durable := open(0), open(1)
	h := &roundTrips{}
	durable.rdb.AddHook(h)
	sealed := make([]byte, 117)
	now := time.Now()
	for _, s := range []*Store{plain, durable} {
		f := loginFamily("bench", now)
		f.Current = digestOf("bench/0")
		if err := s.CreateFamily(ctx, f); err != nil {
			b.Fatal(err)
		}
	}
	var plainNs, durableNs time.Duration
	rotate := func(s *Store, i int) time.Duration {
		began := time.Now()
		_, err := s.RotateRefresh(ctx, store.Rotation{
			FamilyID:   "bench",
			Presented:  digestOf("bench/" + strconv.Itoa(i-1)),
			Next:       digestOf("bench/" + strconv.Itoa(i)),
			SealedNext: sealed,
			Now:        time.Now(),
			IdleTTL:    72 * time.Hour,
		})
		if err != nil {
			b.Fatalf("rotation %d: %v", i, err)
		}
		return time.Since(began)
	}
	h.n.Store(0)
	b.ResetTimer()
	for i := 1; i <= b.N; i++ {
		plainNs += rotate(plain, i)
		durableNs += rotate(durable, i)
	}
	b.StopTimer()
	n := float64(b.N)
	b.ReportMetric(float64(plainNs.Nanoseconds())/n, "ns/rotation-nowait")
	b.ReportMetric(float64(durableNs.Nanoseconds())/n, "ns/rotation-wait")
	b.ReportMetric(float64(durableNs)/float64(plainNs), "wait/nowait")
	b.ReportMetric(float64(h.n.Load())/n, "roundtrips/durable-op")
}

// BenchmarkDurableRotationParallel is the same comparison under
// concurrency (eight goroutines per CPU, one login each, as in
// BenchmarkRotateRefresh): the sub-benchmarks wait=0 and wait=1 run on the
// same primary and replica; compare their rotations/s.
func BenchmarkDurableRotationParallel(b *testing.B) {
	ctx := context.Background()
	pair := redistest.NewReplicated(b)
	for _, wait := range []int{0, 1} {
		b.Run("wait="+strconv.Itoa(wait), func(b *testing.B) {
			s, err := Open(ctx, Options{URL: "redis://" + pair.Nodes[0] + "/0", WaitReplicas: wait, WaitTimeout: 200 * time.Millisecond})
			if err != nil {
				b.Fatal(err)
			}
			b.Cleanup(func() { _ = s.Close() })
			s.prefix = redistest.Prefix(b, s.rdb)
			var logins atomic.Int64
			sealed := make([]byte, 117)
			b.SetParallelism(8)
			b.ResetTimer()
			b.RunParallel(func(pb *testing.PB) {
				id := "bench-" + strconv.FormatInt(logins.Add(1), 10)
				f := loginFamily(id, time.Now())
				f.Current = digestOf(id + "/0")
				if err := s.CreateFamily(ctx, f); err != nil {
					b.Error(err)
					return
				}
				for i := 1; pb.Next(); i++ {
					_, err := s.RotateRefresh(ctx, store.Rotation{
						FamilyID: id, Presented: digestOf(id + "/" + strconv.Itoa(i-1)), Next: digestOf(id + "/" + strconv.Itoa(i)),
						SealedNext: sealed, Now: time.Now(), IdleTTL: 72 * time.Hour,
					})
					if err != nil {
						b.Errorf("rotation %d of %s: %v", i, id, err)
						return
					}
				}
			})
			b.StopTimer()
			b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "rotations/s")
		})
	}
}
