package verifier_test

import (
	"context"
	"crypto/x509"
	"encoding/base64"
	"encoding/json"
	"encoding/pem"
	"errors"
	"strings"
	"sync"
	"testing"
	"time"

	jose "github.com/go-jose/go-jose/v4"
	"github.com/go-jose/go-jose/v4/jwt"

	"github.com/authd-dev/authd/verifier"
	"github.com/authd-dev/authd/verifier/verifiertest"
)

const audience = "https://api.example"

// clock is a settable clock shared by the fake issuer and the verifier.
type clock struct {
	mu sync.Mutex
	t  time.Time
}

func newClock() *clock { return &clock{t: time.Now().Truncate(time.Second)} }

func (c *clock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.t
}

func (c *clock) Advance(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.t = c.t.Add(d)
}

// env is a fake issuer, a clock and a verifier of its tokens.
type env struct {
	iss   *verifiertest.Issuer
	clock *clock
	v     *verifier.Verifier
}

func newEnv(t testing.TB, opts ...verifier.Option) *env {
	t.Helper()
	c := newClock()
	iss := verifiertest.NewIssuer(t, verifiertest.WithClock(c.Now))
	return &env{iss: iss, clock: c, v: newVerifier(t, iss, c, opts...)}
}

func newVerifier(t testing.TB, iss *verifiertest.Issuer, c *clock, opts ...verifier.Option) *verifier.Verifier {
	t.Helper()
	all := append([]verifier.Option{
		verifier.WithAudience(audience),
		verifier.WithClock(c.Now),
		verifier.WithHTTPClient(iss.Client()),
	}, opts...)
	v, err := verifier.New(context.Background(), iss.URL(), all...)
	if err != nil {
		t.Fatalf("New: %v", err)
	}
	t.Cleanup(func() { v.Close() })
	return v
}

// token is the three parts of a compact JWS, for building forged tokens.
func splitToken(t *testing.T, tok string) (header, payload map[string]any, sig string) {
	t.Helper()
	parts := strings.Split(tok, ".")
	if len(parts) != 3 {
		t.Fatalf("token has %d parts", len(parts))
	}
	for i, dst := range []*map[string]any{&header, &payload} {
		b, err := base64.RawURLEncoding.DecodeString(parts[i])
		if err != nil {
			t.Fatal(err)
		}
		if err := json.Unmarshal(b, dst); err != nil {
			t.Fatal(err)
		}
	}
	return header, payload, parts[2]
}

func joinToken(t *testing.T, header, payload map[string]any, sig string) string {
	t.Helper()
	enc := func(v any) string {
		b, err := json.Marshal(v)
		if err != nil {
			t.Fatal(err)
		}
		return base64.RawURLEncoding.EncodeToString(b)
	}
	return enc(header) + "." + enc(payload) + "." + sig
}

