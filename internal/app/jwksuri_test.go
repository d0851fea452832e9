package app_test

import (
	"crypto"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/rsa"
	"crypto/x509"
	"encoding/base64"
	"encoding/json"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/go-jose/go-jose/v4"
	"github.com/go-jose/go-jose/v4/jwt"

	"github.com/authd-dev/authd/internal/app"
)

// clientJWKS is a client's jwks_uri: a TLS server (on 127.0.0.1) whose
// key set the test changes as the client rotates its keys.
type clientJWKS struct {
	srv  *httptest.Server
	mu   sync.Mutex
	set  jose.JSONWebKeySet
	hits atomic.Int32
}

func newClientJWKS(t *testing.T, keys ...jose.JSONWebKey) *clientJWKS {
	t.Helper()
	c := &clientJWKS{}
	c.publish(keys...)
	c.srv = httptest.NewTLSServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		c.hits.Add(1)
		c.mu.Lock()
		body, _ := json.Marshal(c.set)
		c.mu.Unlock()
		w.Header().Set("Content-Type", "application/jwk-set+json")
		w.Header().Set("Cache-Control", "max-age=300")
		w.Write(body)
	}))
	t.Cleanup(c.srv.Close)
	return c
}

func (c *clientJWKS) publish(keys ...jose.JSONWebKey) {
	c.mu.Lock()
	c.set = jose.JSONWebKeySet{Keys: keys}
	c.mu.Unlock()
}

func (c *clientJWKS) url() string { return c.srv.URL + "/jwks.json" }

// roots trusts the test server's certificate.
func (c *clientJWKS) roots() *x509.CertPool {
	return c.srv.Client().Transport.(*http.Transport).TLSClientConfig.RootCAs
}

func newECKey(t *testing.T, kid string) (*ecdsa.PrivateKey, jose.JSONWebKey) {
	t.Helper()
	k, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	return k, jose.JSONWebKey{Key: k.Public(), KeyID: kid, Use: "sig", Algorithm: string(jose.ES256)}
}

// clientAssertion is a client authentication JWT (RFC 7523 §2.2) for the
// issuer in, signed with alg and key (a private key, or the secret bytes
// for HS256), jti given or random.
func clientAssertion(t *testing.T, in *instance, now time.Time, id string, alg jose.SignatureAlgorithm, key any, kid, jti string) string {
	t.Helper()
	opts := &jose.SignerOptions{}
	if kid != "" {
		opts = opts.WithHeader("kid", kid)
	}
	sig, err := jose.NewSigner(jose.SigningKey{Algorithm: alg, Key: key}, opts)
	if err != nil {
		t.Fatal(err)
	}
	if jti == "" {
		b := make([]byte, 16)
		rand.Read(b)
		jti = base64.RawURLEncoding.EncodeToString(b)
	}
	claims := jwt.Claims{Issuer: id, Subject: id, Audience: jwt.Audience{in.Issuer}, IssuedAt: jwt.NewNumericDate(now),
		Expiry: jwt.NewNumericDate(now.Add(time.Minute)), ID: jti}
	out, err := jwt.Signed(sig).Claims(claims).Serialize()
	if err != nil {
		t.Fatal(err)
	}
	return out
}

func wantInvalidClient(t *testing.T, what string, r tokenResponse) {
	t.Helper()
	if r.Status != http.StatusUnauthorized || r.Error != "invalid_client" || r.Description != "client authentication failed" {
		t.Fatalf("%s: %d %s %q, want 401 invalid_client \"client authentication failed\"", what, r.Status, r.Error, r.Description)
	}
}

