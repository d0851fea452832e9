package users

import (
	"context"
	"encoding/json"
	"errors"
	"net/http"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/authd-dev/authd/oauth"
	"github.com/authd-dev/authd/store"
)

func TestNewConfig(t *testing.T) {
	if _, err := New(Config{}); err == nil {
		t.Error("New accepted a config without Store")
	}
	for name, mutate := range map[string]func(*Config){
		"no throttle":         func(c *Config) { c.Throttle = nil },
		"budget below 1 hash": func(c *Config) { c.HashMemoryKiB = int64(fast.MemoryKiB) - 1 },
		"no per-IP share":     func(c *Config) { c.HashPerIP = 0 },
	} {
		cfg := testConfig(newMemStore(), &fast, nil)
		mutate(&cfg)
		if _, err := New(cfg); err == nil {
			t.Errorf("New accepted a config with %s", name)
		}
	}
	s, err := New(testConfig(newMemStore(), &fast, nil))
	if err != nil {
		t.Fatal(err)
	}
	if *s.cfg.Hasher != fast || s.cfg.Hasher == &fast {
		t.Error("the Service does not keep its own copy of the parameters")
	}
	if ok, _, err := s.cfg.Hasher.Verify(s.dummy, "x"); err != nil || ok {
		t.Errorf("dummy hash: %v, %v", ok, err)
	}
}

func TestCreate(t *testing.T) {
	st := newMemStore()
	s, _, _ := newTestService(t, st, fast)
	ctx := context.Background()
	v, err := s.Create(ctx, CreateRequest{Username: "  Alice ", Password: "password1", Email: "alice@example.com", Roles: []string{"admin", "dev", "admin"}})
	if err != nil {
		t.Fatal(err)
	}
	if v.Username != "alice" || v.Email != "alice@example.com" || !slices.Equal(v.Roles, []string{"admin", "dev"}) || !v.CreatedAt.Equal(t0) {
		t.Errorf("view %+v", v)
	}
	if len(v.ID) != 22 {
		t.Errorf("id %q, want 22 random base64url characters", v.ID)
	}
	stored := st.users[v.ID]
	if ok, _, err := fast.Verify(stored.PasswordHash, "password1"); !ok || err != nil {
		t.Errorf("stored hash does not verify: %v", err)
	}
	if strings.Contains(stored.PasswordHash, "password1") {
		t.Error("password stored in clear")
	}

	for _, dup := range []string{"alice", "ALICE", " Alice\t"} {
		_, err := s.Create(ctx, CreateRequest{Username: dup, Password: "password2"})
		wantOAuth(t, err, oauth.Conflict, http.StatusConflict)
	}

	// No password or hash in any view's JSON.
	got, _ := s.Get(ctx, v.ID)
	list, _ := s.List(ctx)
	for _, x := range []any{v, got, list} {
		b, _ := json.Marshal(x)
		for _, bad := range []string{"password", "hash", "argon2id", stored.PasswordHash} {
			if strings.Contains(string(b), bad) {
				t.Errorf("%s contains %q", b, bad)
			}
		}
	}
	b, _ := json.Marshal(got)
	for _, field := range []string{`"id":`, `"username":"alice"`, `"email":`, `"roles":`, `"created_at":`} {
		if !strings.Contains(string(b), field) {
			t.Errorf("%s lacks %s", b, field)
		}
	}
	// A user without roles shows [] rather than null.
	bob, _ := s.Create(ctx, CreateRequest{Username: "bob", Password: "password1"})
	if b, _ := json.Marshal(bob); !strings.Contains(string(b), `"roles":[]`) {
		t.Errorf("%s: roles not []", b)
	}
}

