package config

import (
	"crypto/rand"
	"encoding/base64"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
)

// Names of the dev-mode secret files inside the data dir.
const (
	DevAdminTokenFile = "dev-admin-token"
	DevKEKFile        = "dev-kek"
)

// EnsureDevSecrets gives a dev-mode cfg the secrets it lacks: a missing
// admin token or KEK is read from <data-dir>/dev-admin-token or
// <data-dir>/dev-kek, or, if that file does not exist, generated (32 bytes
// of crypto/rand; the token base64url, the KEK standard base64) and
// written with mode 0600 (the data dir is created 0700), so the next start
// reuses it. DevGenerated is set when either came from here. Secrets given
// explicitly are left alone; nothing is printed.
func EnsureDevSecrets(cfg *Config) error {
	if cfg.AdminToken != "" && cfg.KEK != nil {
		return nil
	}
	if cfg.DataDir == "" {
		return settingErr("data-dir", "is required with --dev (it keeps the dev secrets)")
	}
	if err := os.MkdirAll(cfg.DataDir, 0o700); err != nil {
		return settingErr("data-dir", "cannot create the data dir: %v", err)
	}
	if cfg.AdminToken == "" {
		tok, err := devSecret(filepath.Join(cfg.DataDir, DevAdminTokenFile), base64.RawURLEncoding)
		if err != nil {
			return settingErr("admin-token", "dev mode: %v", err)
		}
		if len(tok) < MinAdminTokenLen {
			return settingErr("admin-token", "dev mode: %s holds fewer than %d characters; delete it to generate a new token",
				filepath.Join(cfg.DataDir, DevAdminTokenFile), MinAdminTokenLen)
		}
		cfg.AdminToken, cfg.DevGenerated = tok, true
	}
	if cfg.KEK == nil {
		path := filepath.Join(cfg.DataDir, DevKEKFile)
		text, err := devSecret(path, base64.StdEncoding)
		if err != nil {
			return settingErr("kek", "dev mode: %v", err)
		}
		kek, err := decodeKey(text)
		if err != nil {
			return settingErr("kek", "dev mode: %s %v", path, err)
		}
		cfg.KEK, cfg.DevGenerated = kek, true
	}
	return nil
}

// devSecret returns the trimmed content of path or, when it does not
// exist, creates it with 32 random bytes in enc. The file is written under
// a temporary name (0600) and published with a hard link, which fails if
// the name exists: two processes starting at once agree on one secret and
// nobody reads a half-written file.
func devSecret(path string, enc *base64.Encoding) (string, error) {
	if b, err := os.ReadFile(path); err == nil {
		return strings.TrimSpace(string(b)), nil
	} else if !errors.Is(err, fs.ErrNotExist) {
		return "", err
	}
	raw := make([]byte, KeySize)
	rand.Read(raw) // never fails (crypto/rand, Go ≥ 1.24)
	secret := enc.EncodeToString(raw)

	tmp, err := os.CreateTemp(filepath.Dir(path), "."+filepath.Base(path)+".tmp*") // mode 0600
	if err != nil {
		return "", err
	}
	defer os.Remove(tmp.Name())
	_, err = tmp.WriteString(secret + "\n")
	if cerr := tmp.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		return "", fmt.Errorf("write %s: %w", path, err)
	}
	if err := os.Link(tmp.Name(), path); errors.Is(err, fs.ErrExist) {
		b, err := os.ReadFile(path) // another process won the race: use its secret
		return strings.TrimSpace(string(b)), err
	} else if err != nil {
		return "", err
	}
	return secret, nil
}
