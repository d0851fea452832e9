package keys

import (
	"crypto"
	"crypto/ecdsa"
	"crypto/rsa"
	"testing"
	"time"

	"github.com/go-jose/go-jose/v4"
)

var benchClaims = []byte(`{"iss":"https://issuer.example","sub":"user-123","aud":"api","exp":1893456000,"iat":1893455100,"jti":"8f14e45fceea167a5a36dedd4bea2543","client_id":"billing","scope":"read write"}`)

func benchSign(b *testing.B, alg string) {
	m := newManager(b, &fakeStore{}, newClock(), nil)
	b.ReportAllocs()
	start := processCPU()
	b.ResetTimer()
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			if _, _, err := m.Sign(alg, TypeAccessToken, benchClaims); err != nil {
				b.Error(err)
				return
			}
		}
	})
	reportCPU(b, start)
}

// reportCPU reports the process CPU per op since start as cpu-µs/op: on
// a shared machine it moves far less with other load than ns/op.
func reportCPU(b *testing.B, start time.Duration) {
	b.StopTimer()
	b.ReportMetric(float64((processCPU()-start).Nanoseconds())/1e3/float64(b.N), "cpu-µs/op")
}

// BenchmarkSignES256 signs through Manager.Sign (snapshot, cached signer,
// crypto.Signer seam).
func BenchmarkSignES256(b *testing.B) { benchSign(b, ES256) }

// BenchmarkSignRS256 is BenchmarkSignES256 for RS256.
func BenchmarkSignRS256(b *testing.B) { benchSign(b, RS256) }

// benchBareSign signs with a go-jose signer on the raw private key (no
// cryptosigner), the baseline of our path's overhead.
func benchBareSign(b *testing.B, alg string) {
	m := newManager(b, &fakeStore{}, newClock(), nil)
	k := m.snap.Load().active[alg]
	var raw crypto.Signer
	switch key := k.signer.(type) {
	case *rsa.PrivateKey:
		raw = key
	case *ecdsa.PrivateKey:
		raw = key
	}
	s, err := jose.NewSigner(jose.SigningKey{Algorithm: jose.SignatureAlgorithm(alg), Key: raw},
		(&jose.SignerOptions{}).WithType(TypeAccessToken).WithHeader("kid", k.kid))
	if err != nil {
		b.Fatal(err)
	}
	b.ReportAllocs()
	start := processCPU()
	b.ResetTimer()
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			obj, err := s.Sign(benchClaims)
			if err != nil {
				b.Error(err)
				return
			}
			if _, err := obj.CompactSerialize(); err != nil {
				b.Error(err)
				return
			}
		}
	})
	reportCPU(b, start)
}

// BenchmarkBareSignES256 is the raw go-jose baseline for ES256.
func BenchmarkBareSignES256(b *testing.B) { benchBareSign(b, ES256) }

// BenchmarkBareSignRS256 is the raw go-jose baseline for RS256.
func BenchmarkBareSignRS256(b *testing.B) { benchBareSign(b, RS256) }

// BenchmarkJWKS is the JWKS hot path (snapshot load, max-age, counter).
func BenchmarkJWKS(b *testing.B) {
	m := newManager(b, &fakeStore{}, newClock(), nil)
	b.ReportAllocs()
	b.ResetTimer()
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			if len(m.JWKS().Body) == 0 {
				b.Error("empty JWKS")
				return
			}
		}
	})
}

// BenchmarkVerifyES256 verifies an ES256 access token.
func BenchmarkVerifyES256(b *testing.B) {
	m := newManager(b, &fakeStore{}, newClock(), nil)
	tok, _, err := m.Sign(ES256, TypeAccessToken, benchClaims)
	if err != nil {
		b.Fatal(err)
	}
	b.ReportAllocs()
	b.ResetTimer()
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			if _, _, _, err := m.Verify(tok); err != nil {
				b.Error(err)
				return
			}
		}
	})
}
