package clients

import (
	"crypto/aes"
	"crypto/cipher"
	"errors"
	"fmt"
)

// ErrSecretSeal: a client_secret_jwt client's sealed secret opens with none
// of the seal keys (the KEK changed without --kek-previous), or there are
// no seal keys.
var ErrSecretSeal = errors.New("clients: sealed client secret does not open")

// secretSealVersion is the first byte of a sealed secret: AES-256-GCM with
// a random 96-bit nonce (nonce || ciphertext || tag), as keys/seal.go seals
// signing keys.
const secretSealVersion byte = 1

// secretSealer keeps client_secret_jwt secrets readable for verification
// and unreadable at rest. A client_secret_jwt assertion is an HMAC keyed
// with the client secret itself (OIDC Core §9, RFC 7523 §2.2), so unlike
// the other methods' secrets, which are kept only as digests, the server
// must be able to read it back: it seals under the first key and opens under any
// (the first is derived from the KEK, the next from the previous KEK, so a
// KEK change keeps old seals working).
type secretSealer struct {
	aeads []cipher.AEAD
}

func newSecretSealer(keys [][]byte) (*secretSealer, error) {
	s := &secretSealer{}
	for i, k := range keys {
		if len(k) != 32 {
			return nil, fmt.Errorf("clients: SecretSealKeys[%d] must be 32 bytes", i)
		}
		block, err := aes.NewCipher(k)
		if err != nil {
			return nil, err
		}
		aead, err := cipher.NewGCMWithRandomNonce(block)
		if err != nil {
			return nil, err
		}
		s.aeads = append(s.aeads, aead)
	}
	return s, nil
}

// sealAAD binds a sealed secret to its client, so that it cannot be moved
// to another record.
func sealAAD(id string) []byte { return []byte("authd client secret v1\x00" + id) }

func (s *secretSealer) seal(id, secret string) ([]byte, error) {
	if len(s.aeads) == 0 {
		return nil, ErrSecretSeal
	}
	return s.aeads[0].Seal([]byte{secretSealVersion}, nil, []byte(secret), sealAAD(id)), nil
}

func (s *secretSealer) open(id string, sealed []byte) ([]byte, error) {
	if len(sealed) < 1 || sealed[0] != secretSealVersion {
		return nil, fmt.Errorf("%w: client %q: unknown format", ErrSecretSeal, id)
	}
	for _, a := range s.aeads {
		if p, err := a.Open(nil, nil, sealed[1:], sealAAD(id)); err == nil {
			return p, nil
		}
	}
	return nil, fmt.Errorf("%w: client %q", ErrSecretSeal, id)
}
