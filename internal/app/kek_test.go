package app_test

import (
	"crypto/rand"
	"encoding/base64"
	"testing"

	"github.com/authd-dev/authd/internal/app"
)

func newKEK() string {
	k := make([]byte, 32)
	rand.Read(k)
	return base64.StdEncoding.EncodeToString(k)
}

// TestKEKChange: restarting with a new --kek and the old one as
// --kek-previous re-seals the signing keys; afterwards the old KEK is no
// longer needed for them, logins started before keep refreshing while the
// previous KEK is given, and a wrong KEK refuses to start.
func TestKEKChange(t *testing.T) {
	dir := t.TempDir()
	oldKEK, newKEK := newKEK(), newKEK()
	in := start(t, dir, "--kek", oldKEK)
	c := loginClient(in)
	in.createUser("kai", "password-of-kai")
	login := password(in, c, "kai", "password-of-kai")
	jwks := string(in.App.Keys.JWKS().Body)
	in.stop()

	rotated := start(t, dir, "--kek", newKEK, "--kek-previous", oldKEK)
	if string(rotated.App.Keys.JWKS().Body) != jwks {
		t.Fatal("the key set changed with the KEK")
	}
	r := refresh(rotated, c, login.RefreshToken)
	if r.Status != 200 {
		t.Fatalf("refresh of a login from before the KEK change: %d %s", r.Status, r.Error)
	}
	rotated.stop()

	// The keys are now sealed under the new KEK alone.
	alone := start(t, dir, "--kek", newKEK)
	if string(alone.App.Keys.JWKS().Body) != jwks {
		t.Fatal("keys lost after dropping the previous KEK")
	}
	if r := refresh(alone, c, r.RefreshToken); r.Status != 200 {
		t.Fatalf("refresh token issued after the change: %d %s", r.Status, r.Error)
	}
	alone.stop()

	// The old KEK alone no longer opens them: authd refuses to start.
	cfg := loadConfig(t, "--dev", "--data-dir", dir, "--kek", oldKEK, "--issuer", "http://127.0.0.1:1")
	if a, err := app.New(t.Context(), cfg, app.Options{Argon2: testArgon2}); err == nil {
		a.Close()
		t.Fatal("started with a KEK that does not open the keys")
	}
}
