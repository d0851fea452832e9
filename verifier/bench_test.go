package verifier_test

import (
	"context"
	"testing"

	"github.com/authd-dev/authd/verifier/verifiertest"
)

// BenchmarkVerifyES256 measures Verify of an ES256 token with a warm JWKS
// cache: parse, claim checks, key lookup, one ECDSA verification.
func BenchmarkVerifyES256(b *testing.B) {
	e := newEnv(b)
	tok := e.iss.Issue(map[string]any{"aud": audience, "sub": "u", "scope": "read write"}, verifiertest.WithAlg("ES256"))
	ctx := context.Background()
	if _, err := e.v.Verify(ctx, tok); err != nil {
		b.Fatal(err)
	}
	b.ReportAllocs()
	for b.Loop() {
		if _, err := e.v.Verify(ctx, tok); err != nil {
			b.Fatal(err)
		}
	}
}
