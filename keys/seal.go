package keys

import (
	"crypto/aes"
	"crypto/cipher"
	"errors"
	"fmt"
)

// ErrWrongKEK: a sealed key opens with neither KEK nor PreviousKEK.
var ErrWrongKEK = errors.New("keys: sealed signing key does not open with the KEK (wrong KEK, or PreviousKEK missing after a KEK change)")

// sealVersion is the first byte of a sealed key: AES-256-GCM with a random
// 96-bit nonce, nonce || ciphertext || tag. A KMS-wrapped format would take
// another version.
const sealVersion byte = 1

// sealer seals and opens private JWKs under the KEK (and opens under the
// previous KEK during a KEK change).
type sealer struct {
	kek, previous cipher.AEAD
}

func newSealer(kek, previous []byte) (*sealer, error) {
	s := &sealer{}
	var err error
	if s.kek, err = newAEAD(kek); err != nil {
		return nil, fmt.Errorf("%w: KEK: %w", ErrConfig, err)
	}
	if len(previous) > 0 {
		if s.previous, err = newAEAD(previous); err != nil {
			return nil, fmt.Errorf("%w: PreviousKEK: %w", ErrConfig, err)
		}
	}
	return s, nil
}

func newAEAD(key []byte) (cipher.AEAD, error) {
	block, err := aes.NewCipher(key)
	if err != nil {
		return nil, err
	}
	return cipher.NewGCMWithRandomNonce(block)
}

// aad binds a sealed key to its kid and alg, so that it cannot be moved
// to another record.
func aad(kid, alg string) []byte {
	return []byte(kid + "\x00" + alg)
}

// seal encrypts plaintext under the KEK.
func (s *sealer) seal(kid, alg string, plaintext []byte) []byte {
	return s.kek.Seal([]byte{sealVersion}, nil, plaintext, aad(kid, alg))
}

// open decrypts sealed; previous reports that it took the previous KEK.
func (s *sealer) open(kid, alg string, sealed []byte) (plaintext []byte, previous bool, err error) {
	if len(sealed) < 1 || sealed[0] != sealVersion {
		return nil, false, fmt.Errorf("keys: key %q: unknown sealed format", kid)
	}
	ad := aad(kid, alg)
	if p, err := s.kek.Open(nil, nil, sealed[1:], ad); err == nil {
		return p, false, nil
	}
	if s.previous != nil {
		if p, err := s.previous.Open(nil, nil, sealed[1:], ad); err == nil {
			return p, true, nil
		}
	}
	return nil, false, fmt.Errorf("%w: key %q (%s)", ErrWrongKEK, kid, alg)
}
