package users

import (
	"bytes"
	"errors"
	"regexp"
	"strings"
	"testing"

	"golang.org/x/crypto/argon2"
)

func TestArgon2idRoundTrip(t *testing.T) {
	h := fast
	phc, err := h.Hash("correct horse")
	if err != nil {
		t.Fatal(err)
	}
	if !regexp.MustCompile(`^\$argon2id\$v=19\$m=64,t=1,p=1\$[A-Za-z0-9+/]{22}\$[A-Za-z0-9+/]{43}$`).MatchString(phc) {
		t.Fatalf("PHC string %q", phc)
	}
	// The fields are what they say: the hash is argon2id(password, salt).
	parts := strings.Split(phc, "$")
	salt, _ := phcB64.DecodeString(parts[4])
	key, _ := phcB64.DecodeString(parts[5])
	if !bytes.Equal(key, argon2.IDKey([]byte("correct horse"), salt, 1, 64, 1, 32)) {
		t.Error("hash field is not argon2id of the password and salt")
	}
	if again, _ := h.Hash("correct horse"); again == phc {
		t.Error("two hashes of one password are equal: no random salt")
	}
	for pw, want := range map[string]bool{"correct horse": true, "correct horsE": false, "": false, "correct horse ": false} {
		ok, rehash, err := h.Verify(phc, pw)
		if err != nil || ok != want || rehash {
			t.Errorf("Verify(%q) = %v, %v, %v; want %v, false, nil", pw, ok, rehash, err, want)
		}
	}
}

func TestArgon2idDefaults(t *testing.T) {
	if d := *DefaultArgon2id(); d != (Argon2id{Time: 2, MemoryKiB: 19456, Threads: 1, KeyLen: 32, SaltLen: 16}) {
		t.Errorf("defaults %+v", d)
	}
}

func TestArgon2idTampered(t *testing.T) {
	h := fast
	phc, _ := h.Hash("password1")
	parts := strings.Split(phc, "$")
	with := func(i int, v string) string {
		p := append([]string(nil), parts...)
		p[i] = v
		return strings.Join(p, "$")
	}
	flip := func(s string) string { // change the first character
		if s[0] == 'A' {
			return "B" + s[1:]
		}
		return "A" + s[1:]
	}
	tests := []struct {
		name      string
		phc       string
		malformed bool // ErrMalformedHash; otherwise ok=false
	}{
		{"hash changed", with(5, flip(parts[5])), false},
		{"salt changed", with(4, flip(parts[4])), false},
		{"time changed", with(3, "m=64,t=2,p=1"), false},
		{"memory changed", with(3, "m=72,t=1,p=1"), false},
		{"argon2i", with(1, "argon2i"), true},
		{"argon2d", with(1, "argon2d"), true},
		{"old version", with(2, "v=16"), true},
		{"no version", strings.Join(append(parts[:2:2], parts[3:]...), "$"), true},
		{"extra field", phc + "$x", true},
		{"reordered parameters", with(3, "t=1,m=64,p=1"), true},
		{"extra parameter", with(3, "m=64,t=1,p=1,k=2"), true},
		{"trailing junk in parameters", with(3, "m=64,t=1,p=1x"), true},
		{"signed parameter", with(3, "m=+64,t=1,p=1"), true},
		{"zero time", with(3, "m=64,t=0,p=1"), true},
		{"zero threads", with(3, "m=64,t=1,p=0"), true},
		{"256 threads", with(3, "m=4096,t=1,p=256"), true},
		{"memory below 8p", with(3, "m=7,t=1,p=1"), true},
		{"memory over 1 GiB", with(3, "m=2097152,t=1,p=1"), true},
		{"padded salt", with(4, parts[4]+"=="), true},
		{"url-safe base64", with(5, strings.NewReplacer("+", "-", "/", "_").Replace(parts[5])+"-_"), true},
		{"short salt", with(4, phcB64.EncodeToString([]byte("1234567"))), true},
		{"short hash", with(5, phcB64.EncodeToString(make([]byte, 15))), true},
		{"empty", "", true},
		{"bcrypt", "$2a$10$N9qo8uLOickgx2ZMRZoMyeIjZAgcfl7p92ldGxad68LJZdL17lhWy", true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			ok, _, err := h.Verify(tt.phc, "password1")
			if tt.malformed {
				if !errors.Is(err, ErrMalformedHash) || ok {
					t.Fatalf("Verify = %v, %v; want ErrMalformedHash", ok, err)
				}
				return
			}
			if err != nil || ok {
				t.Fatalf("Verify = %v, %v; want false, nil", ok, err)
			}
		})
	}
}

func TestArgon2idNeedsRehash(t *testing.T) {
	old := fast
	phc, _ := old.Hash("password1")
	tests := []struct {
		name string
		now  Argon2id
		want bool
	}{
		{"same", fast, false},
		{"more time", Argon2id{Time: 2, MemoryKiB: 64, Threads: 1, KeyLen: 32, SaltLen: 16}, true},
		{"more memory", Argon2id{Time: 1, MemoryKiB: 128, Threads: 1, KeyLen: 32, SaltLen: 16}, true},
		{"more threads", Argon2id{Time: 1, MemoryKiB: 64, Threads: 2, KeyLen: 32, SaltLen: 16}, true},
		{"longer key", Argon2id{Time: 1, MemoryKiB: 64, Threads: 1, KeyLen: 64, SaltLen: 16}, true},
		{"longer salt", Argon2id{Time: 1, MemoryKiB: 64, Threads: 1, KeyLen: 32, SaltLen: 32}, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			ok, rehash, err := tt.now.Verify(phc, "password1")
			if err != nil || !ok || rehash != tt.want {
				t.Fatalf("Verify = %v, %v, %v; want true, %v, nil", ok, rehash, err, tt.want)
			}
		})
	}
}

func TestArgon2idBadParams(t *testing.T) {
	for _, a := range []Argon2id{
		{},
		{Time: 1, MemoryKiB: 64, Threads: 0, KeyLen: 32, SaltLen: 16},
		{Time: 1, MemoryKiB: 4, Threads: 1, KeyLen: 32, SaltLen: 16},
		{Time: 1, MemoryKiB: 64, Threads: 1, KeyLen: 8, SaltLen: 16},
		{Time: 1, MemoryKiB: 64, Threads: 1, KeyLen: 32, SaltLen: 4},
	} {
		if _, err := a.Hash("password1"); !errors.Is(err, ErrBadParams) {
			t.Errorf("Hash with %+v: %v, want ErrBadParams", a, err)
		}
		if _, err := New(Config{Store: newMemStore(), Revoker: &fakeRevoker{}, Hasher: &a}); !errors.Is(err, ErrBadParams) {
			t.Errorf("New with %+v: %v, want ErrBadParams", a, err)
		}
	}
}

func BenchmarkHashDefault(b *testing.B) {
	h := DefaultArgon2id()
	for b.Loop() {
		if _, err := h.Hash("correct horse battery staple"); err != nil {
			b.Fatal(err)
		}
	}
}
