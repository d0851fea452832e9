package redis

import (
	"context"
	"fmt"
	"strconv"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	goredis "github.com/redis/go-redis/v9"

	"github.com/authd-dev/authd/store"
)

// roundTrips counts the commands and pipelines one client sends.
type roundTrips struct{ n atomic.Int64 }

func (h *roundTrips) DialHook(next goredis.DialHook) goredis.DialHook { return next }

func (h *roundTrips) ProcessHook(next goredis.ProcessHook) goredis.ProcessHook {
	return func(ctx context.Context, cmd goredis.Cmder) error {
		h.n.Add(1)
		return next(ctx, cmd)
	}
}

func (h *roundTrips) ProcessPipelineHook(next goredis.ProcessPipelineHook) goredis.ProcessPipelineHook {
	return func(ctx context.Context, cmds []goredis.Cmder) error {
		h.n.Add(1)
		return next(ctx, cmds)
	}
}

// BenchmarkRotateRefresh rotates refresh tokens of many logins in
// parallel (one login per goroutine, as real clients are). It reports
// rotations/s, the round trips per rotation counted on the client, and
// the server's INFO commandstats deltas per rotation: evalsha, and every
// command, which counts the script's own GET and SET (so 3 is one EVALSHA
// and nothing else) plus whatever other clients of a shared Redis sent.
// Eight goroutines per CPU stand for concurrent requests: a rotation is
// bound by latency, not by this process's CPU.
func BenchmarkRotateRefresh(b *testing.B) {
	ctx := context.Background()
	s := openTest(b, Options{})
	if err := rotateScript.Load(ctx, s.rdb).Err(); err != nil {
		b.Fatal(err)
	}
	sealed := make([]byte, 117)
	var logins atomic.Int64
	// Each goroutine creates its login before its first rotation; those
	// creates are subtracted from the counts below.
	h := &roundTrips{}
	s.rdb.AddHook(h)
	before := commandStats(b, s.rdb)
	b.SetParallelism(8)
	b.ResetTimer()
	b.RunParallel(func(pb *testing.PB) {
		id := fmt.Sprintf("bench-%016d", logins.Add(1))
		now := time.Now()
		f := loginFamily(id, now)
		f.Current = digestOf(id + "/0")
		if err := s.CreateFamily(ctx, f); err != nil {
			b.Error(err)
			return
		}
		for i := 1; pb.Next(); i++ {
			r := store.Rotation{
				FamilyID:   id,
				Presented:  digestOf(id + "/" + strconv.Itoa(i-1)),
				Next:       digestOf(id + "/" + strconv.Itoa(i)),
				SealedNext: sealed,
				Now:        time.Now(),
				IdleTTL:    72 * time.Hour,
			}
			if _, err := s.RotateRefresh(ctx, r); err != nil {
				b.Errorf("rotation %d of %s: %v", i, id, err)
				return
			}
		}
	})
	b.StopTimer()
	after := commandStats(b, s.rdb)
	creates := logins.Load()
	n := float64(b.N)
	b.ReportMetric(n/b.Elapsed().Seconds(), "rotations/s")
	b.ReportMetric(float64(h.n.Load()-creates)/n, "roundtrips/op")
	b.ReportMetric(float64(after["evalsha"]-before["evalsha"]-creates)/n, "server-evalsha/op")
	b.ReportMetric(float64(after[""]-before[""]-creates)/n, "server-cmds/op")
}

// commandStats reads INFO commandstats: calls per command, and the total
// under "".
func commandStats(b *testing.B, rdb goredis.UniversalClient) map[string]int64 {
	b.Helper()
	info, err := rdb.InfoMap(context.Background(), "commandstats").Result()
	if err != nil {
		b.Fatal(err)
	}
	out := map[string]int64{}
	for k, v := range info["Commandstats"] {
		name := strings.TrimPrefix(k, "cmdstat_")
		calls, _, _ := strings.Cut(strings.TrimPrefix(v, "calls="), ",")
		c, err := strconv.ParseInt(calls, 10, 64)
		if err != nil {
			b.Fatalf("commandstats %s=%q: %v", k, v, err)
		}
		out[name] = c
		out[""] += c
	}
	return out
}

// BenchmarkDeny adds denylist entries in parallel: each is the entry
// script and the feed append (with its trim check) in one MULTI/EXEC.
// It reports denials/s and round trips per Deny counted on the client.
func BenchmarkDeny(b *testing.B) {
	ctx := context.Background()
	s := openTest(b, Options{})
	for _, sc := range []*goredis.Script{denyScript, feedAppendScript} {
		if err := sc.Load(ctx, s.rdb).Err(); err != nil {
			b.Fatal(err)
		}
	}
	h := &roundTrips{}
	s.rdb.AddHook(h)
	var n atomic.Int64
	b.SetParallelism(8)
	b.ResetTimer()
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			now := time.Now()
			d := store.Denial{Kind: store.DenyJTI, Value: "bench-" + strconv.FormatInt(n.Add(1), 10), At: now, ExpiresAt: now.Add(time.Hour)}
			if err := s.Deny(ctx, d); err != nil {
				b.Error(err)
				return
			}
		}
	})
	b.StopTimer()
	b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "denials/s")
	b.ReportMetric(float64(h.n.Load())/float64(b.N), "roundtrips/op")
}

// BenchmarkDenials reads the merged snapshot of a feed of 10 000 live
// records (what a follower does when it starts or falls behind).
func BenchmarkDenials(b *testing.B) {
	ctx := context.Background()
	s := openTest(b, Options{})
	const records = 10000
	now := time.Now()
	for i := range records {
		d := store.Denial{Kind: store.DenyJTI, Value: "bench-" + strconv.Itoa(i), At: now, ExpiresAt: now.Add(time.Hour)}
		if err := s.Deny(ctx, d); err != nil {
			b.Fatal(err)
		}
	}
	b.ResetTimer()
	for b.Loop() {
		all, _, err := s.Denials(ctx)
		if err != nil || len(all) != records {
			b.Fatalf("Denials = %d, %v; want %d", len(all), err, records)
		}
	}
}
