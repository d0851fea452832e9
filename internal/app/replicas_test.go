package app_test

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"encoding/base64"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/go-jose/go-jose/v4"
	"github.com/go-jose/go-jose/v4/jwt"

	"github.com/authd-dev/authd/internal/redistest"
)

// TestTwoReplicasCatchReuse: a login on replica A, a refresh on replica B,
// and a replay of the first refresh token on A is caught and ends the
// login everywhere.
func TestTwoReplicasCatchReuse(t *testing.T) {
	args := sharedRedisArgs(t)
	a, b := start(t, "", args...), start(t, "", args...)
	c := loginClient(a)
	a.createUser("rita", "password-of-rita")
	login := password(a, c, "rita", "password-of-rita")
	if login.Status != 200 {
		t.Fatalf("login on A: %d %s", login.Status, login.Error)
	}
	onB := refresh(b, c, login.RefreshToken)
	if onB.Status != 200 {
		t.Fatalf("refresh on B: %d %s", onB.Status, onB.Error)
	}
	if r := refresh(a, c, login.RefreshToken); r.Error != "invalid_grant" {
		t.Fatalf("replay on A: %d %s; want invalid_grant", r.Status, r.Error)
	}
	if r := refresh(b, c, onB.RefreshToken); r.Error != "invalid_grant" {
		t.Fatalf("newest token on B after the replay: %d %s; want invalid_grant", r.Status, r.Error)
	}
	// B's introspection answers from its denylist mirror, which reflects
	// A's revocation within --deny-mirror-staleness (10ms).
	if !eventually(t, time.Second, func() bool { return !b.introspect(c, onB.AccessToken).Active }) {
		t.Error("the login's access token is still active on B after 1s")
	}
	if a.introspect(c, onB.AccessToken).Active {
		t.Error("the login's access token is still active on A, which revoked it")
	}
}

// TestRedisClusterLoginRotationReuse runs the login flow against a real
// three-node Redis Cluster created by the test.
func TestRedisClusterLoginRotationReuse(t *testing.T) {
	addrs := redistest.Cluster(t)
	in := start(t, "", "--store", "redis", "--redis-addrs", strings.Join(addrs, ","), "--redis-prefix", "clustertest:")
	c := loginClient(in)
	in.createUser("carl", "password-of-carl")
	login := password(in, c, "carl", "password-of-carl")
	if login.Status != 200 {
		t.Fatalf("login: %d %s", login.Status, login.Error)
	}
	r1 := refresh(in, c, login.RefreshToken)
	if r1.Status != 200 {
		t.Fatalf("refresh: %d %s", r1.Status, r1.Error)
	}
	if r := refresh(in, c, login.RefreshToken); r.Error != "invalid_grant" {
		t.Fatalf("replay: %d %s", r.Status, r.Error)
	}
	if r := refresh(in, c, r1.RefreshToken); r.Error != "invalid_grant" {
		t.Fatalf("newest after reuse: %d %s", r.Status, r.Error)
	}
	if in.introspect(c, r1.AccessToken).Active {
		t.Error("access token of the revoked login is active")
	}
}

// assertionSigner is a private_key_jwt client's key.
type assertionSigner struct {
	id  string
	key *ecdsa.PrivateKey
}

// newAssertionClient registers a private_key_jwt client on in.
func newAssertionClient(t *testing.T, in *instance, id string) assertionSigner {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	jwks := jose.JSONWebKeySet{Keys: []jose.JSONWebKey{{Key: key.Public(), KeyID: "k1", Algorithm: "ES256", Use: "sig"}}}
	in.createClient(map[string]any{"client_id": id, "token_endpoint_auth_method": "private_key_jwt", "jwks": jwks})
	return assertionSigner{id: id, key: key}
}

// sign returns a client assertion with the given aud and typ header.
func (s assertionSigner) sign(t *testing.T, aud, typ string) string {
	t.Helper()
	opts := (&jose.SignerOptions{}).WithHeader("kid", "k1")
	if typ != "" {
		opts = opts.WithType(jose.ContentType(typ))
	}
	sig, err := jose.NewSigner(jose.SigningKey{Algorithm: jose.ES256, Key: s.key}, opts)
	if err != nil {
		t.Fatal(err)
	}
	now := time.Now()
	jti := make([]byte, 16)
	rand.Read(jti)
	claims := jwt.Claims{Issuer: s.id, Subject: s.id, Audience: jwt.Audience{aud}, IssuedAt: jwt.NewNumericDate(now),
		Expiry: jwt.NewNumericDate(now.Add(time.Minute)), ID: base64.RawURLEncoding.EncodeToString(jti)}
	out, err := jwt.Signed(sig).Claims(claims).Serialize()
	if err != nil {
		t.Fatal(err)
	}
	return out
}

// withAssertion asks in for a client_credentials token with assertion.
func withAssertion(in *instance, assertion string) tokenResponse {
	return in.token("", "", url.Values{"grant_type": {"client_credentials"},
		"client_assertion_type": {"urn:ietf:params:oauth:client-assertion-type:jwt-bearer"}, "client_assertion": {assertion}})
}

