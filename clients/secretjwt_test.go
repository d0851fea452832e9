package clients

import (
	"bytes"
	"context"
	"crypto/ecdsa"
	"errors"
	"testing"
	"time"

	"github.com/go-jose/go-jose/v4"
	"github.com/go-jose/go-jose/v4/jwt"

	"github.com/authd-dev/authd/oauth"
)

var (
	sealKey     = bytes.Repeat([]byte{7}, 32)
	prevSealKey = bytes.Repeat([]byte{9}, 32)
)

func newSealingRegistry(t *testing.T, st *memStore, clk *clock, fetcher *KeyFetcher, sealKeys ...[]byte) *Registry {
	t.Helper()
	r, err := NewRegistry(Config{Store: st, SecretKey: testKey, Now: clk.Now, Logger: quiet, Issuer: testIssuer,
		Replay: newMemReplay(clk.Now), SecretSealKeys: sealKeys, KeyFetcher: fetcher})
	if err != nil {
		t.Fatal(err)
	}
	return r
}

func assertionClaims(id string, now time.Time, jti string) jwt.Claims {
	return jwt.Claims{Issuer: id, Subject: id, Audience: jwt.Audience{testIssuer}, IssuedAt: jwt.NewNumericDate(now),
		Expiry: jwt.NewNumericDate(now.Add(time.Minute)), ID: jti}
}

func hsAssertion(t *testing.T, secret string, claims jwt.Claims) string {
	t.Helper()
	sig, err := jose.NewSigner(jose.SigningKey{Algorithm: jose.HS256, Key: []byte(secret)}, nil)
	if err != nil {
		t.Fatal(err)
	}
	s, err := jwt.Signed(sig).Claims(claims).Serialize()
	if err != nil {
		t.Fatal(err)
	}
	return s
}

func TestClientSecretJWT(t *testing.T) {
	ctx := context.Background()
	st, clk := newMemStore(), &clock{now: t0}
	r := newSealingRegistry(t, st, clk, nil, sealKey)
	reg, err := r.Create(ctx, Metadata{ClientID: "hs", TokenEndpointAuthMethod: AuthSecretJWT})
	if err != nil {
		t.Fatal(err)
	}
	if len(reg.ClientSecret) < 32 {
		t.Fatalf("secret of %d bytes, RFC 7518 §3.2 wants ≥ 32", len(reg.ClientSecret))
	}
	stored, _ := st.GetClient(ctx, "hs")
	if len(stored.SealedSecret) == 0 || bytes.Contains(stored.SealedSecret, []byte(reg.ClientSecret)) {
		t.Fatal("the secret is not sealed in the record")
	}
	ec, _ := testKeys(t)
	tests := []struct {
		name      string
		assertion string
		cause     error
	}{
		{"ok", hsAssertion(t, reg.ClientSecret, assertionClaims("hs", t0, "j1")), nil},
		{"replayed", hsAssertion(t, reg.ClientSecret, assertionClaims("hs", t0, "j1")), ErrAssertionReplayed},
		{"wrong secret", hsAssertion(t, reg.ClientSecret+"x", assertionClaims("hs", t0, "j2")), ErrBadAssertion},
		{"expired", hsAssertion(t, reg.ClientSecret, assertionClaims("hs", t0.Add(-2*time.Minute), "j3")), ErrBadAssertion},
		{"ES256 for a secret client", assertion(t, ec, "", assertionClaims("hs", t0, "j4")), ErrBadAssertion},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c, err := r.Authenticate(ctx, assertionForm(tt.assertion))
			if tt.cause == nil {
				if err != nil || c.ID != "hs" {
					t.Fatalf("Authenticate = %q, %v", c.ID, err)
				}
				return
			}
			wantOAuth(t, err, oauth.InvalidClient, 401)
			if !errors.Is(err, tt.cause) {
				t.Fatalf("cause %v, want %v", err, tt.cause)
			}
		})
	}

	// Basic with the same secret is another method: refused.
	req := form(nil)
	req.SetBasicAuth("hs", reg.ClientSecret)
	if _, err := r.Authenticate(ctx, req); !errors.Is(err, ErrWrongMethod) {
		t.Fatalf("Basic for a client_secret_jwt client: %v", err)
	}

	// A KEK change: the new key seals, the previous one still opens.
	r2 := newSealingRegistry(t, st, clk, nil, prevSealKey, sealKey)
	if _, err := r2.Authenticate(ctx, assertionForm(hsAssertion(t, reg.ClientSecret, assertionClaims("hs", t0, "j5")))); err != nil {
		t.Fatalf("after a KEK change: %v", err)
	}
	// A secret reset re-seals under the current key; the old secret stops.
	reset, err := r2.ResetSecret(ctx, "hs")
	if err != nil {
		t.Fatal(err)
	}
	r3 := newSealingRegistry(t, st, clk, nil, prevSealKey) // the old KEK dropped
	if _, err := r3.Authenticate(ctx, assertionForm(hsAssertion(t, reset.ClientSecret, assertionClaims("hs", t0, "j6")))); err != nil {
		t.Fatalf("re-sealed secret: %v", err)
	}
	if _, err := r3.Authenticate(ctx, assertionForm(hsAssertion(t, reg.ClientSecret, assertionClaims("hs", t0, "j7")))); !errors.Is(err, ErrBadAssertion) {
		t.Fatalf("old secret after reset: %v", err)
	}
	// Without any seal key the method cannot be registered.
	r4 := newSealingRegistry(t, newMemStore(), clk, nil)
	if _, err := r4.Create(ctx, Metadata{ClientID: "hs", TokenEndpointAuthMethod: AuthSecretJWT}); oauth.As(err) == nil {
		t.Fatalf("client_secret_jwt without seal keys: %v", err)
	}
}

