package app_test

import (
	"context"
	"errors"
	"net/url"
	"testing"
	"time"

	"github.com/authd-dev/authd/verifier"
)

// TestVerifierAgainstAuthd: the public verifier package checks real authd
// tokens locally and honours a revocation made through authd within one
// second, through the revocation feed.
func TestVerifierAgainstAuthd(t *testing.T) {
	forEachStore(t, func(t *testing.T, storeArgs []string) {
		in := start(t, "", storeArgs...)
		const api = "https://api.example.com"
		rs := in.createClient(map[string]any{"client_name": "orders api"})
		c := in.createClient(map[string]any{"client_name": "svc", "scope": "orders:read", "audience": []string{api},
			"access_token_signing_alg": "ES256"})
		ctx := context.Background()
		v, err := verifier.New(ctx, in.Issuer, verifier.WithAudience(api), verifier.WithRevocationFeed(rs.ClientID, rs.ClientSecret))
		if err != nil {
			t.Fatalf("verifier.New: %v", err)
		}
		defer v.Close()
		tok := in.token(c.ClientID, c.ClientSecret, url.Values{"grant_type": {"client_credentials"}}).AccessToken
		claims, err := v.Verify(ctx, tok)
		if err != nil {
			t.Fatalf("verify: %v", err)
		}
		if claims.ClientID != c.ClientID || !claims.HasScope("orders:read") {
			t.Errorf("claims %+v", claims)
		}
		if st := in.revoke(c, tok, "access_token"); st != 200 {
			t.Fatalf("revoke: %d", st)
		}
		began := time.Now()
		if !eventually(t, time.Second, func() bool {
			_, err := v.Verify(ctx, tok)
			return errors.Is(err, verifier.ErrRevoked)
		}) {
			t.Fatal("the verifier did not see the revocation within 1s")
		}
		t.Logf("revocation reached the verifier in %v", time.Since(began))
		other := in.token(c.ClientID, c.ClientSecret, url.Values{"grant_type": {"client_credentials"}}).AccessToken
		if _, err := v.Verify(ctx, other); err != nil {
			t.Errorf("an unrevoked token is rejected: %v", err)
		}
	})
}
