package users

import (
	"crypto/rand"
	"crypto/subtle"
	"encoding/base64"
	"errors"
	"fmt"
	"strings"

	"golang.org/x/crypto/argon2"
)

// Argon2id holds the parameters of the password hash (RFC 9106). Hashes
// are stored as PHC strings, so parameters can be raised later: a hash made
// with other parameters verifies and is flagged for rehashing.
type Argon2id struct {
	Time      uint32
	MemoryKiB uint32
	Threads   uint8
	KeyLen    uint32
	SaltLen   uint32
}

// DefaultArgon2id returns OWASP's recommended minimum: m=19 MiB, t=2, p=1.
func DefaultArgon2id() *Argon2id {
	return &Argon2id{Time: 2, MemoryKiB: 19456, Threads: 1, KeyLen: 32, SaltLen: 16}
}

// ErrMalformedHash: a stored hash is not an argon2id PHC string.
var ErrMalformedHash = errors.New("users: malformed password hash")

var phcB64 = base64.RawStdEncoding // PHC strings use unpadded standard base64

// Hash returns the PHC string of password:
// $argon2id$v=19$m=<KiB>,t=<time>,p=<threads>$<salt>$<hash>.
func (a *Argon2id) Hash(password string) (string, error) {
	salt := make([]byte, a.SaltLen)
	if _, err := rand.Read(salt); err != nil {
		return "", err
	}
	key := argon2.IDKey([]byte(password), salt, a.Time, a.MemoryKiB, a.Threads, a.KeyLen)
	return fmt.Sprintf("$argon2id$v=%d$m=%d,t=%d,p=%d$%s$%s", argon2.Version, a.MemoryKiB, a.Time, a.Threads,
		phcB64.EncodeToString(salt), phcB64.EncodeToString(key)), nil
}

// Verify checks password against a PHC string in constant time and says
// whether the hash should be remade with a's parameters.
func (a *Argon2id) Verify(phc, password string) (ok, needsRehash bool, err error) {
	p, salt, want, err := parsePHC(phc)
	if err != nil {
		return false, false, err
	}
	got := argon2.IDKey([]byte(password), salt, p.Time, p.MemoryKiB, p.Threads, uint32(len(want)))
	ok = subtle.ConstantTimeCompare(got, want) == 1
	needsRehash = p.Time != a.Time || p.MemoryKiB != a.MemoryKiB || p.Threads != a.Threads ||
		uint32(len(want)) != a.KeyLen || uint32(len(salt)) != a.SaltLen
	return ok, needsRehash, nil
}

func parsePHC(phc string) (Argon2id, []byte, []byte, error) {
	var p Argon2id
	parts := strings.Split(phc, "$")
	if len(parts) != 6 || parts[0] != "" || parts[1] != "argon2id" {
		return p, nil, nil, ErrMalformedHash
	}
	var v int
	if _, err := fmt.Sscanf(parts[2], "v=%d", &v); err != nil || v != argon2.Version {
		return p, nil, nil, fmt.Errorf("%w: version", ErrMalformedHash)
	}
	var threads uint32
	if _, err := fmt.Sscanf(parts[3], "m=%d,t=%d,p=%d", &p.MemoryKiB, &p.Time, &threads); err != nil ||
		p.Time == 0 || p.MemoryKiB == 0 || threads == 0 || threads > 255 || p.MemoryKiB > 4<<20 || p.Time > 64 {
		return p, nil, nil, fmt.Errorf("%w: parameters", ErrMalformedHash)
	}
	p.Threads = uint8(threads)
	salt, err := phcB64.DecodeString(parts[4])
	if err != nil || len(salt) < 8 {
		return p, nil, nil, fmt.Errorf("%w: salt", ErrMalformedHash)
	}
	key, err := phcB64.DecodeString(parts[5])
	if err != nil || len(key) < 16 || len(key) > 64 {
		return p, nil, nil, fmt.Errorf("%w: hash", ErrMalformedHash)
	}
	return p, salt, key, nil
}
