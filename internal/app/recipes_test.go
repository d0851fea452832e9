package app_test

import (
	"bytes"
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"net/http"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"golang.org/x/oauth2"
)

// The recipes of docs/verifying-tokens.md live in recipes/: each is a small
// module plus its own tests, run here against a real authd. In CI (CI=true)
// a missing node, npm package or Python library fails the test: `make test`
// runs scripts/ensure-recipes.sh first, which installs them.

const recipesDir = "../../recipes"

// recipeTokens are the tokens every recipe is given: one it must accept per
// algorithm and one it must refuse per reason (RFC 9068 §4).
type recipeTokens struct {
	issuer, jwksURL, audience string
	clientRS, clientES        string
	goodRS, goodES            string
	tampered, expired         string
	wrongAud, algNone         string
	wrongTyp, unknownKid      string
}

func (r recipeTokens) env() []string {
	return []string{
		"AUTHD_ISSUER=" + r.issuer,
		"AUTHD_JWKS_URL=" + r.jwksURL,
		"AUTHD_AUDIENCE=" + r.audience,
		"AUTHD_CLIENT_ID=" + r.clientRS,
		"AUTHD_CLIENT_ID_ES256=" + r.clientES,
		"TOKEN_GOOD_RS256=" + r.goodRS,
		"TOKEN_GOOD_ES256=" + r.goodES,
		"TOKEN_TAMPERED=" + r.tampered,
		"TOKEN_EXPIRED=" + r.expired,
		"TOKEN_WRONG_AUD=" + r.wrongAud,
		"TOKEN_ALG_NONE=" + r.algNone,
		"TOKEN_WRONG_TYP=" + r.wrongTyp,
		"TOKEN_UNKNOWN_KID=" + r.unknownKid,
	}
}

// offsetClock is the real clock shifted by a settable offset, so a token can
// be minted in the past and be expired by the time a recipe sees it.
type offsetClock struct{ off atomic.Int64 }

func (c *offsetClock) Now() time.Time { return time.Now().Add(time.Duration(c.off.Load())) }

// mintRecipeTokens starts an authd on a temp bolt directory and mints the
// tokens the recipes are run with.
func mintRecipeTokens(t *testing.T) recipeTokens {
	t.Helper()
	clock := &offsetClock{}
	clock.off.Store(int64(-30 * time.Minute))
	in := startWith(t, clock.Now, "", "--store", "bolt", "--access-token-ttl", "15m")
	const api = "https://orders.example.com"
	rsClient := in.createClient(map[string]any{"client_name": "recipes rs256", "scope": "orders:read",
		"audience": []string{api}, "access_token_signing_alg": "RS256"})
	esClient := in.createClient(map[string]any{"client_name": "recipes es256", "scope": "orders:read",
		"audience": []string{api}, "access_token_signing_alg": "ES256"})
	other := in.createClient(map[string]any{"client_name": "recipes other api", "scope": "orders:read",
		"audience": []string{"https://billing.example.com"}})
	cc := func(c registeredClient) string {
		t.Helper()
		tr := in.token(c.ClientID, c.ClientSecret, url.Values{"grant_type": {"client_credentials"}})
		if tr.Status != http.StatusOK || tr.AccessToken == "" {
			t.Fatalf("client_credentials for %s: %d %s %s", c.ClientID, tr.Status, tr.Error, tr.Description)
		}
		return tr.AccessToken
	}

	// Minted 30 minutes ago with a 15 minute lifetime: expired 15 minutes
	// ago, by the same key that signs the good tokens.
	expired := cc(rsClient)
	clock.off.Store(0)
	r := recipeTokens{issuer: in.Issuer, audience: api, clientRS: rsClient.ClientID, clientES: esClient.ClientID,
		expired: expired, goodRS: cc(rsClient), goodES: cc(esClient), wrongAud: cc(other)}
	r.jwksURL = discoveredJWKS(t, in)

	// Tampered: the good token's claims with one more scope, its signature kept.
	header, payload, sig := splitJWS(t, r.goodRS)
	claims := decodeClaims(t, r.goodRS)
	claims["scope"] = "orders:read orders:write"
	r.tampered = header + "." + encodeSegment(t, claims) + "." + sig
	// alg none (RFC 7519 §6): the good token's header with "alg": "none",
	// its claims, and no signature.
	var hdr map[string]any
	if raw, err := base64.RawURLEncoding.DecodeString(header); err != nil || json.Unmarshal(raw, &hdr) != nil {
		t.Fatalf("decode header of the good token: %v", err)
	}
	hdr["alg"] = "none"
	r.algNone = encodeSegment(t, hdr) + "." + payload + "."
	// A kid the JWKS does not have (a key the verifier must not guess at).
	hdr["alg"], hdr["kid"] = "RS256", "no-such-key"
	r.unknownKid = encodeSegment(t, hdr) + "." + payload + "." + sig
	r.wrongTyp = idToken(t, in)

	// The tokens are what their names say, so a recipe that accepts one of
	// them is wrong, not the fixture.
	now := time.Now().Unix()
	if exp, _ := decodeClaims(t, r.expired)["exp"].(float64); int64(exp) >= now {
		t.Fatalf("the expired token expires at %v, after now (%d)", exp, now)
	}
	if aud := decodeClaims(t, r.wrongAud)["aud"]; strings.Contains(jsonString(t, aud), api) {
		t.Fatalf("the wrong-aud token has aud %v", aud)
	}
	for name, tok := range map[string]string{"good RS256": r.goodRS, "good ES256": r.goodES} {
		if aud := decodeClaims(t, tok)["aud"]; !strings.Contains(jsonString(t, aud), api) {
			t.Fatalf("the %s token has aud %v; want %s", name, aud, api)
		}
	}
	if h := jwsHeader(t, r.goodES); h["alg"] != "ES256" || h["typ"] != "at+jwt" {
		t.Fatalf("the ES256 token's header is %v", h)
	}
	if h := jwsHeader(t, r.goodRS); h["alg"] != "RS256" || h["typ"] != "at+jwt" {
		t.Fatalf("the RS256 token's header is %v", h)
	}
	if h := jwsHeader(t, r.wrongTyp); h["typ"] == "at+jwt" {
		t.Fatalf("the ID token's header is %v", h)
	}
	return r
}

