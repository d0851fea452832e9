package config_test

import (
	"bytes"
	"encoding/base64"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/authd-dev/authd/internal/config"
)

func TestDevSecretsGeneratedOnceAndReused(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "data", "nested")
	first, err := load(t, nil, "--dev", "--data-dir", dir)
	if err != nil {
		t.Fatal(err)
	}
	if !first.DevGenerated {
		t.Error("DevGenerated = false after generating secrets")
	}
	if _, err := base64.RawURLEncoding.DecodeString(first.AdminToken); err != nil || len(first.AdminToken) != 43 {
		t.Errorf("admin token %q is not base64url of 32 bytes (%v)", first.AdminToken, err)
	}
	if len(first.KEK) != 32 || bytes.Equal(first.KEK, make([]byte, 32)) {
		t.Errorf("KEK %x is not 32 random bytes", first.KEK)
	}
	assertMode(t, dir, 0o700|os.ModeDir)
	assertMode(t, filepath.Join(dir, config.DevAdminTokenFile), 0o600)
	assertMode(t, filepath.Join(dir, config.DevKEKFile), 0o600)
	if b, _ := os.ReadFile(filepath.Join(dir, config.DevAdminTokenFile)); strings.TrimSpace(string(b)) != first.AdminToken {
		t.Errorf("token file holds %q, config has %q", b, first.AdminToken)
	}
	if entries, _ := os.ReadDir(dir); len(entries) != 2 {
		t.Errorf("data dir holds %d entries, want the 2 secret files (no temporary leftovers)", len(entries))
	}

	second, err := load(t, nil, "--dev", "--data-dir", dir)
	if err != nil {
		t.Fatal(err)
	}
	if second.AdminToken != first.AdminToken || !bytes.Equal(second.KEK, first.KEK) || !second.DevGenerated {
		t.Error("second load did not reuse the stored dev secrets")
	}

	// A given token wins; the KEK still comes from the data dir.
	third, err := load(t, map[string]string{"AUTHD_ADMIN_TOKEN": testToken}, "--dev", "--data-dir", dir)
	if err != nil {
		t.Fatal(err)
	}
	if third.AdminToken != testToken || !bytes.Equal(third.KEK, first.KEK) || !third.DevGenerated {
		t.Errorf("explicit token: got token %q, KEK reused %v, DevGenerated %v", third.AdminToken, bytes.Equal(third.KEK, first.KEK), third.DevGenerated)
	}
}

func TestDevSecretsGivenExplicitly(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "data")
	cfg, err := load(t, secrets(), "--dev", "--data-dir", dir)
	if err != nil {
		t.Fatal(err)
	}
	if cfg.DevGenerated || cfg.AdminToken != testToken || !bytes.Equal(cfg.KEK, testKEK) {
		t.Errorf("explicit secrets replaced: DevGenerated %v", cfg.DevGenerated)
	}
	if _, err := os.Stat(dir); !os.IsNotExist(err) {
		t.Errorf("data dir created although no secret was missing: %v", err)
	}
}

func TestDevSecretsCorruptFile(t *testing.T) {
	dir := t.TempDir()
	if err := os.WriteFile(filepath.Join(dir, config.DevKEKFile), []byte("c2VjcmV0LWtleQ==\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	_, err := load(t, nil, "--dev", "--data-dir", dir)
	assertOneLineError(t, err, "--kek: dev mode: ", "got 10 bytes")
	if strings.Contains(err.Error(), "c2VjcmV0LWtleQ") {
		t.Errorf("error echoes the stored secret: %v", err)
	}

	dir = t.TempDir()
	if err := os.WriteFile(filepath.Join(dir, config.DevAdminTokenFile), []byte("short\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	_, err = load(t, nil, "--dev", "--data-dir", dir)
	assertOneLineError(t, err, "--admin-token: dev mode: ", "fewer than 16")
}

func TestEnsureDevSecretsNeedsDataDir(t *testing.T) {
	err := config.EnsureDevSecrets(&config.Config{Dev: true})
	assertOneLineError(t, err, "--data-dir is required", "")
}

func assertMode(t *testing.T, path string, want os.FileMode) {
	t.Helper()
	fi, err := os.Stat(path)
	if err != nil {
		t.Fatal(err)
	}
	if fi.Mode() != want {
		t.Errorf("%s: mode %v, want %v", path, fi.Mode(), want)
	}
}
