package verifier_test

import (
	"context"
	"errors"
	"testing"

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