// discoveredJWKS reads jwks_uri from authd's discovery document, as a
// resource server would.
func discoveredJWKS(t *testing.T, in *instance) string {
	t.Helper()
	resp, err := http.Get(in.Issuer + "/.well-known/openid-configuration")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var d struct {
		Issuer  string `json:"issuer"`
		JWKSURI string `json:"jwks_uri"`
	}
	if err := json.NewDecoder(resp.Body).Decode(&d); err != nil || d.JWKSURI == "" || d.Issuer != in.Issuer {
		t.Fatalf("discovery: %d %+v %v", resp.StatusCode, d, err)
	}
	return d.JWKSURI
}

// idToken signs a user in through the authorization code flow and returns
// the ID token: a JWT from the same issuer and keys whose typ is not at+jwt.
func idToken(t *testing.T, in *instance) string {
	t.Helper()
	const redirect = "http://localhost:7777/cb"
	c := in.createClient(map[string]any{"grant_types": []string{"authorization_code"}, "redirect_uris": []string{redirect},
		"scope": "openid", "skip_consent": true})
	in.createUser("recipe-user", "password-of-recipe-user")
	conf := oauth2.Config{ClientID: c.ClientID, ClientSecret: c.ClientSecret, RedirectURL: redirect, Scopes: []string{"openid"},
		Endpoint: oauth2.Endpoint{AuthURL: in.Issuer + "/oauth2/authorize", TokenURL: in.Issuer + "/oauth2/token", AuthStyle: oauth2.AuthStyleInHeader}}
	resp, _ := signIn(t, in, browser(t), conf.AuthCodeURL("state-of-recipes"), "recipe-user", "password-of-recipe-user")
	tok, err := conf.Exchange(context.Background(), codeOf(t, resp, redirect))
	if err != nil {
		t.Fatalf("exchange the code: %v", err)
	}
	id, _ := tok.Extra("id_token").(string)
	if id == "" {
		t.Fatal("no id_token in the token response")
	}
	return id
}

func splitJWS(t *testing.T, jws string) (header, payload, sig string) {
	t.Helper()
	parts := strings.Split(jws, ".")
	if len(parts) != 3 {
		t.Fatalf("not a compact JWS: %q", jws)
	}
	return parts[0], parts[1], parts[2]
}

func jwsHeader(t *testing.T, jws string) map[string]any {
	t.Helper()
	header, _, _ := splitJWS(t, jws)
	raw, err := base64.RawURLEncoding.DecodeString(header)
	if err != nil {
		t.Fatal(err)
	}
	var h map[string]any
	if err := json.Unmarshal(raw, &h); err != nil {
		t.Fatal(err)
	}
	return h
}

func encodeSegment(t *testing.T, v any) string {
	t.Helper()
	raw, err := json.Marshal(v)
	if err != nil {
		t.Fatal(err)
	}
	return base64.RawURLEncoding.EncodeToString(raw)
}

func jsonString(t *testing.T, v any) string {
	t.Helper()
	raw, err := json.Marshal(v)
	if err != nil {
		t.Fatal(err)
	}
	return string(raw)
}

