package dpop

import (
	"testing"

	jose "github.com/go-jose/go-jose/v4"
)

// BenchmarkCheck measures Check of an ES256 proof: the signature is most
// of it; the rest is go-jose's parse of the header and its jwk.
func BenchmarkCheck(b *testing.B) {
	proof := sign(b, jose.ES256, ecKey(b), claimsFor(), nil)
	o := opts()
	b.ReportAllocs()
	for b.Loop() {
		if _, err := Check(proof, o); err != nil {
			b.Fatal(err)
		}
	}
}
