package users

import (
	"crypto/rand"
	"crypto/subtle"
	"encoding/base64"
	"errors"
	"fmt"
	"strconv"
	"strings"

	"golang.org/x/crypto/argon2"
)

// Argon2id holds the parameters of the password hash (RFC 9106). Hashes
// are stored as PHC strings that carry their parameters, so the parameters
// can be raised later: a hash made with other parameters still verifies and
// is flagged for rehashing.
type Argon2id struct {
	Time      uint32 // passes (t)
	MemoryKiB uint32 // memory in KiB (m)
	Threads   uint8  // lanes (p)
	KeyLen    uint32 // hash length in bytes
	SaltLen   uint32 // salt length in bytes
}

// DefaultArgon2id returns OWASP's recommended minimum for argon2id:
// m=19456 KiB (19 MiB), t=2, p=1, a 32-byte hash and a 16-byte salt.
func DefaultArgon2id() *Argon2id {
	return &Argon2id{Time: 2, MemoryKiB: 19456, Threads: 1, KeyLen: 32, SaltLen: 16}
}

// Errors of password hashing.
var (
	// ErrMalformedHash: a stored hash is not an argon2id PHC string this
	// package can verify.
	ErrMalformedHash = errors.New("users: malformed password hash")
	// ErrBadParams: Argon2id parameters outside the accepted bounds.
	ErrBadParams = errors.New("users: invalid argon2id parameters")
)

// Bounds on parameters, for ours and for those read from a stored hash
// (so a tampered record cannot make Verify allocate without limit).
const (
	maxMemoryKiB = 1 << 20 // 1 GiB
	maxTime      = 64
	minSaltLen   = 8
	minKeyLen    = 16
	maxKeyLen    = 64
)

func (a *Argon2id) validate() error {
	switch {
	case a.Time == 0 || a.Time > maxTime:
		return fmt.Errorf("%w: time %d", ErrBadParams, a.Time)
	case a.Threads == 0:
		return fmt.Errorf("%w: threads 0", ErrBadParams)
	case a.MemoryKiB < 8*uint32(a.Threads) || a.MemoryKiB > maxMemoryKiB: // RFC 9106 §3.1: m ≥ 8p
		return fmt.Errorf("%w: memory %d KiB", ErrBadParams, a.MemoryKiB)
	case a.KeyLen < minKeyLen || a.KeyLen > maxKeyLen:
		return fmt.Errorf("%w: key length %d", ErrBadParams, a.KeyLen)
	case a.SaltLen < minSaltLen || a.SaltLen > 64:
		return fmt.Errorf("%w: salt length %d", ErrBadParams, a.SaltLen)
	}
	return nil
}

// phcB64 is the PHC string format's base64: standard alphabet, no padding.
var phcB64 = base64.RawStdEncoding

// Hash returns the PHC string of password with a fresh random salt:
// $argon2id$v=19$m=<KiB>,t=<time>,p=<threads>$<salt>$<hash>.
func (a *Argon2id) Hash(password string) (string, error) {
	if err := a.validate(); err != nil {
		return "", err
	}
	salt := make([]byte, a.SaltLen)
	rand.Read(salt) // never fails (crypto/rand, Go ≥ 1.24)
	key := argon2.IDKey([]byte(password), salt, a.Time, a.MemoryKiB, a.Threads, a.KeyLen)
	return fmt.Sprintf("$argon2id$v=%d$m=%d,t=%d,p=%d$%s$%s", argon2.Version, a.MemoryKiB, a.Time, a.Threads,
		phcB64.EncodeToString(salt), phcB64.EncodeToString(key)), nil
}

// Verify checks password against a PHC string, comparing in constant time,
// and reports whether the hash should be remade with a's parameters. A
// malformed PHC string is ErrMalformedHash.
func (a *Argon2id) Verify(phc, password string) (ok, needsRehash bool, err error) {
	p, salt, want, err := parsePHC(phc)
	if err != nil {
		return false, false, err
	}
	got := argon2.IDKey([]byte(password), salt, p.Time, p.MemoryKiB, p.Threads, p.KeyLen)
	ok = subtle.ConstantTimeCompare(got, want) == 1
	return ok, p != *a, nil
}

// parsePHC reads $argon2id$v=19$m=M,t=T,p=P$salt$hash strictly: exactly
// these fields in this order, decimal numbers, unpadded base64.
func parsePHC(phc string) (Argon2id, []byte, []byte, error) {
	var p Argon2id
	parts := strings.Split(phc, "$")
	if len(parts) != 6 || parts[0] != "" || parts[1] != "argon2id" {
		return p, nil, nil, ErrMalformedHash
	}
	if parts[2] != "v="+strconv.Itoa(argon2.Version) {
		return p, nil, nil, fmt.Errorf("%w: version %q", ErrMalformedHash, parts[2])
	}
	params := strings.Split(parts[3], ",")
	if len(params) != 3 {
		return p, nil, nil, fmt.Errorf("%w: parameters %q", ErrMalformedHash, parts[3])
	}
	var vals [3]uint64
	for i, name := range []string{"m=", "t=", "p="} {
		v, ok := strings.CutPrefix(params[i], name)
		n, err := strconv.ParseUint(v, 10, 32)
		if !ok || err != nil {
			return p, nil, nil, fmt.Errorf("%w: parameters %q", ErrMalformedHash, parts[3])
		}
		vals[i] = n
	}
	if vals[2] > 255 {
		return p, nil, nil, fmt.Errorf("%w: parallelism %d", ErrMalformedHash, vals[2])
	}
	p.MemoryKiB, p.Time, p.Threads = uint32(vals[0]), uint32(vals[1]), uint8(vals[2])
	salt, err := phcB64.Strict().DecodeString(parts[4])
	if err != nil {
		return p, nil, nil, fmt.Errorf("%w: salt: %w", ErrMalformedHash, err)
	}
	key, err := phcB64.Strict().DecodeString(parts[5])
	if err != nil {
		return p, nil, nil, fmt.Errorf("%w: hash: %w", ErrMalformedHash, err)
	}
	p.SaltLen, p.KeyLen = uint32(len(salt)), uint32(len(key))
	if err := p.validate(); err != nil {
		return p, nil, nil, fmt.Errorf("%w: %w", ErrMalformedHash, err)
	}
	return p, salt, key, nil
}