func TestVerify(t *testing.T) {
	e := newEnv(t)
	now := e.clock.Now()
	aud := map[string]any{"aud": audience, "sub": "user-1", "client_id": "web", "scope": "read write"}
	with := func(extra map[string]any) map[string]any {
		m := map[string]any{}
		for k, v := range aud {
			m[k] = v
		}
		for k, v := range extra {
			m[k] = v
		}
		return m
	}

	// Forgeries built from a good token.
	good := e.iss.Issue(aud)
	h, p, sig := splitToken(t, good)
	p["sub"] = "admin"
	tampered := joinToken(t, h, p, sig)
	_, p, _ = splitToken(t, good)
	none := joinToken(t, map[string]any{"alg": "none", "typ": "at+jwt", "kid": h["kid"]}, p, "")
	der, err := x509.MarshalPKIXPublicKey(e.iss.PublicKey("RS256"))
	if err != nil {
		t.Fatal(err)
	}
	pubPEM := pem.EncodeToMemory(&pem.Block{Type: "PUBLIC KEY", Bytes: der})
	hs := signHMAC(t, pubPEM, h["kid"].(string), p)
	// An ES256 signature under the kid of the RSA key: alg/key confusion.
	confused := e.iss.Issue(aud, verifiertest.WithAlg("ES256"), verifiertest.WithKeyID(e.iss.KeyID("RS256")))

	tests := []struct {
		name  string
		token string
		want  error
	}{
		{"valid RS256", good, nil},
		{"valid ES256", e.iss.Issue(aud, verifiertest.WithAlg("ES256")), nil},
		{"aud array", e.iss.Issue(with(map[string]any{"aud": []string{"other", audience}})), nil},
		{"typ with application/ prefix, any case", e.iss.Issue(aud, verifiertest.WithType("application/AT+JWT")), nil},
		{"expired within leeway", e.iss.Issue(with(map[string]any{"exp": now.Add(-20 * time.Second)})), nil},
		{"expired", e.iss.Issue(with(map[string]any{"exp": now.Add(-time.Minute)})), verifier.ErrExpired},
		{"nbf in future", e.iss.Issue(with(map[string]any{"nbf": now.Add(5 * time.Minute)})), verifier.ErrNotYetValid},
		{"nbf within leeway", e.iss.Issue(with(map[string]any{"nbf": now.Add(20 * time.Second)})), nil},
		{"iat in future", e.iss.Issue(with(map[string]any{"iat": now.Add(5 * time.Minute)})), verifier.ErrNotYetValid},
		{"wrong iss", e.iss.Issue(with(map[string]any{"iss": e.iss.URL() + "/"})), verifier.ErrInvalidIssuer},
		{"wrong aud", e.iss.Issue(with(map[string]any{"aud": "https://other.example"})), verifier.ErrInvalidAudience},
		{"no aud", e.iss.Issue(with(map[string]any{"aud": nil})), verifier.ErrInvalidAudience},
		{"typ JWT", e.iss.Issue(aud, verifiertest.WithType("JWT")), verifier.ErrWrongType},
		{"no typ", e.iss.Issue(aud, verifiertest.WithType("")), verifier.ErrWrongType},
		{"alg none", none, verifier.ErrUnsupportedAlg},
		{"HS256 with the RSA public key as secret", hs, verifier.ErrUnsupportedAlg},
		{"tampered payload", tampered, verifier.ErrInvalidSignature},
		{"signature of another token", joinToken(t, h, p, signatureOf(e.iss.Issue(aud))), verifier.ErrInvalidSignature},
		{"ES256 under an RSA kid", confused, verifier.ErrUnknownKey},
		{"no kid", e.iss.Issue(aud, verifiertest.WithKeyID("")), verifier.ErrUnknownKey},
		{"no exp", e.iss.Issue(with(map[string]any{"exp": nil})), verifier.ErrMalformed},
		{"no iat", e.iss.Issue(with(map[string]any{"iat": nil})), verifier.ErrMalformed},
		{"exp not a number", e.iss.Issue(with(map[string]any{"exp": "tomorrow"})), verifier.ErrMalformed},
		{"roles not strings", e.iss.Issue(with(map[string]any{"roles": []int{1}})), verifier.ErrMalformed},
		{"not a JWT", "abc", verifier.ErrMalformed},
		{"empty", "", verifier.ErrMalformed},
		{"JSON serialization", `{"payload":"e30","signatures":[]}`, verifier.ErrMalformed},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c, err := e.v.Verify(context.Background(), tt.token)
			if !errors.Is(err, tt.want) || (tt.want == nil) != (err == nil) {
				t.Fatalf("Verify = %v, want %v", err, tt.want)
			}
			if err == nil && (c.Subject != "user-1" || c.Issuer != e.iss.URL() || c.ClientID != "web") {
				t.Fatalf("claims = %+v", c)
			}
		})
	}
}

func signatureOf(tok string) string { return tok[strings.LastIndexByte(tok, '.')+1:] }

// signHMAC signs payload with HS256 under secret, as an attacker who
// knows the RSA public key would.
func signHMAC(t *testing.T, secret []byte, kid string, payload map[string]any) string {
	t.Helper()
	opts := (&jose.SignerOptions{}).WithType("at+jwt").WithHeader("kid", kid)
	s, err := jose.NewSigner(jose.SigningKey{Algorithm: jose.HS256, Key: secret}, opts)
	if err != nil {
		t.Fatal(err)
	}
	tok, err := jwt.Signed(s).Claims(payload).Serialize()
	if err != nil {
		t.Fatal(err)
	}
	return tok
}

func TestClaims(t *testing.T) {
	e := newEnv(t)
	now := e.clock.Now()
	tok := e.iss.Issue(map[string]any{
		"aud": audience, "sub": "u1", "client_id": "web", "scope": "read  write:all",
		"sid": "s1", "roles": []string{"admin", "dev"}, "auth_time": now.Add(-time.Hour), "jti": "j1",
		"x-custom": "yes",
	})
	c, err := e.v.Verify(context.Background(), tok)
	if err != nil {
		t.Fatal(err)
	}
	if c.Subject != "u1" || c.ClientID != "web" || c.SID != "s1" || c.ID != "j1" ||
		strings.Join(c.Roles, ",") != "admin,dev" || strings.Join(c.Audience, ",") != audience ||
		!c.IssuedAt.Equal(now) || !c.ExpiresAt.Equal(now.Add(verifiertest.DefaultTTL)) ||
		!c.AuthTime.Equal(now.Add(-time.Hour)) || c.Raw["x-custom"] != "yes" {
		t.Fatalf("claims = %+v", c)
	}
	for scope, want := range map[string]bool{"read": true, "write:all": true, "write": false, "": false, "read write:all": false} {
		if got := c.HasScope(scope); got != want {
			t.Errorf("HasScope(%q) = %v, want %v", scope, got, want)
		}
	}
}

func TestAlgorithmAllowlist(t *testing.T) {
	c := newClock()
	iss := verifiertest.NewIssuer(t, verifiertest.WithClock(c.Now))
	v := newVerifier(t, iss, c, verifier.WithAlgorithms("RS256"))
	es := iss.Issue(map[string]any{"aud": audience}, verifiertest.WithAlg("ES256"))
	if _, err := v.Verify(context.Background(), es); !errors.Is(err, verifier.ErrUnsupportedAlg) {
		t.Fatalf("ES256 with an RS256-only allowlist: %v", err)
	}
	if _, err := v.Verify(context.Background(), iss.Issue(map[string]any{"aud": audience})); err != nil {
		t.Fatalf("RS256: %v", err)
	}
}

