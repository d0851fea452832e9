package bolt

import (
	"context"
	"strconv"
	"sync/atomic"
	"testing"
	"time"
)

// BenchmarkMarkUsed is the store write of one DPoP proof (its jti mark)
// on a real file, written four ways:
//
//   - "group": MarkUsed as it is, through the group commit (commit.go);
//   - "group-noregather": the same without the regathering of a closed
//     loop (a plain leader/follower queue);
//   - "batch": the same transaction through bbolt's DB.Batch with the
//     MaxBatchDelay of 500 µs the store used before the group commit;
//   - "update": the same transaction through DB.Update, one commit each;
//
// each called by one goroutine ("serial") and by many at once
// ("parallel", b.RunParallel with -cpu × 8 goroutines, like concurrent
// token requests). The group variants also report calls/commit.
//
//	go test -run '^$' -bench BenchmarkMarkUsed -benchtime 400x ./store/bolt/
func BenchmarkMarkUsed(b *testing.B) {
	ctx := context.Background()
	write := map[string]func(s *Store, key string, exp time.Time) error{
		"group":            func(s *Store, key string, exp time.Time) error { return s.MarkUsed(ctx, key, exp) },
		"group-noregather": func(s *Store, key string, exp time.Time) error { return s.MarkUsed(ctx, key, exp) },
		"batch": func(s *Store, key string, exp time.Time) error {
			var replayed bool
			return s.db.Batch(markUsedTx([]byte(key), exp, s.now(), &replayed))
		},
		"update": func(s *Store, key string, exp time.Time) error {
			var replayed bool
			return s.db.Update(markUsedTx([]byte(key), exp, s.now(), &replayed))
		},
	}
	setup := func(b *testing.B, name string) (*Store, *atomic.Int64, *atomic.Int64) {
		s, _ := open(b, Options{SweepInterval: -1})
		s.db.MaxBatchDelay = 500 * time.Microsecond
		s.commits.regather = name != "group-noregather"
		var commits, calls atomic.Int64
		s.commits.onCommit = func(n int, _ error) { commits.Add(1); calls.Add(int64(n)) }
		return s, &commits, &calls
	}
	report := func(b *testing.B, commits, calls *atomic.Int64) {
		if c := commits.Load(); c > 0 {
			b.ReportMetric(float64(calls.Load())/float64(c), "calls/commit")
		}
	}
	for _, name := range []string{"group", "group-noregather", "batch", "update"} {
		mark := write[name]
		b.Run(name+"/serial", func(b *testing.B) {
			s, commits, calls := setup(b, name)
			exp := time.Now().Add(time.Minute)
			i := 0
			for b.Loop() {
				i++
				if err := mark(s, "dpop:bench:"+strconv.Itoa(i), exp); err != nil {
					b.Fatal(err)
				}
			}
			report(b, commits, calls)
		})
		b.Run(name+"/parallel", func(b *testing.B) {
			s, commits, calls := setup(b, name)
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
			report(b, commits, calls)
		})
	}
}
