package verifier_test

import (
	"context"
	"errors"
	"net/http/httptest"
	"testing"

	jose "github.com/go-jose/go-jose/v4"

	"github.com/authd-dev/authd/verifier"
	"github.com/authd-dev/authd/verifier/verifiertest"
)

// FuzzVerify feeds arbitrary strings to Verify: it never panics, every
// error is one of the package's sentinels, and nothing verifies unless it
// carries the claims of a token the issuer minted.
func FuzzVerify(f *testing.F) {
	e := newEnv(f)
	minted := map[string]bool{}
	for _, alg := range []string{"RS256", "ES256"} {
		tok := e.iss.Issue(map[string]any{"aud": audience, "jti": "seed-" + alg}, verifiertest.WithAlg(alg))
		minted["seed-"+alg] = true
		f.Add(tok)
		f.Add(tok[:len(tok)-3] + "AAA")
	}
	f.Add(e.iss.Issue(map[string]any{"aud": audience}, verifiertest.WithType("JWT")))
	f.Add(e.iss.Issue(map[string]any{"aud": audience}, verifiertest.WithKeyID("nope")))
	f.Add("eyJhbGciOiJub25lIn0.e30.")
	f.Add("a.b.c")
	f.Add(`{"payload":"e30","signatures":[{"protected":"e30","signature":""}]}`)
	sentinels := []error{
		verifier.ErrMalformed, verifier.ErrUnsupportedAlg, verifier.ErrWrongType, verifier.ErrUnknownKey,
		verifier.ErrInvalidSignature, verifier.ErrInvalidIssuer, verifier.ErrInvalidAudience,
		verifier.ErrExpired, verifier.ErrNotYetValid,
	}
	f.Fuzz(func(t *testing.T, token string) {
		c, err := e.v.Verify(context.Background(), token)
		if err == nil {
			if !minted[c.ID] || c.Issuer != e.iss.URL() {
				t.Fatalf("accepted a token the issuer did not mint: %+v", c)
			}
			return
		}
		for _, s := range sentinels {
			if errors.Is(err, s) {
				return
			}
		}
		t.Fatalf("unclassified error %v", err)
	})
}

// FuzzVerifyRequestDPoP feeds arbitrary DPoP header values with a bound
// token to VerifyRequest: it never panics, every refusal is an
// ErrInvalidDPoPProof or ErrKeyBinding, and a request passes only with a
// proof the client's key signed.
func FuzzVerifyRequestDPoP(f *testing.F) {
	e := newEnv(f)
	key := verifiertest.NewDPoPKey(f, verifiertest.WithDPoPClock(e.clock.Now))
	tok := e.iss.Issue(map[string]any{"aud": audience}, verifiertest.WithJKT(key.JKT()))
	const target = "https://api.example/things"
	good := key.Proof("GET", target, tok)
	f.Add(good)
	f.Add(good[:len(good)-3] + "AAA")
	f.Add(key.Proof("POST", target, tok))
	f.Add(verifiertest.NewDPoPKey(f).Proof("GET", target, tok))
	f.Add(tok)
	f.Add("eyJhbGciOiJub25lIn0.e30.")
	f.Fuzz(func(t *testing.T, proof string) {
		r := httptest.NewRequest("GET", target, nil)
		r.Header.Set("Authorization", "DPoP "+tok)
		r.Header.Set("DPoP", proof)
		_, err := e.v.VerifyRequest(r)
		switch {
		case err == nil:
			jws, err := jose.ParseSignedCompact(proof, []jose.SignatureAlgorithm{jose.ES256})
			if err != nil {
				t.Fatalf("accepted %q, which go-jose cannot parse: %v", proof, err)
			}
			if _, err := jws.Verify(&key.PrivateKey().PublicKey); err != nil {
				t.Fatalf("accepted %q, not signed by the client's key", proof)
			}
		case errors.Is(err, verifier.ErrInvalidDPoPProof), errors.Is(err, verifier.ErrKeyBinding):
		default:
			t.Fatalf("unclassified error %v", err)
		}
	})
}
