package dpop

import (
	"errors"
	"strings"
	"testing"

	jose "github.com/go-jose/go-jose/v4"
)

// FuzzCheck feeds arbitrary header values to Check: it never panics, every
// error is an ErrInvalidProof, and a proof that passes carries a public key
// whose thumbprint is the JKT returned.
func FuzzCheck(f *testing.F) {
	ec := ecKey(f)
	good := sign(f, jose.ES256, ec, claimsFor(), nil)
	parts := strings.Split(good, ".")
	f.Add(good)
	f.Add(good[:len(good)-3] + "AAA")
	f.Add(parts[0] + "." + parts[1] + ".")
	f.Add(sign(f, jose.ES256, ec, with(claimsFor(), "iat", "x"), nil))
	f.Add(sign(f, jose.ES256, ec, claimsFor(), (&jose.SignerOptions{}).WithType(typ).WithHeader("jwk", jose.JSONWebKey{Key: ec})))
	f.Add(raw(f, map[string]any{"alg": "none", "typ": typ}, claimsFor(), ""))
	f.Add("eyJhbGciOiJub25lIn0.e30.")
	f.Add("a.b.c")
	f.Add(`{"payload":"e30","signatures":[{"protected":"e30","signature":""}]}`)
	f.Fuzz(func(t *testing.T, proof string) {
		p, err := Check(proof, opts())
		if err != nil {
			if !errors.Is(err, ErrInvalidProof) {
				t.Fatalf("Check error %v is not ErrInvalidProof", err)
			}
			if p != nil {
				t.Fatalf("Check returned a proof with its error")
			}
			return
		}
		if !p.Key.IsPublic() {
			t.Fatalf("accepted a non-public key")
		}
		jkt, err := Thumbprint(p.Key)
		if err != nil || jkt != p.JKT {
			t.Fatalf("JKT %s, thumbprint %s, %v", p.JKT, jkt, err)
		}
	})
}
