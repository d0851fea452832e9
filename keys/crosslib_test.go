package keys

import (
	"bytes"
	"testing"

	"github.com/lestrrat-go/jwx/v3/jwk"
	"github.com/lestrrat-go/jwx/v3/jws"
)

// TestSecondLibraryVerifies checks tokens from Sign against the JWKS body
// with lestrrat-go/jwx, an independent JOSE implementation.
func TestSecondLibraryVerifies(t *testing.T) {
	m := newManager(t, &fakeStore{}, newClock(), nil)
	set, err := jwk.Parse(m.JWKS().Body)
	if err != nil {
		t.Fatalf("jwx cannot parse our JWKS: %v", err)
	}
	if set.Len() != 4 { // an active and a published next key per alg
		t.Fatalf("jwx sees %d keys, want 4", set.Len())
	}
	for _, alg := range []string{RS256, ES256} {
		for _, typ := range []string{TypeAccessToken, TypeIDToken} {
			payload := []byte(`{"iss":"https://issuer.example","sub":"alice"}`)
			tok, kid, err := m.Sign(alg, typ, payload)
			if err != nil {
				t.Fatal(err)
			}
			got, err := jws.Verify([]byte(tok), jws.WithKeySet(set))
			if err != nil {
				t.Fatalf("%s %s: jwx rejects our token: %v", alg, typ, err)
			}
			if !bytes.Equal(got, payload) {
				t.Fatalf("%s: jwx payload %s", alg, got)
			}
			msg, err := jws.Parse([]byte(tok))
			if err != nil {
				t.Fatal(err)
			}
			h := msg.Signatures()[0].ProtectedHeaders()
			if k, _ := h.KeyID(); k != kid {
				t.Errorf("%s: jwx kid %q, want %q", alg, k, kid)
			}
			if ty, _ := h.Type(); ty != typ {
				t.Errorf("%s: jwx typ %q, want %q", alg, ty, typ)
			}
			if a, _ := h.Algorithm(); a.String() != alg {
				t.Errorf("jwx alg %q, want %q", a, alg)
			}
			tampered := []byte(tok)
			tampered[len(tampered)-5] ^= 1
			if _, err := jws.Verify(tampered, jws.WithKeySet(set)); err == nil {
				t.Errorf("%s: jwx accepts a tampered signature", alg)
			}
		}
	}
}
