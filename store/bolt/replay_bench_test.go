package bolt

import (
	"context"
	"strconv"
	"sync/atomic"
	"testing"
	"time"
)

// BenchmarkMarkUsed is the store write of one DPoP proof (its jti mark)
// on a real file: "batch" is MarkUsed as it is (DB.Batch), "update" the
// same transaction through DB.Update (one commit, one fsync, per call),
// each called by one goroutine ("serial") and by many at once
// ("parallel", b.RunParallel with -cpu × 8 goroutines, like concurrent
// token requests). Batch pays up to MaxBatchDelay alone and shares one
// fsync among the calls in flight.
//
//	go test -run '^$' -bench BenchmarkMarkUsed -benchtime 200x ./store/bolt/
func BenchmarkMarkUsed(b *testing.B) {
	ctx := context.Background()
	write := map[string]func(s *Store, key string, exp time.Time) error{
		"batch": func(s *Store, key string, exp time.Time) error { return s.MarkUsed(ctx, key, exp) },
		"update": func(s *Store, key string, exp time.Time) error {
			var replayed bool
			return s.db.Update(markUsedTx([]byte(key), exp, s.now(), &replayed))
		},
	}
	for _, name := range []string{"batch", "update"} {
		mark := write[name]
		b.Run(name+"/serial", func(b *testing.B) {
			s, _ := open(b, Options{SweepInterval: -1})
			exp := time.Now().Add(time.Minute)
			i := 0
			for b.Loop() {
				i++
				if err := mark(s, "dpop:bench:"+strconv.Itoa(i), exp); err != nil {
					b.Fatal(err)
				}
			}
		})
		b.Run(name+"/parallel", func(b *testing.B) {
			s, _ := open(b, Options{SweepInterval: -1})
			exp := time.Now().Add(time.Minute)
			var n atomic.Int64
			b.SetParallelism(8)
			b.ResetTimer()
			b.RunParallel(func(pb *testing.PB) {
				for pb.Next() {
					if err := mark(s, "dpop:bench:"+strconv.FormatInt(n.Add(1), 10), exp); err != nil {
						b.Error(err)
						return
					}
				}
			})
		})
	}
}
