// Package keys owns authd's signing keys: generation, encryption at rest
// under a key-encryption key (KEK), the rotation lifecycle, signing and
// verification of JWTs, and the published JWK Set (RFC 7517 §5).
//
// # Lifecycle
//
// Each algorithm (RS256 and ES256, RFC 7518 §3.3 and §3.4) rotates
// independently through the states of store.Key:
//
//	next    published in the JWKS, not signing yet (PublishAhead before it activates)
//	active  signs new tokens (for RotationPeriod)
//	retired published, not signing, until ExpiresAt = retirement + RetireAfter
//
// then the key leaves the set. Every change is computed from the stored
// times and Now, and written with store.KeyStore.SwapKeySet
// (compare-and-swap), so replicas sharing a store agree: exactly one wins
// each transition, the others reload. Clock skew between replicas only moves
// when a transition happens.
//
// # Hot path
//
// Sign, Verify and JWKS read an immutable snapshot through an atomic
// pointer: no lock, no store access. The snapshot holds per algorithm the
// active key with its cached go-jose signers (one per JOSE "typ"), the
// public keys by kid, and the pre-serialised JWKS body with its strong ETag.
//
// # Keys at rest and the KMS seam
//
// Private keys are stored as private JWK JSON sealed with AES-256-GCM under
// the KEK, with kid and alg as additional data so a sealed key cannot be
// relabelled. The public half published in the JWKS is derived from the
// decrypted private key, never trusted from the store's clear-text copy.
//
// Signing goes through crypto.Signer (wrapped by go-jose's
// cryptosigner.Opaque), not through the raw private key: a KMS or HSM key
// that implements crypto.Signer can replace the sealed software key by
// changing only how a signingKey's signer is built (see newSigners); the
// lifecycle, JWKS and verification code do not change.
package keys
