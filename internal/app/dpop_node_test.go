package app_test

import (
	"os"
	"os/exec"
	"path/filepath"
	"testing"
)

// TestDPoPOpenIDClient drives authd with a certified third-party client,
// openid-client v6 (testclients/node/dpop.test.mjs), and its own DPoP
// support: client_credentials, a public client's code flow with PKCE
// (pushed with a proof, RFC 9449 §10.1, and front-channel with dpop_jkt,
// §10), refreshes bound to the key (§5), userinfo with the DPoP scheme
// (§7), and, against a second authd with --dpop-nonce, the nonce round
// openid-client performs by itself (§8). The script checks cnf.jkt with
// jose. Under CI=true a missing node fails.
func TestDPoPOpenIDClient(t *testing.T) {
	node, err := exec.LookPath("node")
	if err != nil {
		missingTool(t, "node is not installed")
	}
	dir := filepath.Join("..", "..", "testclients", "node")
	for _, pkg := range []string{"openid-client", "jose"} {
		if _, err := os.Stat(filepath.Join(dir, "node_modules", pkg, "package.json")); err != nil {
			missingTool(t, "%s is not installed in %s (npm ci)", pkg, dir)
		}
	}
	const redirect = "http://127.0.0.1:9999/callback"
	publicClient := func(in *instance) registeredClient {
		return in.createClient(map[string]any{"grant_types": []string{"authorization_code", "refresh_token"},
			"redirect_uris": []string{redirect}, "scope": "openid offline_access", "token_endpoint_auth_method": "none",
			"skip_consent": true})
	}
	ccClient := func(in *instance) registeredClient {
		return in.createClient(map[string]any{"grant_types": []string{"client_credentials"}, "scope": "read"})
	}
	plain := start(t, "")
	nonces := start(t, "", "--dpop-nonce")
	for _, in := range []*instance{plain, nonces} {
		in.createUser("nora", "password-of-nora")
	}
	cc, pub := ccClient(plain), publicClient(plain)
	ncc, npub := ccClient(nonces), publicClient(nonces)
	env := []string{
		"AUTHD_ISSUER=" + plain.Issuer,
		"AUTHD_CC_ID=" + cc.ClientID, "AUTHD_CC_SECRET=" + cc.ClientSecret,
		"AUTHD_PUBLIC_ID=" + pub.ClientID,
		"AUTHD_USERNAME=nora", "AUTHD_PASSWORD=password-of-nora",
		"AUTHD_REDIRECT_URI=" + redirect,
		"AUTHD_NONCE_ISSUER=" + nonces.Issuer,
		"AUTHD_NONCE_CC_ID=" + ncc.ClientID, "AUTHD_NONCE_CC_SECRET=" + ncc.ClientSecret,
		"AUTHD_NONCE_PUBLIC_ID=" + npub.ClientID,
	}
	runRecipe(t, dir, env, node, "--test", "--test-reporter=spec", "dpop.test.mjs")
}
