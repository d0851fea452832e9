package clients

import (
	"context"
	"fmt"
	"path/filepath"
	"testing"
	"time"

	"github.com/authd-dev/authd/internal/redistest"
	"github.com/authd-dev/authd/store"
	"github.com/authd-dev/authd/store/bolt"
	"github.com/authd-dev/authd/store/redis"
)

// BenchmarkAuthenticatePrivateKeyJWT measures private_key_jwt with the jti
// recorded in memory (the floor: signing and verifying the assertion), in
// bolt and in Redis; the differences are the cost of the shared record.
func BenchmarkAuthenticatePrivateKeyJWT(b *testing.B) {
	ec, _ := testKeys(b)
	ctx := context.Background()
	backends := map[string]func(b *testing.B) store.ReplayCache{
		"memory": func(*testing.B) store.ReplayCache { return newMemReplay(time.Now) },
		"bolt": func(b *testing.B) store.ReplayCache {
			st, err := bolt.Open(filepath.Join(b.TempDir(), "db"), bolt.Options{SweepInterval: -1})
			if err != nil {
				b.Fatal(err)
			}
			b.Cleanup(func() { st.Close() })
			return st
		},
		"redis": func(b *testing.B) store.ReplayCache {
			rdb := redistest.Client(b)
			st, err := redis.Open(ctx, redis.Options{URL: redistest.URL(b), Prefix: redistest.Prefix(b, rdb)})
			if err != nil {
				b.Fatal(err)
			}
			b.Cleanup(func() { st.Close() })
			return st
		},
	}
	for _, name := range []string{"memory", "bolt", "redis"} {
		b.Run(name, func(b *testing.B) {
			st := newMemStore()
			r, err := NewRegistry(Config{Store: st, SecretKey: testKey, Logger: quiet, Issuer: testIssuer, Replay: backends[name](b)})
			if err != nil {
				b.Fatal(err)
			}
			if _, err := r.Create(ctx, Metadata{ClientID: "svc", TokenEndpointAuthMethod: AuthPrivateKeyJWT, JWKS: jwksOf(b, publicJWK(ec, "ec-1"))}); err != nil {
				b.Fatal(err)
			}
			n := 0
			b.ReportAllocs()
			for b.Loop() {
				n++
				now := time.Now()
				a := assertion(b, ec, "ec-1", map[string]any{"iss": "svc", "sub": "svc", "aud": testIssuer, "iat": now.Unix(), "exp": now.Add(time.Minute).Unix(), "jti": fmt.Sprint(name, "-", n)})
				if _, err := r.Authenticate(ctx, assertionForm(a)); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}
