package verifiertest

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"encoding/json"
	"testing"
	"time"

	jose "github.com/go-jose/go-jose/v4"

	"github.com/authd-dev/authd/verifier/dpop"
)

// DPoPKey is a client's DPoP key (ES256, P-256) that mints proofs (RFC 9449
// §4.2) for tests of resource servers; pair it with an access token minted
// with WithJKT(key.JKT()).
type DPoPKey struct {
	t   testing.TB
	key *ecdsa.PrivateKey
	jkt string
	now func() time.Time
}

// DPoPOption configures a DPoPKey.
type DPoPOption func(*DPoPKey)

// WithDPoPClock sets the clock for the proofs' iat (default time.Now).
func WithDPoPClock(now func() time.Time) DPoPOption {
	return func(k *DPoPKey) { k.now = now }
}

// NewDPoPKey generates a DPoP key.
func NewDPoPKey(t testing.TB, opts ...DPoPOption) *DPoPKey {
	t.Helper()
	priv, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatalf("verifiertest: %v", err)
	}
	k := &DPoPKey{t: t, key: priv, now: time.Now}
	for _, o := range opts {
		o(k)
	}
	if k.jkt, err = dpop.Thumbprint(jose.JSONWebKey{Key: &priv.PublicKey}); err != nil {
		t.Fatalf("verifiertest: %v", err)
	}
	return k
}

// JKT is the key's RFC 7638 thumbprint, the cnf.jkt of tokens bound to it
// (RFC 9449 §6.1).
func (k *DPoPKey) JKT() string { return k.jkt }

// Proof mints a proof for a request: htm method, htu url (query and
// fragment are the caller's to leave out), iat now, a random jti, and ath
// the hash of accessToken unless it is "" (as at the token endpoint).
func (k *DPoPKey) Proof(method, url, accessToken string) string {
	k.t.Helper()
	c := map[string]any{"htm": method, "htu": url}
	if accessToken != "" {
		c["ath"] = dpop.HashToken(accessToken)
	}
	return k.ProofClaims(c)
}

// ProofClaims mints a proof with claims added to the defaults "jti"
// (random) and "iat" (now); a claim set to nil is left out and time.Time
// values become NumericDates, so tests can build proofs that must fail.
func (k *DPoPKey) ProofClaims(claims map[string]any) string {
	k.t.Helper()
	body := map[string]any{"jti": rand.Text(), "iat": k.now().Unix()}
	mergeClaims(body, claims)
	payload, err := json.Marshal(body)
	if err != nil {
		k.t.Fatalf("verifiertest: %v", err)
	}
	signer, err := jose.NewSigner(jose.SigningKey{Algorithm: jose.ES256, Key: k.key},
		(&jose.SignerOptions{EmbedJWK: true}).WithType("dpop+jwt"))
	if err != nil {
		k.t.Fatalf("verifiertest: %v", err)
	}
	jws, err := signer.Sign(payload)
	if err != nil {
		k.t.Fatalf("verifiertest: %v", err)
	}
	out, err := jws.CompactSerialize()
	if err != nil {
		k.t.Fatalf("verifiertest: %v", err)
	}
	return out
}

// PrivateKey returns the key, for tests that build proofs by other means.
func (k *DPoPKey) PrivateKey() *ecdsa.PrivateKey { return k.key }
