package app

import (
	"bytes"
	"context"
	"encoding/base64"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"

	"github.com/authd-dev/authd/clients"
	"github.com/authd-dev/authd/oauth"
	"github.com/authd-dev/authd/server"
)

// DevClientID is the client that dev mode registers so the first token is
// one curl away.
const DevClientID = "authd-dev"

// devBanner makes sure the dev client exists and prints how to use authd:
// the admin token and a ready-to-paste curl for a first token. Dev mode
// only; the secrets live in the data dir (0600).
func (a *App) devBanner(ctx context.Context, out io.Writer, adminAddr string) error {
	secret, err := a.ensureDevClient(ctx)
	if err != nil {
		return fmt.Errorf("dev client: %w", err)
	}
	iss := a.Config.Issuer
	fmt.Fprintf(out, `
  authd is running in DEVELOPMENT mode (--dev): never use this in production.

  admin token (also in %s):
    %s

  KEK, which encrypts the signing keys at rest (also in %s):
    %s

  a first access token:
    curl -s -u %s:%s -d grant_type=client_credentials %s%s

  the admin API, e.g. list clients:
    curl -s -H "Authorization: Bearer %s" http://%s/admin/clients

`, filepath.Join(a.Config.DataDir, "dev-admin-token"), a.Config.AdminToken,
		filepath.Join(a.Config.DataDir, "dev-kek"), a.devKEKText(),
		DevClientID, secret, iss, server.PathToken,
		a.Config.AdminToken, adminAddr)
	return nil
}

// ensureDevClient registers the dev client once and keeps its secret in
// the data dir, so the printed curl keeps working across restarts.
func (a *App) ensureDevClient(ctx context.Context) (string, error) {
	path := filepath.Join(a.Config.DataDir, "dev-client-secret")
	if b, err := os.ReadFile(path); err == nil {
		if _, err := a.Clients.Get(ctx, DevClientID); err == nil {
			return strings.TrimSpace(string(b)), nil
		}
	}
	reg, err := a.Clients.Create(ctx, clients.Metadata{
		ClientID:   DevClientID,
		ClientName: "authd development client",
		GrantTypes: []string{"client_credentials", "password", "refresh_token"},
		Scope:      "openid profile email offline_access read write",
	})
	if e := oauth.As(err); e != nil && e.Code == oauth.Conflict {
		// Registered earlier but the secret file is gone: issue a new one.
		reg, err = a.Clients.ResetSecret(ctx, DevClientID)
	}
	if err != nil {
		return "", err
	}
	if reg.ClientSecret == "" {
		return "", errors.New("dev client has no secret")
	}
	if err := os.WriteFile(path, []byte(reg.ClientSecret+"\n"), 0o600); err != nil {
		return "", err
	}
	return reg.ClientSecret, nil
}

// devKEKText is the KEK as the banner shows it: printed only when dev mode
// generated it (it is then in the data dir anyway), never when the
// operator passed one.
func (a *App) devKEKText() string {
	b, err := os.ReadFile(filepath.Join(a.Config.DataDir, "dev-kek"))
	if err == nil {
		if k, err := base64.StdEncoding.DecodeString(strings.TrimSpace(string(b))); err == nil && bytes.Equal(k, a.Config.KEK) {
			return base64.StdEncoding.EncodeToString(a.Config.KEK)
		}
	}
	return "(given with --kek / AUTHD_KEK; not printed)"
}