func TestCreateValidation(t *testing.T) {
	long := strings.Repeat("ü", 64)
	tests := []struct {
		name  string
		req   CreateRequest
		valid bool
	}{
		{"minimal", CreateRequest{Username: "a", Password: "12345678"}, true},
		{"64 characters", CreateRequest{Username: long, Password: "12345678"}, true},
		{"inner space", CreateRequest{Username: "Jane Doe", Password: "12345678"}, true},
		{"1024-byte password", CreateRequest{Username: "a", Password: strings.Repeat("p", 1024)}, true},
		{"empty username", CreateRequest{Username: "", Password: "12345678"}, false},
		{"blank username", CreateRequest{Username: "   ", Password: "12345678"}, false},
		{"65 characters", CreateRequest{Username: long + "x", Password: "12345678"}, false},
		{"control character", CreateRequest{Username: "a\x00b", Password: "12345678"}, false},
		{"escape", CreateRequest{Username: "a\x1b[31m", Password: "12345678"}, false},
		{"inner tab", CreateRequest{Username: "a\tb", Password: "12345678"}, false},
		{"no-break space", CreateRequest{Username: "a\u00a0b", Password: "12345678"}, false},
		{"invalid UTF-8", CreateRequest{Username: "a\xffb", Password: "12345678"}, false},
		{"7-byte password", CreateRequest{Username: "a", Password: "1234567"}, false},
		{"1025-byte password", CreateRequest{Username: "a", Password: strings.Repeat("p", 1025)}, false},
		{"email without @", CreateRequest{Username: "a", Password: "12345678", Email: "alice.example.com"}, false},
		{"email with space", CreateRequest{Username: "a", Password: "12345678", Email: "a lice@example.com"}, false},
		{"empty role", CreateRequest{Username: "a", Password: "12345678", Roles: []string{""}}, false},
		{"role with space", CreateRequest{Username: "a", Password: "12345678", Roles: []string{"super user"}}, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s, _, _ := newTestService(t, newMemStore(), fast)
			_, err := s.Create(context.Background(), tt.req)
			if tt.valid {
				if err != nil {
					t.Fatal(err)
				}
				return
			}
			wantOAuth(t, err, oauth.InvalidRequest, http.StatusBadRequest)
		})
	}
}

func TestNotFound(t *testing.T) {
	s, _, _ := newTestService(t, newMemStore(), fast)
	ctx := context.Background()
	pw := "password9"
	for name, err := range map[string]error{
		"get":    func() error { _, err := s.Get(ctx, "nope"); return err }(),
		"delete": s.Delete(ctx, "nope"),
		"patch":  func() error { _, err := s.Patch(ctx, "nope", PatchRequest{Password: &pw}); return err }(),
		"revoke": func() error { _, err := s.Revoke(ctx, "nope"); return err }(),
	} {
		t.Run(name, func(t *testing.T) { wantOAuth(t, err, oauth.NotFound, http.StatusNotFound) })
	}
	if _, err := s.Lookup(ctx, "nope"); !errors.Is(err, store.ErrNotFound) || oauth.As(err) != nil {
		t.Errorf("Lookup: %v, want store.ErrNotFound wrapped", err)
	}
}

func TestDelete(t *testing.T) {
	s, _, _ := newTestService(t, newMemStore(), fast)
	ctx := context.Background()
	v, _ := s.Create(ctx, CreateRequest{Username: "alice", Password: "password1"})
	if err := s.Delete(ctx, v.ID); err != nil {
		t.Fatal(err)
	}
	if _, err := s.authenticate(ctx, "alice", "password1", ""); !errors.Is(err, ErrInvalidCredentials) {
		t.Errorf("deleted user logs in: %v", err)
	}
}

func ptr[T any](v T) *T { return &v }

