package verifierbench

import (
	"context"
	"testing"

	"github.com/coreos/go-oidc/v3/oidc"
	jose "github.com/go-jose/go-jose/v4"
	"github.com/go-jose/go-jose/v4/jwt"

	"github.com/authd-dev/authd/verifier"
	"github.com/authd-dev/authd/verifier/verifiertest"
)

const audience = "https://api.example.com"

// BenchmarkVerify measures one verification of a warm-cache access token
// per iteration, single goroutine (so verifications/s is per core), for
// RS256 and ES256, through:
//
//   - verifier: verifier.Verify, every RFC 9068 §4 check and the claims;
//   - gojose: the floor, bare go-jose: jwt.ParseSigned with the allowlist,
//     then Claims(key, &map) (signature + JSON decode), no claim checks;
//   - gooidc: go-oidc's IDTokenVerifier over a warm RemoteKeySet (iss,
//     aud, exp, signature; no typ).
//
// Compare ns/op and allocs/op of the sub-benchmarks of one run:
// `go test -run '^$' -bench Verify -benchmem -count 3 ./internal/verifierbench/`.
func BenchmarkVerify(b *testing.B) {
	iss := verifiertest.NewIssuer(b)
	ctx := context.Background()
	for _, alg := range []string{"RS256", "ES256"} {
		tok := iss.Issue(map[string]any{"aud": audience, "sub": "user-1", "client_id": "app", "scope": "read write",
			"roles": []string{"admin"}, "sid": "family-1"}, verifiertest.WithAlg(alg))
		pub := iss.PublicKey(alg)
		b.Run(alg+"/verifier", func(b *testing.B) {
			v, err := verifier.New(ctx, iss.URL(), verifier.WithAudience(audience), verifier.WithHTTPClient(iss.Client()))
			if err != nil {
				b.Fatal(err)
			}
			defer v.Close()
			if _, err := v.Verify(ctx, tok); err != nil { // warms the JWKS cache
				b.Fatal(err)
			}
			run(b, func() error { _, err := v.Verify(ctx, tok); return err })
		})
		b.Run(alg+"/gojose", func(b *testing.B) {
			algs := []jose.SignatureAlgorithm{jose.RS256, jose.ES256}
			run(b, func() error {
				t, err := jwt.ParseSigned(tok, algs)
				if err != nil {
					return err
				}
				var claims map[string]any
				return t.Claims(pub, &claims)
			})
		})
		b.Run(alg+"/gooidc", func(b *testing.B) {
			octx := oidc.ClientContext(ctx, iss.Client())
			keys := oidc.NewRemoteKeySet(octx, iss.URL()+verifiertest.PathJWKS)
			v := oidc.NewVerifier(iss.URL(), keys, &oidc.Config{ClientID: audience, SupportedSigningAlgs: []string{"RS256", "ES256"}})
			if _, err := v.Verify(octx, tok); err != nil { // warms the key set
				b.Fatal(err)
			}
			run(b, func() error { _, err := v.Verify(octx, tok); return err })
		})
	}
}

// run times verify and reports verifications per second (per core: one
// goroutine).
func run(b *testing.B, verify func() error) {
	b.ReportAllocs()
	for b.Loop() {
		if err := verify(); err != nil {
			b.Fatal(err)
		}
	}
	b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "verifications/s")
}
