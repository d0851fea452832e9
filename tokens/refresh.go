package tokens

import (
	"crypto/aes"
	"crypto/cipher"
	"crypto/hkdf"
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/authd-dev/authd/store"
)

// Refresh tokens are opaque to clients: "<family id>.<secret>.<tag>".
//
//   - family id: the login (the "sid" claim), so a lookup is one key;
//   - secret: 32 random bytes (256 bits of entropy);
//   - tag: HMAC-SHA-256 over client id, family id and secret, truncated to
//     128 bits. It tells a token we issued to this client from garbage
//     without touching the store, so a forged token that merely names a
//     family (whose id is public in access tokens) cannot trigger reuse
//     detection and revoke someone else's login.
//
// The store keeps only SHA-256 digests of tokens.

const (
	refreshSecretLen = 32
	refreshTagLen    = 16
)

var b64 = base64.RawURLEncoding

// newRefreshToken returns a fresh token of family fid for client.
func (s *Service) newRefreshToken(clientID, fid string) string {
	return s.formatRefresh(clientID, fid, newID(refreshSecretLen))
}

// formatRefresh assembles a token from its family and secret, tagged with
// the current MAC key.
func (s *Service) formatRefresh(clientID, fid, secret string) string {
	return fid + "." + secret + "." + b64.EncodeToString(refreshTag(s.cfg.RefreshMACKeys[0], clientID, fid, secret))
}

func refreshTag(key []byte, clientID, fid, secret string) []byte {
	m := hmac.New(sha256.New, key)
	m.Write([]byte(clientID))
	m.Write([]byte{0})
	m.Write([]byte(fid))
	m.Write([]byte{'.'})
	m.Write([]byte(secret))
	return m.Sum(nil)[:refreshTagLen]
}

// parseRefreshToken checks the token's form and tag for clientID and
// returns its family id.
func (s *Service) parseRefreshToken(tok, clientID string) (fid string, ok bool) {
	if len(tok) > 256 {
		return "", false
	}
	fid, rest, ok1 := strings.Cut(tok, ".")
	secret, tagText, ok2 := strings.Cut(rest, ".")
	if !ok1 || !ok2 || fid == "" || secret == "" {
		return "", false
	}
	tag, err := b64.DecodeString(tagText)
	if err != nil || len(tag) != refreshTagLen {
		return "", false
	}
	for _, key := range s.cfg.RefreshMACKeys {
		if hmac.Equal(tag, refreshTag(key, clientID, fid, secret)) {
			return fid, true
		}
	}
	return "", false
}

// digest is what the store keeps of a token: SHA-256 truncated to 128
// bits (NIST SP 800-107 §5.1), ample against preimages of 256-bit secrets
// and 32 bytes less per login in Redis. For a refresh token it covers the
// family id and secret, not the tag, so a token re-tagged under a new MAC
// key (after a KEK change) keeps its digest.
func digest(tok string) []byte {
	if fid, rest, ok := strings.Cut(tok, "."); ok {
		if secret, _, ok := strings.Cut(rest, "."); ok {
			tok = fid + "." + secret
		}
	}
	d := sha256.Sum256([]byte(tok))
	return d[:16]
}

// successorKey derives the key that seals a token's successor from the
// token itself: only a holder of the previous token can open it.
func successorKey(prev string) ([]byte, error) {
	return hkdf.Key(sha256.New, []byte(prev), nil, "authd refresh successor v1", 32)
}

// sealSuccessor encrypts the secret of the successor token next under a
// key derived from prev (AES-256-GCM, family id as additional data). Only
// the 32 secret bytes are sealed (60 bytes stored): family id and tag are
// rebuilt on opening.
func sealSuccessor(prev, fid, next string) ([]byte, error) {
	_, rest, _ := strings.Cut(next, ".")
	secretText, _, _ := strings.Cut(rest, ".")
	secret, err := b64.DecodeString(secretText)
	if err != nil {
		return nil, fmt.Errorf("seal successor: %w", err)
	}
	aead, err := successorAEAD(prev)
	if err != nil {
		return nil, err
	}
	nonce := make([]byte, aead.NonceSize(), aead.NonceSize()+len(secret)+aead.Overhead())
	rand.Read(nonce)
	return aead.Seal(nonce, nonce, secret, []byte(fid)), nil
}

// openSuccessor reverses sealSuccessor and returns the successor for
// clientID.
func (s *Service) openSuccessor(prev, clientID, fid string, sealed []byte) (string, error) {
	secret, err := openSealedSecret(prev, fid, sealed)
	if err != nil {
		return "", err
	}
	return s.formatRefresh(clientID, fid, secret), nil
}

// openSealedSecret returns the successor's secret (base64url).
func openSealedSecret(prev, fid string, sealed []byte) (string, error) {
	aead, err := successorAEAD(prev)
	if err != nil {
		return "", err
	}
	if len(sealed) < aead.NonceSize() {
		return "", errors.New("sealed successor too short")
	}
	pt, err := aead.Open(nil, sealed[:aead.NonceSize()], sealed[aead.NonceSize():], []byte(fid))
	if err != nil {
		return "", fmt.Errorf("open sealed successor: %w", err)
	}
	return b64.EncodeToString(pt), nil
}

func successorAEAD(prev string) (cipher.AEAD, error) {
	key, err := successorKey(prev)
	if err != nil {
		return nil, err
	}
	block, err := aes.NewCipher(key)
	if err != nil {
		return nil, err
	}
	return cipher.NewGCM(block)
}

// newFamily builds a new login and its first refresh token.
func (s *Service) newFamily(c store.Client, sub, scope string, aud []string, authTime, now time.Time) (store.Family, string, error) {
	fid := newID(16)
	tok := s.newRefreshToken(c.ID, fid)
	expires := now.Add(s.cfg.RefreshTokenMaxLifetime)
	idle := now.Add(s.cfg.RefreshTokenTTL)
	if idle.After(expires) {
		idle = expires
	}
	return store.Family{
		ID:            fid,
		ClientID:      c.ID,
		Subject:       sub,
		Scope:         scope,
		Audience:      aud,
		AuthTime:      authTime,
		CreatedAt:     now,
		ExpiresAt:     expires,
		IdleExpiresAt: idle,
		Current:       digest(tok),
	}, tok, nil
}
