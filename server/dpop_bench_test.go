package server_test

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"fmt"
	"net/http"
	"net/http/httptest"
	"net/url"
	"sync/atomic"
	"testing"
	"time"

	"github.com/go-jose/go-jose/v4"
)

// BenchmarkDPoPClientCredentialsParallel is BenchmarkDPoPClientCredentials
// on bolt with concurrent requests (b.RunParallel, 8 goroutines per
// -cpu): the jti mark of each proof is a bolt write, and the group commit lets
// the marks in flight share one commit and one fsync, so the cost of
// DPoP per request falls well below the serial figure (one fsync each).
//
//	go test -run '^$' -bench 'BenchmarkDPoPClientCredentials' -benchtime 300x ./server/
func BenchmarkDPoPClientCredentialsParallel(b *testing.B) {
	ba := newBenchApp(b, "bolt")
	requests := dpopBenchRequests(b, ba, "par-bench")
	for _, mode := range []string{"bearer", "dpop"} {
		b.Run(mode, func(b *testing.B) {
			reqs := requests(b.N, mode == "dpop")
			var next atomic.Int64
			b.SetParallelism(8)
			b.ReportAllocs()
			b.ResetTimer()
			start, cpu := time.Now(), processCPU()
			b.RunParallel(func(pb *testing.PB) {
				for pb.Next() {
					rec := httptest.NewRecorder()
					ba.public.ServeHTTP(rec, reqs[next.Add(1)-1])
					if rec.Code != http.StatusOK {
						b.Errorf("token endpoint: %d %s", rec.Code, rec.Body)
						return
					}
				}
			})
			b.ReportMetric(float64(time.Since(start).Microseconds())/float64(b.N), "µs/op")
			reportCPU(b, cpu)
		})
	}
}

// dpopBenchRequests registers an ES256 client_credentials client and
// returns a builder of n token requests for it, each with its own fresh
// DPoP proof when dpop is set (minted before the timer starts).
func dpopBenchRequests(b *testing.B, ba *benchApp, jtiPrefix string) func(n int, dpop bool) []*http.Request {
	c := ba.createClient(b, map[string]any{
		"client_name": "bench " + jtiPrefix, "grant_types": []string{"client_credentials"},
		"scope": "read", "access_token_signing_alg": "ES256",
	})
	form := url.Values{"grant_type": {"client_credentials"}, "scope": {"read"}}
	proof := tokenProofMinter(b, jtiPrefix)
	return func(n int, dpop bool) []*http.Request {
		reqs := make([]*http.Request, n)
		for i := range reqs {
			reqs[i] = tokenRequest(c, form)
			if dpop {
				reqs[i].Header.Set("DPoP", proof())
			}
		}
		return reqs
	}
}

// tokenProofMinter returns a function that mints DPoP proofs for the
// token endpoint (htm POST, htu the bench issuer's token URL) with one
// fresh ES256 key: each proof gets its own jti (prefix and a counter),
// since a proof works once (RFC 9449 §11.1). It is safe for concurrent
// use; benchmarks call it before the timer starts.
func tokenProofMinter(b *testing.B, prefix string) func() string {
	priv, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		b.Fatal(err)
	}
	signer, err := jose.NewSigner(jose.SigningKey{Algorithm: jose.ES256, Key: priv},
		&jose.SignerOptions{ExtraHeaders: map[jose.HeaderKey]any{"typ": "dpop+jwt", "jwk": jose.JSONWebKey{Key: &priv.PublicKey}}})
	if err != nil {
		b.Fatal(err)
	}
	var minted atomic.Int64
	return func() string {
		payload := fmt.Sprintf(`{"jti":"%s-%d","htm":"POST","htu":"http://127.0.0.1:8080/oauth2/token","iat":%d}`, prefix, minted.Add(1), time.Now().Unix())
		jws, err := signer.Sign([]byte(payload))
		if err != nil {
			b.Fatal(err)
		}
		s, _ := jws.CompactSerialize()
		return s
	}
}