func TestNew(t *testing.T) {
	iss := verifiertest.NewIssuer(t)
	ctx := context.Background()
	client := verifier.WithHTTPClient(iss.Client())
	aud := verifier.WithAudience(audience)
	tests := []struct {
		name    string
		issuer  string
		opts    []verifier.Option
		wantErr string
	}{
		{"discovery", iss.URL(), []verifier.Option{aud}, ""},
		{"no audience", iss.URL(), nil, "WithAudience"},
		{"audience check skipped", iss.URL(), []verifier.Option{verifier.WithInsecureSkipAudienceCheck()}, ""},
		{"empty allowlist", iss.URL(), []verifier.Option{aud, verifier.WithAlgorithms()}, "empty"},
		{"none", iss.URL(), []verifier.Option{aud, verifier.WithAlgorithms("RS256", "none")}, "not allowed"},
		{"HS256", iss.URL(), []verifier.Option{aud, verifier.WithAlgorithms("HS256")}, "not allowed"},
		{"issuer differs from discovery", iss.URL() + "/", []verifier.Option{aud}, "issuer"},
		{"no discovery document", iss.URL() + "/tenant", []verifier.Option{aud}, "404"},
		{"JWKS URL skips discovery", iss.URL() + "/tenant", []verifier.Option{aud, verifier.WithJWKSURL(iss.URL() + verifiertest.PathJWKS)}, ""},
		{"bad JWKS URL", iss.URL(), []verifier.Option{aud, verifier.WithJWKSURL("/jwks")}, "JWKS URL"},
		{"not a URL", "issuer", []verifier.Option{aud}, "issuer"},
		{"feed without secret", iss.URL(), []verifier.Option{aud, verifier.WithRevocationFeed("id", "")}, "secret"},
		{"negative leeway", iss.URL(), []verifier.Option{aud, verifier.WithLeeway(-time.Second)}, "negative"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			v, err := verifier.New(ctx, tt.issuer, append([]verifier.Option{client}, tt.opts...)...)
			if tt.wantErr == "" {
				if err != nil {
					t.Fatalf("New: %v", err)
				}
				v.Close()
				return
			}
			if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
				t.Fatalf("New = %v, want an error containing %q", err, tt.wantErr)
			}
		})
	}
}

func TestSkipAudienceCheck(t *testing.T) {
	c := newClock()
	iss := verifiertest.NewIssuer(t, verifiertest.WithClock(c.Now))
	v, err := verifier.New(context.Background(), iss.URL(), verifier.WithInsecureSkipAudienceCheck(),
		verifier.WithHTTPClient(iss.Client()), verifier.WithClock(c.Now))
	if err != nil {
		t.Fatal(err)
	}
	defer v.Close()
	if _, err := v.Verify(context.Background(), iss.Issue(map[string]any{"aud": "anything"})); err != nil {
		t.Fatal(err)
	}
}

// TestClaimsListsAreIndependent: Audience and Roles share one allocation
// for speed; appending to one must never change the other.
func TestClaimsListsAreIndependent(t *testing.T) {
	e := newEnv(t)
	tok := e.iss.Issue(map[string]any{"aud": []string{audience, "other"}, "sub": "u", "roles": []string{"admin", "staff"}})
	c, err := e.v.Verify(context.Background(), tok)
	if err != nil {
		t.Fatal(err)
	}
	aud := append(c.Audience, "appended")
	if len(c.Roles) != 2 || c.Roles[0] != "admin" || c.Roles[1] != "staff" || aud[0] != audience || len(c.Audience) != 2 {
		t.Fatalf("aud %q roles %q", c.Audience, c.Roles)
	}
	roles := append(c.Roles, "x", "y", "z")
	if len(roles) != 5 || c.Audience[0] != audience || c.Audience[1] != "other" {
		t.Fatalf("aud %q after appending to roles", c.Audience)
	}
}

// TestPayloadMustBeAnObject: a JWT's claims are a JSON object (RFC 7519
// §7.2); any other JSON, or none, is ErrMalformed, before any key lookup.
func TestPayloadMustBeAnObject(t *testing.T) {
	e := newEnv(t)
	parts := strings.Split(e.iss.Issue(map[string]any{"aud": audience, "sub": "u"}), ".")
	for _, payload := range []string{`null`, `[1,2]`, `"claims"`, `42`, `{"exp":`, ``} {
		tok := parts[0] + "." + base64.RawURLEncoding.EncodeToString([]byte(payload)) + "." + parts[2]
		if _, err := e.v.Verify(context.Background(), tok); !errors.Is(err, verifier.ErrMalformed) {
			t.Errorf("payload %q: %v, want ErrMalformed", payload, err)
		}
	}
}