// missingTool fails the test in CI and skips it elsewhere: CI must run every
// recipe, a developer's machine may lack node or python3.
func missingTool(t *testing.T, format string, args ...any) {
	t.Helper()
	if os.Getenv("CI") == "true" {
		t.Fatalf(format+" (CI=true: `make test` runs scripts/ensure-recipes.sh, which installs it)", args...)
	}
	t.Skipf(format+"; run scripts/ensure-recipes.sh (or `make test`) to install it", args...)
}

// runRecipe runs name with args in dir with the tokens in its environment,
// and fails the test, showing the tool's output, unless it exits 0.
func runRecipe(t *testing.T, dir string, env []string, name string, args ...string) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, name, args...)
	cmd.Dir = dir
	// authd listens on loopback: never send a recipe's JWKS fetch through a
	// proxy named in the environment (Python's urllib honours HTTP_PROXY).
	noProxy := strings.Trim(os.Getenv("NO_PROXY")+","+os.Getenv("no_proxy")+",127.0.0.1,localhost", ",")
	cmd.Env = append(append(os.Environ(), env...), "NO_PROXY="+noProxy, "no_proxy="+noProxy)
	var out bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &out
	err := cmd.Run()
	if err != nil {
		t.Fatalf("%s %s in %s: %v\n%s", name, strings.Join(args, " "), dir, err, out.String())
	}
	t.Logf("%s %s:\n%s", name, strings.Join(args, " "), out.String())
}

// pythonWithPyJWT returns the first python3 that imports jwt and
// cryptography: $AUTHD_RECIPE_PYTHON, then Debian's /usr/bin/python3 (where
// apt-get puts python3-jwt), then python3 on PATH.
func pythonWithPyJWT() (string, error) {
	var candidates []string
	if p := os.Getenv("AUTHD_RECIPE_PYTHON"); p != "" {
		candidates = append(candidates, p)
	}
	candidates = append(candidates, "/usr/bin/python3")
	if p, err := exec.LookPath("python3"); err == nil {
		candidates = append(candidates, p)
	}
	var errs []error
	for _, p := range candidates {
		out, err := exec.Command(p, "-c", "import jwt, cryptography").CombinedOutput()
		if err == nil {
			return p, nil
		}
		errs = append(errs, errors.New(p+": "+strings.TrimSpace(string(out))+" "+err.Error()))
	}
	return "", errors.Join(errs...)
}

// TestRecipesAgainstAuthd runs the Node (jose) and Python (PyJWT) recipes of
// docs/verifying-tokens.md against a real authd: each must accept a good
// RS256 and ES256 token and refuse a tampered, an expired, a wrong-aud, an
// "alg": "none" and a wrong-typ (ID) token, for the reason the library names.
func TestRecipesAgainstAuthd(t *testing.T) {
	tokens := mintRecipeTokens(t)
	t.Run("node", func(t *testing.T) {
		node, err := exec.LookPath("node")
		if err != nil {
			missingTool(t, "node is not installed")
		}
		dir := filepath.Join(recipesDir, "node")
		if _, err := os.Stat(filepath.Join(dir, "node_modules", "jose", "package.json")); err != nil {
			missingTool(t, "jose is not installed in %s (npm ci)", dir)
		}
		runRecipe(t, dir, tokens.env(), node, "--test", "--test-reporter=spec", "verify.test.mjs")
	})
	t.Run("python", func(t *testing.T) {
		python, err := pythonWithPyJWT()
		if err != nil {
			missingTool(t, "no python3 with PyJWT and cryptography: %v", err)
		}
		env := append(tokens.env(), "PYTHONDONTWRITEBYTECODE=1")
		runRecipe(t, filepath.Join(recipesDir, "python"), env, python, "-m", "unittest", "-v", "test_authd_verify")
	})
}

// TestRecipeDocsQuoteTheRecipes: docs/verifying-tokens.md shows the code the
// recipe tests run, verbatim, so the page cannot drift from what is tested.
func TestRecipeDocsQuoteTheRecipes(t *testing.T) {
	doc, err := os.ReadFile("../../docs/verifying-tokens.md")
	if err != nil {
		t.Fatal(err)
	}
	for _, s := range []struct{ heading, file string }{
		{"## Node (jose)", "node/verify.mjs"},
		{"## Python (PyJWT)", "python/authd_verify.py"},
		{"## Java (Nimbus JOSE+JWT)", ""},
	} {
		if !bytes.Contains(doc, []byte("\n"+s.heading+"\n")) {
			t.Errorf("docs/verifying-tokens.md has no %q section", s.heading)
		}
		if s.file == "" {
			continue
		}
		code, err := os.ReadFile(filepath.Join(recipesDir, s.file))
		if err != nil {
			t.Fatal(err)
		}
		if !bytes.Contains(doc, code) {
			t.Errorf("docs/verifying-tokens.md does not quote recipes/%s as it is", s.file)
		}
	}
}