// TestPrivateKeyJWTWithJWKSURI: a client whose keys are at its jwks_uri
// authenticates with private_key_jwt across a key rotation on its side
// (OIDC Core §10.1.1): it publishes a new key and signs with it, authd
// refetches on the unknown kid and accepts; once the old key is removed,
// it is refused as soon as authd's cached set expires (max-age 300).
//
// What this test bypasses: the jwks_uri is served on 127.0.0.1 with a
// test certificate. startApp runs authd with --dev, which lets the SSRF
// guard admit loopback (and nothing else non-public), and the test-only
// app.Options.ClientJWKSRootCAs makes authd trust the test certificate.
// TestJWKSURIRefusedOutsideDev shows the same server refused without --dev.
func TestPrivateKeyJWTWithJWKSURI(t *testing.T) {
	forEachStore(t, func(t *testing.T, storeArgs []string) {
		k1, pub1 := newECKey(t, "k1")
		k2, pub2 := newECKey(t, "k2")
		jwks := newClientJWKS(t, pub1)
		clk := newFakeClock(time.Now())
		in := startApp(t, "", slog.LevelWarn, app.Options{Argon2: testArgon2, Now: clk.Now, ClientJWKSRootCAs: jwks.roots()}, storeArgs...)
		c := in.createClient(map[string]any{"token_endpoint_auth_method": "private_key_jwt", "jwks_uri": jwks.url()})

		login := func(key crypto.Signer, kid string) tokenResponse {
			return withAssertion(in, clientAssertion(t, in, clk.Now(), c.ClientID, jose.ES256, key, kid, ""))
		}
		if r := login(k1, "k1"); r.Status != http.StatusOK {
			t.Fatalf("first key: %d %s %s", r.Status, r.Error, r.Description)
		}
		if r := login(k1, "k1"); r.Status != http.StatusOK || jwks.hits.Load() != 1 {
			t.Fatalf("second request: %d %s, %d fetches (want 1: cached)", r.Status, r.Error, jwks.hits.Load())
		}

		// The client rotates: publishes k2 beside k1, then signs with k2.
		jwks.publish(pub1, pub2)
		clk.Add(31 * time.Second) // past the 30 s refetch interval
		if r := login(k2, "k2"); r.Status != http.StatusOK {
			t.Fatalf("new key after rotation: %d %s %s", r.Status, r.Error, r.Description)
		}
		if jwks.hits.Load() != 2 {
			t.Fatalf("%d fetches, want 2 (one refetch on the unknown kid)", jwks.hits.Load())
		}
		// A kid nobody published refetches at most once per interval.
		for range 5 {
			wantInvalidClient(t, "unknown kid", login(k2, "nope"))
		}
		if jwks.hits.Load() != 2 {
			t.Fatalf("%d fetches after unknown kids within the interval, want still 2", jwks.hits.Load())
		}

		// k1 is withdrawn: still cached for up to max-age, then refused.
		jwks.publish(pub2)
		if r := login(k1, "k1"); r.Status != http.StatusOK {
			t.Fatalf("old key while the set is cached: %d %s", r.Status, r.Error)
		}
		clk.Add(300 * time.Second)
		wantInvalidClient(t, "withdrawn key after cache expiry", login(k1, "k1"))
		if r := login(k2, "k2"); r.Status != http.StatusOK {
			t.Fatalf("current key: %d %s", r.Status, r.Error)
		}

		// HS256 keyed with the public JWK (algorithm confusion) is refused.
		pubJSON, _ := json.Marshal(pub2)
		wantInvalidClient(t, "HS256 for a private_key_jwt client", withAssertion(in, clientAssertion(t, in, clk.Now(), c.ClientID, jose.HS256, pubJSON, "k2", "")))
	})
}

// TestJWKSURIRefusedOutsideDev: without --dev (and without
// --client-jwks-allow-private) the SSRF guard refuses to connect to a
// jwks_uri on a loopback address; the client sees only invalid_client.
func TestJWKSURIRefusedOutsideDev(t *testing.T) {
	k1, pub1 := newECKey(t, "k1")
	jwks := newClientJWKS(t, pub1)
	token := base64.RawURLEncoding.EncodeToString([]byte("an admin token for this test only!"))
	in := startApp(t, "", slog.LevelError, app.Options{Argon2: testArgon2, ClientJWKSRootCAs: jwks.roots()},
		"--dev=false", "--admin-token", token, "--kek", newKEK())
	c := in.createClient(map[string]any{"token_endpoint_auth_method": "private_key_jwt", "jwks_uri": jwks.url()})
	wantInvalidClient(t, "loopback jwks_uri outside dev", withAssertion(in, clientAssertion(t, in, time.Now(), c.ClientID, jose.ES256, k1, "k1", "")))
	if n := jwks.hits.Load(); n != 0 {
		t.Fatalf("the jwks_uri on loopback was reached %d times", n)
	}

	// An http jwks_uri is refused at registration (RFC 7591 §2 wants https).
	var e tokenResponse
	if st := in.admin(http.MethodPost, "/admin/clients", map[string]any{"token_endpoint_auth_method": "private_key_jwt", "jwks_uri": "http://keys.example/jwks"}, &e); st != http.StatusBadRequest || e.Error != "invalid_client_metadata" {
		t.Fatalf("http jwks_uri: %d %s", st, e.Error)
	}
}

