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

func randomBytes(n int) []byte {
	buf := make([]byte, n)
	rand.Read(buf)
	return buf
}

// The sizes the token service stores (tokens/refresh.go): a digest is
// SHA-256 truncated to 128 bits; a sealed successor is AES-256-GCM over
// the 32-byte secret: 12-byte nonce, 32 bytes, 16-byte tag.
const (
	serviceDigestLen = 16
	serviceSealedLen = 12 + 32 + 16
)

// serviceFamily is a login shaped as tokens.newFamily builds it: family,
// client and subject ids of 16 random bytes in base64url (22 characters),
// the resolved audience (the issuer by default), a 16-byte digest.
func serviceFamily(clientID string, now time.Time) store.Family {
	return store.Family{
		ID: randomID(16), ClientID: clientID, Subject: randomID(16), Scope: "openid profile email offline_access",
		Audience: []string{"https://auth.example.com"}, AuthTime: now, CreatedAt: now,
		ExpiresAt: now.Add(720 * time.Hour), IdleExpiresAt: now.Add(72 * time.Hour),
		Current: randomBytes(serviceDigestLen),
	}
}

// serviceRotation is the rotation the refresh grant asks for
// (tokens/grant_refresh.go): the successor's digest and, only with a reuse
// leeway, the sealed successor.
func serviceRotation(f store.Family, now time.Time, leeway bool) store.Rotation {
	r := store.Rotation{FamilyID: f.ID, Presented: f.Current, Next: randomBytes(serviceDigestLen), Now: now, IdleTTL: 72 * time.Hour}
	if leeway {
		r.SealedNext, r.Leeway, r.MaxRetries = randomBytes(serviceSealedLen), 10*time.Second, 3
	}
	return r
}

// parallel runs fn(i) for i in [0, n) on 32 goroutines.
func parallel(tb testing.TB, n int, fn func(i int) error) {
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
		tb.Fatal(err)
	}
}

// TestMemoryPerLogin measures what one live login costs in Redis: 10,000
// logins shaped as the token service writes them (serviceFamily), each
// created and rotated once through the store's own CreateFamily and
// RotateRefresh, without a reuse leeway (the default: no sealed successor
// is stored) and with one (a 60-byte sealed successor). It asserts MEMORY
// USAGE under 512 bytes per family key and logs it with the used_memory
// delta per login (other tests may share the server, so that figure is
// only reported).
func TestMemoryPerLogin(t *testing.T) {
	if testing.Short() {
		t.Skip("writes 20,000 families; not in -short")
	}
	for _, leeway := range []bool{false, true} {
		name := "no-leeway"
		if leeway {
			name = "with-leeway"
		}
		t.Run(name, func(t *testing.T) {
			const n = 10_000
			ctx := context.Background()
			s := openTest(t, Options{})
			now := time.Now()
			client := randomID(16)
			ids := make([]string, n)
			before := usedMemory(t, s.rdb)
			parallel(t, n, func(i int) error {
				f := serviceFamily(client, now)
				ids[i] = f.ID
				if err := s.CreateFamily(ctx, f); err != nil {
					return err
				}
				_, err := s.RotateRefresh(ctx, serviceRotation(f, now, leeway))
				return err
			})
			after := usedMemory(t, s.rdb)

			wantSealed := 0
			if leeway {
				wantSealed = serviceSealedLen
			}
			f, err := s.GetFamily(ctx, ids[n/2])
			if err != nil || f.Generation != 1 || len(f.Current) != serviceDigestLen || len(f.Previous) != serviceDigestLen ||
				len(f.SealedCurrent) != wantSealed || len(f.ID) != 22 {
				t.Fatalf("sample family = %+v, %v; want one rotation of a service-shaped login", f, err)
			}
			var total, most int64
			for i := 0; i < n; i += n / 100 {
				u, err := s.rdb.MemoryUsage(ctx, s.familyKey(ids[i]), 0).Result()
				if err != nil {
					t.Fatal(err)
				}
				total += u
				most = max(most, u)
			}
			t.Logf("%s: MEMORY USAGE per family key: mean %d B, max %d B (100 samples); used_memory delta %d B per login (%d logins)",
				name, total/100, most, (after-before)/n, n)
			if most >= 512 {
				t.Fatalf("a live login takes %d bytes of Redis memory, want < 512", most)
			}
		})
	}
}

// BenchmarkMemoryPerLogin creates 100,000 live logins shaped as the tokens
// package makes them (serviceFamily, serviceRotation: 22-character ids,
// 16-byte digests, a 60-byte sealed successor with a leeway, one rotation
// each) and reports Redis's used_memory growth per login, the figure that
// bounds Redis memory by live logins.
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
		f := serviceFamily(client, now)
		if err := s.CreateFamily(ctx, f); err != nil {
			return err
		}
		_, err := s.RotateRefresh(ctx, serviceRotation(f, now, leeway))
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
