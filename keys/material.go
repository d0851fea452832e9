package keys

import (
	"crypto"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/rsa"
	"encoding/base64"
	"encoding/json"
	"fmt"

	"github.com/go-jose/go-jose/v4"
	"github.com/go-jose/go-jose/v4/cryptosigner"

	"github.com/authd-dev/authd/store"
)

// kidBytes is the entropy of a generated kid.
const kidBytes = 16

// openedKey is a key of the set with its private half opened: the
// crypto.Signer, the public JWK derived from it, and the cached signers.
// It is immutable once built and shared by snapshots.
type openedKey struct {
	kid, alg string
	// sealed is the stored ciphertext it was opened from; a key whose
	// stored bytes change is opened again.
	sealed []byte
	// viaPrevious: it opened only with PreviousKEK and must be re-sealed.
	viaPrevious bool
	signer      crypto.Signer
	public      jose.JSONWebKey
	// signers holds one jose.Signer per cached typ.
	signers map[string]jose.Signer
}

// newKID returns a random key ID: base64url of 16 random bytes.
func newKID() string {
	b := make([]byte, kidBytes)
	rand.Read(b) // never fails (crypto/rand)
	return base64.RawURLEncoding.EncodeToString(b)
}

// generate creates a key of alg and returns it sealed, with only the
// public JWK in clear. State and times are the caller's.
func generate(s *sealer, alg string, rsaBits int) (store.Key, error) {
	var priv crypto.Signer
	var err error
	switch alg {
	case RS256:
		priv, err = rsa.GenerateKey(rand.Reader, rsaBits)
	case ES256:
		priv, err = ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	default:
		return store.Key{}, fmt.Errorf("%w: %q", ErrUnsupportedAlg, alg)
	}
	if err != nil {
		return store.Key{}, fmt.Errorf("keys: generate %s key: %w", alg, err)
	}
	kid := newKID()
	private, err := json.Marshal(jose.JSONWebKey{Key: priv, KeyID: kid, Algorithm: alg, Use: "sig"})
	if err != nil {
		return store.Key{}, fmt.Errorf("keys: encode %s key: %w", alg, err)
	}
	defer clear(private)
	public, err := json.Marshal(publicJWK(kid, alg, priv.Public()))
	if err != nil {
		return store.Key{}, fmt.Errorf("keys: encode %s public key: %w", alg, err)
	}
	return store.Key{ID: kid, Alg: alg, Sealed: s.seal(kid, alg, private), PublicJWK: public}, nil
}

// publicJWK is the published form of a public key (RFC 7517 §4): kty and
// key parameters, kid, alg and use "sig".
func publicJWK(kid, alg string, pub crypto.PublicKey) jose.JSONWebKey {
	return jose.JSONWebKey{Key: pub, KeyID: kid, Algorithm: alg, Use: "sig"}
}

// openKey decrypts k and prepares its signers.
func openKey(s *sealer, k store.Key) (*openedKey, error) {
	plain, previous, err := s.open(k.ID, k.Alg, k.Sealed)
	if err != nil {
		return nil, err
	}
	defer clear(plain)
	var jwk jose.JSONWebKey
	if err := jwk.UnmarshalJSON(plain); err != nil {
		return nil, fmt.Errorf("keys: key %q: decode private JWK: %w", k.ID, err)
	}
	if jwk.KeyID != k.ID || jwk.Algorithm != k.Alg {
		return nil, fmt.Errorf("keys: key %q: sealed JWK is for kid %q alg %q", k.ID, jwk.KeyID, jwk.Algorithm)
	}
	var priv crypto.Signer
	switch key := jwk.Key.(type) {
	case *rsa.PrivateKey:
		if k.Alg == RS256 && key.N.BitLen() >= 2048 {
			// A JWK carries no precomputed CRT values fit for crypto/rsa;
			// without this every signature recomputes them (~15% of RS256).
			key.Precompute()
			priv = key
		}
	case *ecdsa.PrivateKey:
		if k.Alg == ES256 && key.Curve == elliptic.P256() {
			priv = key
		}
	}
	if priv == nil {
		return nil, fmt.Errorf("keys: key %q: private key of type %T does not fit %s", k.ID, jwk.Key, k.Alg)
	}
	o := &openedKey{
		kid:         k.ID,
		alg:         k.Alg,
		sealed:      k.Sealed,
		viaPrevious: previous,
		signer:      priv,
		public:      publicJWK(k.ID, k.Alg, priv.Public()),
		signers:     make(map[string]jose.Signer, 2),
	}
	for _, typ := range []string{TypeAccessToken, TypeIDToken} {
		if o.signers[typ], err = o.newSigner(typ); err != nil {
			return nil, err
		}
	}
	return o, nil
}

// newSigner builds a go-jose signer whose protected header carries alg,
// kid and (unless empty) typ. The private key is used only through
// crypto.Signer: this is the seam where a KMS/HSM signer fits.
func (o *openedKey) newSigner(typ string) (jose.Signer, error) {
	opts := (&jose.SignerOptions{}).WithHeader(jose.HeaderKey("kid"), o.kid)
	if typ != "" {
		opts = opts.WithType(jose.ContentType(typ))
	}
	sig, err := jose.NewSigner(jose.SigningKey{
		Algorithm: jose.SignatureAlgorithm(o.alg),
		Key:       cryptosigner.Opaque(o.signer),
	}, opts)
	if err != nil {
		return nil, fmt.Errorf("keys: key %q: signer: %w", o.kid, err)
	}
	return sig, nil
}

// signerFor returns the cached signer of typ, or builds one for an
// uncommon typ.
func (o *openedKey) signerFor(typ string) (jose.Signer, error) {
	if s, ok := o.signers[typ]; ok {
		return s, nil
	}
	return o.newSigner(typ)
}