func TestPatch(t *testing.T) {
	tests := []struct {
		name        string
		patch       PatchRequest
		errCode     string
		email       string
		roles       []string
		password    string // the password that works afterwards
		notBeforeAt bool   // NotBefore set to the patch time
	}{
		{name: "nothing", patch: PatchRequest{}, email: "a@example.com", roles: []string{"dev"}, password: "password1"},
		{name: "email", patch: PatchRequest{Email: ptr("b@example.com")}, email: "b@example.com", roles: []string{"dev"}, password: "password1"},
		{name: "clear email", patch: PatchRequest{Email: ptr("")}, email: "", roles: []string{"dev"}, password: "password1"},
		{name: "roles", patch: PatchRequest{Roles: &[]string{"ops", "ops", "admin"}}, email: "a@example.com", roles: []string{"ops", "admin"}, password: "password1"},
		{name: "clear roles", patch: PatchRequest{Roles: &[]string{}}, email: "a@example.com", roles: []string{}, password: "password1"},
		{name: "password", patch: PatchRequest{Password: ptr("new password")}, email: "a@example.com", roles: []string{"dev"}, password: "new password", notBeforeAt: true},
		{name: "bad email", patch: PatchRequest{Email: ptr("nope"), Password: ptr("new password")}, errCode: oauth.InvalidRequest, email: "a@example.com", roles: []string{"dev"}, password: "password1"},
		{name: "bad role", patch: PatchRequest{Roles: &[]string{"a b"}}, errCode: oauth.InvalidRequest, email: "a@example.com", roles: []string{"dev"}, password: "password1"},
		{name: "short password", patch: PatchRequest{Password: ptr("short")}, errCode: oauth.InvalidRequest, email: "a@example.com", roles: []string{"dev"}, password: "password1"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			st := newMemStore()
			s, clk, _ := newTestService(t, st, fast)
			ctx := context.Background()
			v, err := s.Create(ctx, CreateRequest{Username: "alice", Password: "password1", Email: "a@example.com", Roles: []string{"dev"}})
			if err != nil {
				t.Fatal(err)
			}
			clk.Add(time.Hour)
			got, err := s.Patch(ctx, v.ID, tt.patch)
			if tt.errCode != "" {
				wantOAuth(t, err, tt.errCode, http.StatusBadRequest)
				got, _ = s.Get(ctx, v.ID)
			} else if err != nil {
				t.Fatal(err)
			}
			if got.Email != tt.email || !slices.Equal(got.Roles, tt.roles) || got.Username != "alice" || !got.CreatedAt.Equal(t0) {
				t.Errorf("after patch %+v", got)
			}
			u := st.users[v.ID]
			if nb := u.NotBefore; tt.notBeforeAt != nb.Equal(t0.Add(time.Hour)) || (!tt.notBeforeAt && !nb.IsZero()) {
				t.Errorf("NotBefore %v (want set: %v)", nb, tt.notBeforeAt)
			}
			if _, err := s.authenticate(ctx, "alice", tt.password, ""); err != nil {
				t.Errorf("password %q: %v", tt.password, err)
			}
			if tt.password != "password1" {
				if _, err := s.authenticate(ctx, "alice", "password1", ""); !errors.Is(err, ErrInvalidCredentials) {
					t.Errorf("old password still works: %v", err)
				}
			}
		})
	}
}

func TestRevoke(t *testing.T) {
	st := newMemStore()
	s, clk, _ := newTestService(t, st, fast)
	ctx := context.Background()
	v, _ := s.Create(ctx, CreateRequest{Username: "alice", Password: "password1"})
	clk.Add(90 * time.Minute)
	at, err := s.Revoke(ctx, v.ID)
	if err != nil {
		t.Fatal(err)
	}
	want := t0.Add(90 * time.Minute)
	if !at.Equal(want) || !st.users[v.ID].NotBefore.Equal(want) {
		t.Errorf("Revoke = %v, NotBefore %v; want %v", at, st.users[v.ID].NotBefore, want)
	}
	if _, err := s.authenticate(ctx, "alice", "password1", ""); err != nil {
		t.Errorf("revoke must not change the password: %v", err)
	}
}