func TestSecretJWTReplaceSeals(t *testing.T) {
	ctx := context.Background()
	st, clk := newMemStore(), &clock{now: t0}
	r := newSealingRegistry(t, st, clk, nil, sealKey)
	if _, err := r.Create(ctx, Metadata{ClientID: "c", TokenEndpointAuthMethod: AuthBasic}); err != nil {
		t.Fatal(err)
	}
	// Moving to client_secret_jwt needs the secret itself: a new one.
	reg, err := r.Replace(ctx, "c", Metadata{TokenEndpointAuthMethod: AuthSecretJWT})
	if err != nil || reg.ClientSecret == "" {
		t.Fatalf("Replace = %+v, %v; want a new secret", reg, err)
	}
	if _, err := r.Authenticate(ctx, assertionForm(hsAssertion(t, reg.ClientSecret, assertionClaims("c", t0, "x")))); err != nil {
		t.Fatal(err)
	}
	// And back: the seal is dropped, the digest kept.
	if reg, err = r.Replace(ctx, "c", Metadata{TokenEndpointAuthMethod: AuthPost}); err != nil || reg.ClientSecret != "" {
		t.Fatalf("Replace = %+v, %v", reg, err)
	}
	if c, _ := st.GetClient(ctx, "c"); len(c.SealedSecret) != 0 || len(c.SecretDigest) == 0 {
		t.Fatal("sealed secret kept for client_secret_post")
	}
}

// TestPrivateKeyJWTWithJWKSURI: a client rotating its key at its jwks_uri.
func TestPrivateKeyJWTWithJWKSURI(t *testing.T) {
	ctx := context.Background()
	k1, pub1 := ecJWK(t, "k1")
	k2, pub2 := ecJWK(t, "k2")
	srv := newJWKSServer(t, pub1)
	srv.header.Set("Cache-Control", "max-age=300")
	st, clk := newMemStore(), &clock{now: t0}
	r := newSealingRegistry(t, st, clk, newTestFetcher(t, srv, clk, 5*time.Second), sealKey)
	if _, err := r.Create(ctx, Metadata{ClientID: "remote", TokenEndpointAuthMethod: AuthPrivateKeyJWT, JWKSURI: srv.URL}); err != nil {
		t.Fatal(err)
	}
	jti := 0
	auth := func(key *ecdsa.PrivateKey, kid string) error {
		jti++
		_, err := r.Authenticate(ctx, assertionForm(assertion(t, key, kid, assertionClaims("remote", clk.Now(), string(rune('a'+jti))))))
		return err
	}
	if err := auth(k1, "k1"); err != nil {
		t.Fatal(err)
	}
	srv.publish(pub1, pub2)
	clk.Add(JWKSRefetchInterval)
	if err := auth(k2, "k2"); err != nil {
		t.Fatalf("new key after rotation: %v", err)
	}
	// Expired or malformed assertions never cause a fetch.
	before := srv.fetches()
	clk.Add(JWKSRefetchInterval)
	old := assertionClaims("remote", clk.Now().Add(-time.Hour), "old")
	if _, err := r.Authenticate(ctx, assertionForm(assertion(t, k2, "k9", old))); !errors.Is(err, ErrBadAssertion) {
		t.Fatalf("expired assertion: %v", err)
	}
	if srv.fetches() != before {
		t.Fatal("an expired assertion made authd fetch the jwks_uri")
	}
	srv.publish(pub2)
	clk.Add(300 * time.Second) // the cached set expires
	if err := auth(k1, "k1"); !errors.Is(err, ErrBadAssertion) {
		t.Fatalf("removed key after cache expiry: %v", err)
	}
	if err := auth(k2, "k2"); err != nil {
		t.Fatal(err)
	}
}
