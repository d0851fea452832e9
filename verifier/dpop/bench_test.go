package dpop

import (
	"crypto/ecdsa"
	"crypto/sha256"
	"testing"
	"time"

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

// BenchmarkCheckParts splits Check of an ES256 proof into what go-jose
// does and what the package adds. It interleaves blocks of Check; of
// go-jose alone (ParseSignedCompact of the proof, then Verify with the
// parsed jwk: the two calls Check makes); of the parse alone; and of one
// bare crypto/ecdsa P-256 verification, keeping each one's fastest block
// (see BenchmarkDPoPRatio in the verifier package for why). It reports the
// µs of each and own-µs/op, Check minus go-jose: the claims, typ, jwk,
// htm, htu, iat and ath checks and the thumbprint. (Its ns/op means
// nothing.)
func BenchmarkCheckParts(b *testing.B) {
	const block = 50
	k := ecKey(b)
	proof := sign(b, jose.ES256, k, claimsFor(), nil)
	o := opts()
	algs, err := o.validate()
	if err != nil {
		b.Fatal(err)
	}
	digest := sha256.Sum256([]byte("a DPoP proof's signing input"))
	sig, err := ecdsa.SignASN1(nil, k, digest[:])
	if err != nil {
		b.Fatal(err)
	}
	best := map[string]time.Duration{}
	keep := func(name string, began time.Time) {
		if d := time.Since(began); best[name] == 0 || d < best[name] {
			best[name] = d
		}
	}
	for b.Loop() {
		began := time.Now()
		for range block {
			if _, err := Check(proof, o); err != nil {
				b.Fatal(err)
			}
		}
		keep("check", began)
		began = time.Now()
		for range block {
			jws, err := jose.ParseSignedCompact(proof, algs)
			if err != nil {
				b.Fatal(err)
			}
			if _, err := jws.Verify(jws.Signatures[0].Header.JSONWebKey); err != nil {
				b.Fatal(err)
			}
		}
		keep("gojose", began)
		began = time.Now()
		for range block {
			if _, err := jose.ParseSignedCompact(proof, algs); err != nil {
				b.Fatal(err)
			}
		}
		keep("parse", began)
		began = time.Now()
		for range block {
			if !ecdsa.VerifyASN1(&k.PublicKey, digest[:], sig) {
				b.Fatal("signature does not verify")
			}
		}
		keep("es256", began)
	}
	us := func(name string) float64 { return float64(best[name].Nanoseconds()) / block / 1e3 }
	for _, name := range []string{"check", "gojose", "parse", "es256"} {
		b.ReportMetric(us(name), name+"-µs/op")
	}
	b.ReportMetric(us("check")-us("gojose"), "own-µs/op")
}