// TestJWKSURIAllowPrivate: --client-jwks-allow-private admits the same
// loopback server without --dev.
func TestJWKSURIAllowPrivate(t *testing.T) {
	k1, pub1 := newECKey(t, "k1")
	jwks := newClientJWKS(t, pub1)
	token := base64.RawURLEncoding.EncodeToString([]byte("an admin token for this test only!"))
	in := startApp(t, "", slog.LevelWarn, app.Options{Argon2: testArgon2, ClientJWKSRootCAs: jwks.roots()},
		"--dev=false", "--admin-token", token, "--kek", newKEK(), "--client-jwks-allow-private")
	c := in.createClient(map[string]any{"token_endpoint_auth_method": "private_key_jwt", "jwks_uri": jwks.url()})
	if r := withAssertion(in, clientAssertion(t, in, time.Now(), c.ClientID, jose.ES256, k1, "k1", "")); r.Status != http.StatusOK {
		t.Fatalf("allow-private: %d %s", r.Status, r.Error)
	}
}

// TestClientSecretJWT: HS256 assertions keyed with the client secret
// (RFC 7523 §2.2, OIDC Core §9), on both stores, and across a KEK change
// (the secret is sealed under a key derived from the KEK; the previous
// KEK's key still opens it).
func TestClientSecretJWT(t *testing.T) {
	forEachStore(t, func(t *testing.T, storeArgs []string) {
		dir := t.TempDir()
		oldKEK := newKEK()
		in := start(t, dir, append([]string{"--kek", oldKEK}, storeArgs...)...)
		c := in.createClient(map[string]any{"token_endpoint_auth_method": "client_secret_jwt"})
		if len(c.ClientSecret) < 32 {
			t.Fatalf("secret %q: want ≥ 32 bytes (RFC 7518 §3.2)", c.ClientSecret)
		}
		secret := []byte(c.ClientSecret)
		now := time.Now

		if r := withAssertion(in, clientAssertion(t, in, now(), c.ClientID, jose.HS256, secret, "", "jti-1")); r.Status != http.StatusOK {
			t.Fatalf("client_secret_jwt: %d %s %s", r.Status, r.Error, r.Description)
		}
		wantInvalidClient(t, "replayed jti", withAssertion(in, clientAssertion(t, in, now(), c.ClientID, jose.HS256, secret, "", "jti-1")))
		wantInvalidClient(t, "wrong secret", withAssertion(in, clientAssertion(t, in, now(), c.ClientID, jose.HS256, append(secret, 'x'), "", "")))
		rk, err := rsa.GenerateKey(rand.Reader, 2048)
		if err != nil {
			t.Fatal(err)
		}
		wantInvalidClient(t, "RS256 for a client_secret_jwt client", withAssertion(in, clientAssertion(t, in, now(), c.ClientID, jose.RS256, rk, "", "")))
		// The secret in Basic is another method: refused.
		wantInvalidClient(t, "Basic for a client_secret_jwt client", in.token(c.ClientID, c.ClientSecret, map[string][]string{"grant_type": {"client_credentials"}}))
		in.stop()

		// A KEK change keeps the sealed secret working through --kek-previous.
		rotated := start(t, dir, append([]string{"--kek", newKEK(), "--kek-previous", oldKEK}, storeArgs...)...)
		if r := withAssertion(rotated, clientAssertion(t, rotated, now(), c.ClientID, jose.HS256, secret, "", "")); r.Status != http.StatusOK {
			t.Fatalf("after a KEK change: %d %s", r.Status, r.Error)
		}
		// A secret reset re-seals under the new KEK and returns the new secret.
		var reset registeredClient
		if st := rotated.admin(http.MethodPost, "/admin/clients/"+c.ClientID+"/secret", nil, &reset); st != http.StatusOK || reset.ClientSecret == "" {
			t.Fatalf("secret reset: %d", st)
		}
		wantInvalidClient(t, "old secret after reset", withAssertion(rotated, clientAssertion(t, rotated, now(), c.ClientID, jose.HS256, secret, "", "")))
		if r := withAssertion(rotated, clientAssertion(t, rotated, now(), c.ClientID, jose.HS256, []byte(reset.ClientSecret), "", "")); r.Status != http.StatusOK {
			t.Fatalf("new secret: %d %s", r.Status, r.Error)
		}
	})
}