// TestAuthenticateEqualWork: every credential check runs exactly one
// argon2id verification, an unknown user's against the dummy hash.
func TestAuthenticateEqualWork(t *testing.T) {
	st := newMemStore()
	s, _, verified := newTestService(t, st, fast)
	ctx := context.Background()
	v, _ := s.Create(ctx, CreateRequest{Username: "alice", Password: "password1"})
	hash := st.users[v.ID].PasswordHash
	tests := []struct {
		name, user, password string
		ok                   bool
		against              string // the hash verified
	}{
		{"right", "alice", "password1", true, hash},
		{"case and spaces", "  ALICE ", "password1", true, hash},
		{"wrong password", "alice", "password2", false, hash},
		{"unknown user", "mallory", "password1", false, s.dummy},
		{"invalid username", "a\x00", "password1", false, s.dummy},
		{"empty username", "", "password1", false, s.dummy},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			*verified = nil
			u, err := s.authenticate(ctx, tt.user, tt.password, "")
			if tt.ok && (err != nil || u.ID != v.ID) {
				t.Fatalf("Authenticate = %q, %v", u.ID, err)
			}
			if !tt.ok && (!errors.Is(err, ErrInvalidCredentials) || u.ID != "") {
				t.Fatalf("Authenticate = %q, %v; want ErrInvalidCredentials", u.ID, err)
			}
			if len(*verified) != 1 || (*verified)[0] != tt.against {
				t.Errorf("verified %d hashes %v, want one: %q", len(*verified), *verified, tt.against)
			}
		})
	}
	t.Run("overlong password", func(t *testing.T) {
		*verified = nil
		if _, err := s.authenticate(ctx, "alice", strings.Repeat("p", MaxPasswordLen+1), ""); !errors.Is(err, ErrInvalidCredentials) {
			t.Fatal(err)
		}
		if len(*verified) != 0 {
			t.Error("an overlong password was hashed")
		}
	})
}

func TestAuthenticateErrors(t *testing.T) {
	st := newMemStore()
	s, _, _ := newTestService(t, st, fast)
	ctx := context.Background()
	v, _ := s.Create(ctx, CreateRequest{Username: "alice", Password: "password1"})

	u := st.users[v.ID]
	u.PasswordHash = "$argon2id$garbage"
	st.users[v.ID] = u
	if _, err := s.authenticate(ctx, "alice", "password1", ""); !errors.Is(err, ErrInvalidCredentials) {
		t.Errorf("unreadable hash: %v, want ErrInvalidCredentials", err)
	}

	st.err = store.ErrUnavailable
	_, err := s.authenticate(ctx, "alice", "password1", "")
	if !errors.Is(err, store.ErrUnavailable) || errors.Is(err, ErrInvalidCredentials) {
		t.Errorf("store down: %v, want store.ErrUnavailable, not invalid credentials", err)
	}
}

// TestAuthenticateRehashes: a hash made with older parameters is remade
// with the current ones at the next successful login.
func TestAuthenticateRehashes(t *testing.T) {
	st := newMemStore()
	old, _, _ := newTestService(t, st, fast)
	ctx := context.Background()
	v, _ := old.Create(ctx, CreateRequest{Username: "alice", Password: "password1"})
	before := st.users[v.ID].PasswordHash

	stronger := Argon2id{Time: 2, MemoryKiB: 128, Threads: 1, KeyLen: 32, SaltLen: 16}
	s, _, _ := newTestService(t, st, stronger)
	if _, err := s.authenticate(ctx, "alice", "wrong password", ""); !errors.Is(err, ErrInvalidCredentials) {
		t.Fatal(err)
	}
	if st.users[v.ID].PasswordHash != before {
		t.Fatal("a failed login rehashed")
	}
	if _, err := s.authenticate(ctx, "alice", "password1", ""); err != nil {
		t.Fatal(err)
	}
	after := st.users[v.ID].PasswordHash
	if !strings.HasPrefix(after, "$argon2id$v=19$m=128,t=2,p=1$") {
		t.Fatalf("hash after login %q, want the new parameters", after)
	}
	if ok, rehash, err := stronger.Verify(after, "password1"); !ok || rehash || err != nil {
		t.Errorf("new hash: %v %v %v", ok, rehash, err)
	}
	if _, err := s.authenticate(ctx, "alice", "password1", ""); err != nil || st.users[v.ID].PasswordHash != after {
		t.Errorf("second login: %v; rehashed again: %v", err, st.users[v.ID].PasswordHash != after)
	}
}