// TestTwoReplicasRefuseAReplayedAssertion: RFC 7523 §3 says a client
// assertion is used once. Accepted on replica A, the same assertion is
// refused on replica B (and on A again): the jti record is in the store.
func TestTwoReplicasRefuseAReplayedAssertion(t *testing.T) {
	args := sharedRedisArgs(t)
	a, b := start(t, "", args...), start(t, "", args...)
	c := newAssertionClient(t, a, "jwt-svc")
	assertion := c.sign(t, a.Issuer, "")
	if r := withAssertion(a, assertion); r.Status != http.StatusOK {
		t.Fatalf("first use on A: %d %s %s", r.Status, r.Error, r.Description)
	}
	for name, in := range map[string]*instance{"B": b, "A": a} {
		if r := withAssertion(in, assertion); r.Status != http.StatusUnauthorized || r.Error != "invalid_client" {
			t.Errorf("replay on %s: %d %s; want 401 invalid_client", name, r.Status, r.Error)
		}
	}
	// A fresh assertion works on B: nothing is locked out.
	if r := withAssertion(b, c.sign(t, b.Issuer, "")); r.Status != http.StatusOK {
		t.Fatalf("fresh assertion on B: %d %s", r.Status, r.Error)
	}
}

// TestAssertionAudienceAndType: item 10 through the token endpoint. The
// issuer is the audience; the token endpoint URL only with
// --client-assertion-audience-token-endpoint; a JWT typed as another kind
// (an access token) is no client assertion.
func TestAssertionAudienceAndType(t *testing.T) {
	forEachStore(t, func(t *testing.T, storeArgs []string) {
		dir := t.TempDir()
		strict := start(t, dir, storeArgs...)
		c := newAssertionClient(t, strict, "jwt-strict")
		tokenURL := strict.Issuer + "/oauth2/token"
		for _, tt := range []struct {
			name, aud, typ string
			ok             bool
		}{
			{"issuer", strict.Issuer, "", true},
			{"issuer, typ JWT", strict.Issuer, "JWT", true},
			{"issuer, typ client-authentication+jwt", strict.Issuer, "client-authentication+jwt", true},
			{"token endpoint URL (off by default)", tokenURL, "", false},
			{"another server", "https://elsewhere.example", "", false},
			{"issuer, typ at+jwt", strict.Issuer, "at+jwt", false},
			{"issuer, typ dpop+jwt", strict.Issuer, "dpop+jwt", false},
		} {
			r := withAssertion(strict, c.sign(t, tt.aud, tt.typ))
			if tt.ok && r.Status != http.StatusOK {
				t.Errorf("%s: %d %s %s; want 200", tt.name, r.Status, r.Error, r.Description)
			}
			if !tt.ok && (r.Status != http.StatusUnauthorized || r.Error != "invalid_client") {
				t.Errorf("%s: %d %s; want 401 invalid_client", tt.name, r.Status, r.Error)
			}
		}
		// A second server with the setting on; on Redis it shares the
		// store, so it shares the data dir too (the dev KEK is kept there).
		lenientDir := ""
		if slices.Contains(storeArgs, "redis") {
			lenientDir = dir
		}
		lenient := start(t, lenientDir, append(storeArgs, "--client-assertion-audience-token-endpoint")...)
		l := newAssertionClient(t, lenient, "jwt-lenient")
		if r := withAssertion(lenient, l.sign(t, lenient.Issuer+"/oauth2/token", "")); r.Status != http.StatusOK {
			t.Errorf("token endpoint URL with the setting on: %d %s %s", r.Status, r.Error, r.Description)
		}
		if r := withAssertion(lenient, l.sign(t, lenient.Issuer, "")); r.Status != http.StatusOK {
			t.Errorf("issuer with the setting on: %d %s", r.Status, r.Error)
		}
	})
}

// TestTwoReplicasSeeClientChangesAtOnce: with a client cache TTL of a
// minute, a secret reset and a delete on replica A are refused on replica
// B well within a second: A publishes an invalidation through the store.
func TestTwoReplicasSeeClientChangesAtOnce(t *testing.T) {
	args := append(sharedRedisArgs(t), "--client-cache-ttl", "1m")
	a, b := start(t, "", args...), start(t, "", args...)
	c := a.createClient(map[string]any{"client_id": "cached-svc"})
	cc := url.Values{"grant_type": {"client_credentials"}}
	if r := b.token(c.ClientID, c.ClientSecret, cc); r.Status != http.StatusOK {
		t.Fatalf("token on B: %d %s", r.Status, r.Error)
	}
	// B has the client cached now; a change on A must reach it anyway.
	var reset registeredClient
	if st := a.admin(http.MethodPost, "/admin/clients/cached-svc/secret", nil, &reset); st != http.StatusOK {
		t.Fatalf("reset on A: %d", st)
	}
	begin := time.Now()
	if !eventually(t, time.Second, func() bool {
		return b.token(c.ClientID, c.ClientSecret, cc).Status == http.StatusUnauthorized
	}) {
		t.Fatal("B still accepts the old secret 1s after A reset it (cache TTL 1m)")
	}
	t.Logf("B refuses the old secret %s after the reset on A", time.Since(begin))
	if r := b.token(c.ClientID, reset.ClientSecret, cc); r.Status != http.StatusOK {
		t.Fatalf("new secret on B: %d %s", r.Status, r.Error)
	}
	if st := a.admin(http.MethodDelete, "/admin/clients/cached-svc", nil, nil); st != http.StatusNoContent {
		t.Fatalf("delete on A: %d", st)
	}
	begin = time.Now()
	if !eventually(t, time.Second, func() bool {
		return b.token(c.ClientID, reset.ClientSecret, cc).Status == http.StatusUnauthorized
	}) {
		t.Fatal("B still accepts a client 1s after A deleted it (cache TTL 1m)")
	}
	t.Logf("B refuses the deleted client %s after the delete on A", time.Since(begin))
}
