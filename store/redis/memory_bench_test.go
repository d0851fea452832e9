package redis

import (
	"context"
	"crypto/rand"
	"encoding/base64"
	"sync"
	"testing"
	"time"

	"github.com/authd-dev/authd/store"
)

func randomID(n int) string {
	buf := make([]byte, n)
	rand.Read(buf)
	return base64.RawURLEncoding.EncodeToString(buf)
}

// parallel runs fn(i) for i in [0, n) on 32 goroutines.
func parallel(b *testing.B, n int, fn func(i int) error) {
	var wg sync.WaitGroup
	errs := make(chan error, 32)
	next := make(chan int, 1024)
	for range 32 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range next {
				if err := fn(i); err != nil {
					errs <- err
					return
				}
			}
		}()
	}
	for i := range n {
		next <- i
	}
	close(next)
	wg.Wait()
	close(errs)
	if err := <-errs; err != nil {
		b.Fatal(err)
	}
}

// BenchmarkMemoryPerLogin creates 100,000 live logins shaped as the tokens
// package makes them (22-character ids, 16-byte digests, a 60-byte sealed
// successor, one rotation each) and reports Redis's used_memory growth per
// login, the figure that bounds Redis memory by live logins.
//
// Without a reuse leeway (the default) no sealed successor is stored; with
// one, each login also keeps a 60-byte sealed successor.
func BenchmarkMemoryPerLogin(b *testing.B) {
	for _, leeway := range []bool{false, true} {
		name := "no-leeway"
		if leeway {
			name = "with-leeway"
		}
		b.Run(name, func(b *testing.B) {
			m := loginMemory[leeway]
			m.once.Do(func() { m.perLogin, m.perKey = measureLogins(b, leeway) })
			for range b.N {
			}
			b.ReportMetric(m.perLogin, "B/login")
			b.ReportMetric(m.perKey, "B/key(MEMORY-USAGE)")
		})
	}
}

type memoryFigure struct {
	once             sync.Once
	perLogin, perKey float64
}

var (
	loginMemory              = map[bool]*memoryFigure{false: {}, true: {}}
	denialMemory             sync.Once
	denialBytes, streamBytes float64
)

func measureLogins(b *testing.B, leeway bool) (perLogin, perKey float64) {
	const logins = 100_000
	s := openTest(b, Options{})
	ctx := context.Background()
	before := usedMemory(b, s.rdb)
	now := time.Now()
	client := randomID(16)
	parallel(b, logins, func(i int) error {
		f := store.Family{
			ID: randomID(16), ClientID: client, Subject: randomID(16), Scope: "openid profile email offline_access",
			Audience: []string{"https://api.example.com"}, AuthTime: now, CreatedAt: now,
			ExpiresAt: now.Add(720 * time.Hour), IdleExpiresAt: now.Add(72 * time.Hour), Current: []byte(randomID(12))[:16],
		}
		if err := s.CreateFamily(ctx, f); err != nil {
			return err
		}
		r := store.Rotation{FamilyID: f.ID, Presented: f.Current, Next: []byte(randomID(12))[:16], Now: now, IdleTTL: 72 * time.Hour}
		if leeway {
			r.SealedNext, r.Leeway, r.MaxRetries = []byte(randomID(45))[:60], 10*time.Second, 3
		}
		_, err := s.RotateRefresh(ctx, r)
		return err
	})
	after := usedMemory(b, s.rdb)
	var sample int64
	if keys, _, _ := s.rdb.Scan(ctx, 0, s.prefix+"fam:*", 100).Result(); len(keys) > 0 {
		sample, _ = s.rdb.MemoryUsage(ctx, keys[0]).Result()
	}
	return float64(after-before) / logins, float64(sample)
}

// BenchmarkMemoryPerDenial revokes 20,000 access tokens by jti (15 minutes
// of life each) and reports used_memory growth per revoked token, and the
// revocation feed stream's share.
func BenchmarkMemoryPerDenial(b *testing.B) {
	denialMemory.Do(func() { denialBytes, streamBytes = measureDenials(b) })
	for range b.N {
	}
	b.ReportMetric(denialBytes, "B/revoked-token")
	b.ReportMetric(streamBytes, "B/revoked-token(feed-stream)")
}

func measureDenials(b *testing.B) (perDenial, perStreamRecord float64) {
	const denials = 20_000
	s := openTest(b, Options{})
	ctx := context.Background()
	before := usedMemory(b, s.rdb)
	now := time.Now()
	parallel(b, denials, func(i int) error {
		return s.Deny(ctx, store.Denial{Kind: store.DenyJTI, Value: randomID(16), At: now, ExpiresAt: now.Add(15 * time.Minute)})
	})
	after := usedMemory(b, s.rdb)
	stream, _ := s.rdb.MemoryUsage(ctx, s.feedKey(), 0).Result()
	return float64(after-before) / denials, float64(stream) / denials
}
