package keys

import (
	"crypto"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/rsa"
	"io"
	"sync/atomic"
	"testing"

	"github.com/go-jose/go-jose/v4"
)

// countingSigner stands for an external signer (a KMS or HSM): a
// crypto.Signer that is not one of go-jose's native key types.
type countingSigner struct {
	crypto.Signer
	calls atomic.Int64
}

func (s *countingSigner) Sign(r io.Reader, digest []byte, opts crypto.SignerOpts) ([]byte, error) {
	s.calls.Add(1)
	return s.Signer.Sign(r, digest, opts)
}

// TestSignerSeams: a sealed software key and an external crypto.Signer
// (a KMS or HSM) both sign through the crypto.Signer seam: JWSs that
// verify with the public key, with the header authd promises and, for
// ES256, the 64-byte R||S signature of RFC 7518 §3.4.
func TestSignerSeams(t *testing.T) {
	ec, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	rs, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		name string
		alg  string
		key  crypto.Signer
	}{
		{"ES256 in process", ES256, ec},
		{"ES256 external", ES256, &countingSigner{Signer: ec}},
		{"RS256 in process", RS256, rs},
		{"RS256 external", RS256, &countingSigner{Signer: rs}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			o := &openedKey{kid: "kid-1", alg: tc.alg, signer: tc.key}
			s, err := o.newSigner(TypeAccessToken)
			if err != nil {
				t.Fatal(err)
			}
			tok := mustSign(t, s, `{"sub":"x"}`)
			obj, err := jose.ParseSignedCompact(tok, []jose.SignatureAlgorithm{jose.SignatureAlgorithm(tc.alg)})
			if err != nil {
				t.Fatal(err)
			}
			payload, err := obj.Verify(tc.key.Public())
			if err != nil || string(payload) != `{"sub":"x"}` {
				t.Fatalf("Verify = %q, %v", payload, err)
			}
			h := obj.Signatures[0].Header
			if h.KeyID != "kid-1" || h.Algorithm != tc.alg || h.ExtraHeaders[jose.HeaderType] != TypeAccessToken {
				t.Errorf("header kid %q alg %q typ %v", h.KeyID, h.Algorithm, h.ExtraHeaders[jose.HeaderType])
			}
			if tc.alg == ES256 && len(obj.Signatures[0].Signature) != 64 {
				t.Errorf("ES256 signature of %d bytes; want 64 (R||S)", len(obj.Signatures[0].Signature))
			}
			if c, ok := tc.key.(*countingSigner); ok && c.calls.Load() != 1 {
				t.Errorf("external signer called %d times; want 1", c.calls.Load())
			}
		})
	}
}
