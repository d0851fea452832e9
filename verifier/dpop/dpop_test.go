package dpop

import (
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/rsa"
	"encoding/base64"
	"encoding/json"
	"errors"
	"net/url"
	"strings"
	"testing"
	"time"

	jose "github.com/go-jose/go-jose/v4"
)

var (
	now    = time.Date(2026, 12, 1, 12, 0, 0, 0, time.UTC)
	target = mustURL("https://rs.example.com/api/things")
	token  = "an-access-token"
)

func mustURL(s string) *url.URL {
	u, err := url.Parse(s)
	if err != nil {
		panic(err)
	}
	return u
}

func opts() Options {
	return Options{
		Method: "GET", URL: target, AccessToken: token, Algorithms: DefaultAlgorithms(),
		Now: now, MaxAge: 5 * time.Minute, Leeway: 30 * time.Second,
	}
}

// claimsFor are the claims of a proof that passes opts().
func claimsFor() map[string]any {
	return map[string]any{
		"jti": "id-1", "htm": "GET", "htu": "https://rs.example.com/api/things",
		"iat": now.Unix(), "ath": HashToken(token),
	}
}

// sign signs claims as a proof with key (alg), embedding the public jwk
// and typ dpop+jwt unless the header options say otherwise.
func sign(t testing.TB, alg jose.SignatureAlgorithm, key any, claims any, so *jose.SignerOptions) string {
	t.Helper()
	if so == nil {
		so = (&jose.SignerOptions{EmbedJWK: true}).WithType(typ)
	}
	s, err := jose.NewSigner(jose.SigningKey{Algorithm: alg, Key: key}, so)
	if err != nil {
		t.Fatal(err)
	}
	payload, err := json.Marshal(claims)
	if err != nil {
		t.Fatal(err)
	}
	jws, err := s.Sign(payload)
	if err != nil {
		t.Fatal(err)
	}
	out, err := jws.CompactSerialize()
	if err != nil {
		t.Fatal(err)
	}
	return out
}

func ecKey(t testing.TB) *ecdsa.PrivateKey {
	t.Helper()
	k, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	return k
}

// raw builds a compact JWS from a header and claims with the given
// signature bytes: the shape of proofs no honest signer produces.
func raw(t testing.TB, header, claims map[string]any, sig string) string {
	t.Helper()
	h, _ := json.Marshal(header)
	c, _ := json.Marshal(claims)
	return base64.RawURLEncoding.EncodeToString(h) + "." + base64.RawURLEncoding.EncodeToString(c) + "." + sig
}

func with(c map[string]any, k string, v any) map[string]any {
	out := map[string]any{}
	for kk, vv := range c {
		out[kk] = vv
	}
	if v == nil {
		delete(out, k)
	} else {
		out[k] = v
	}
	return out
}

func TestCheckAccepts(t *testing.T) {
	ec := ecKey(t)
	rsaKey, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		t.Fatal(err)
	}
	_, ed, err := ed25519.GenerateKey(rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		name string
		alg  jose.SignatureAlgorithm
		key  any
		pub  any
	}{
		{"ES256", jose.ES256, ec, &ec.PublicKey},
		{"RS256", jose.RS256, rsaKey, &rsaKey.PublicKey},
		{"PS256", jose.PS256, rsaKey, &rsaKey.PublicKey},
		{"EdDSA", jose.EdDSA, ed, ed.Public()},
	} {
		t.Run(tc.name, func(t *testing.T) {
			c := with(claimsFor(), "nonce", "n-1")
			p, err := Check(sign(t, tc.alg, tc.key, c, nil), opts())
			if err != nil {
				t.Fatalf("Check: %v", err)
			}
			want, err := Thumbprint(jose.JSONWebKey{Key: tc.pub})
			if err != nil {
				t.Fatal(err)
			}
			if p.JKT != want || p.JTI != "id-1" || p.Nonce != "n-1" || !p.IssuedAt.Equal(now) || !p.Key.IsPublic() {
				t.Errorf("Proof = %+v, want jkt %s, jti id-1, nonce n-1, iat %v, public key", p, want, now)
			}
		})
	}
}

// TestThumbprintRFC7638 checks Thumbprint against the worked example of
// RFC 7638 §3.1.
func TestThumbprintRFC7638(t *testing.T) {
	const jwk = `{"kty":"RSA","n":"0vx7agoebGcQSuuPiLJXZptN9nndrQmbXEps2aiAFbWhM78LhWx4cbbfAAtVT86zwu1RK7aPFFxuhDR1L6tSoc_BJECPebWKRXjBZCiFV4n3oknjhMstn64tZ_2W-5JsGY4Hc5n9yBXArwl93lqt7_RN5w6Cf0h4QyQ5v-65YGjQR0_FDW2QvzqY368QQMicAtaSqzs8KJZgnYb9c7d0zgdAZHzu6qMQvRL5hajrn1n91CbOpbISD08qNLyrdkt-bFTWhAI4vMQFh6WeZu0fM4lFd2NcRwr3XPksINHaQ-G_xBniIqbw0Ls1jF44-csFCur-kEgU8awapJzKnqDKgw","e":"AQAB","alg":"RS256","kid":"2011-04-29"}`
	var k jose.JSONWebKey
	if err := k.UnmarshalJSON([]byte(jwk)); err != nil {
		t.Fatal(err)
	}
	got, err := Thumbprint(k)
	if err != nil {
		t.Fatal(err)
	}
	if got != "NzbLsXh8uDCcd-6MNwXF4W_7noWXFZAfHkxZsRGC9Xs" {
		t.Errorf("Thumbprint = %s", got)
	}
}

// TestHashTokenRFC9449 checks HashToken against the ath of the example in
// RFC 9449 §7.1.
func TestHashTokenRFC9449(t *testing.T) {
	got := HashToken("Kz~8mXK1EalYznwH-LC-1fBAo.4Ljp~zsPE_NeO.gxU")
	if got != "fUHyO2r2Z3DZ53EsNrWBb0xWXoaNy59IiKCAqksmQEo" {
		t.Errorf("HashToken = %s", got)
	}
}

func TestCheckRefuses(t *testing.T) {
	ec := ecKey(t)
	other := ecKey(t)
	good := sign(t, jose.ES256, ec, claimsFor(), nil)
	parts := strings.Split(good, ".")
	pubJWK := jose.JSONWebKey{Key: &ec.PublicKey}
	privJWK := jose.JSONWebKey{Key: ec}
	hs := sign(t, jose.HS256, []byte("0123456789abcdef0123456789abcdef"), claimsFor(),
		(&jose.SignerOptions{}).WithType(typ).WithHeader("jwk", pubJWK))

	for _, tc := range []struct {
		name  string
		proof string
		opts  func(*Options)
		want  error
	}{
		{"empty", "", nil, errNotJWT},
		{"garbage", "not-a-jwt", nil, errNotJWT},
		{"too large", strings.Repeat("a", MaxProofSize+1), nil, errTooLarge},
		{"JSON serialisation", `{"payload":"` + parts[1] + `","protected":"` + parts[0] + `","signature":"` + parts[2] + `"}`, nil, errNotJWT},
		{"alg none", raw(t, map[string]any{"alg": "none", "typ": typ, "jwk": pubJWK}, claimsFor(), ""), nil, errAlg},
		{"HS256", hs, nil, errAlg},
		{"alg outside allowlist", good, func(o *Options) { o.Algorithms = []string{"RS256"} }, errAlg},
		{"typ missing", sign(t, jose.ES256, ec, claimsFor(), &jose.SignerOptions{EmbedJWK: true}), nil, errTyp},
		{"typ JWT", sign(t, jose.ES256, ec, claimsFor(), (&jose.SignerOptions{EmbedJWK: true}).WithType("JWT")), nil, errTyp},
		{"typ case", sign(t, jose.ES256, ec, claimsFor(), (&jose.SignerOptions{EmbedJWK: true}).WithType("DPoP+JWT")), nil, errTyp},
		{"jwk missing", sign(t, jose.ES256, ec, claimsFor(), (&jose.SignerOptions{}).WithType(typ)), nil, errNoJWK},
		{"jwk private", sign(t, jose.ES256, ec, claimsFor(), (&jose.SignerOptions{}).WithType(typ).WithHeader("jwk", privJWK)), nil, errPrivateJWK},
		{"jwk symmetric", raw(t, map[string]any{"alg": "ES256", "typ": typ, "jwk": map[string]string{"kty": "oct", "k": "AAAA"}}, claimsFor(), parts[2]), nil, errPrivateJWK},
		{"jwk of another key", sign(t, jose.ES256, ec, claimsFor(), (&jose.SignerOptions{}).WithType(typ).WithHeader("jwk", jose.JSONWebKey{Key: &other.PublicKey})), nil, errSignature},
		{"tampered claims", parts[0] + "." + base64.RawURLEncoding.EncodeToString([]byte(`{"jti":"x"}`)) + "." + parts[2], nil, errSignature},
		{"claims not an object", sign(t, jose.ES256, ec, []string{"jti"}, nil), nil, errClaims},
		{"htm not a string", sign(t, jose.ES256, ec, with(claimsFor(), "htm", 7), nil), nil, errClaims},
		{"jti missing", sign(t, jose.ES256, ec, with(claimsFor(), "jti", nil), nil), nil, errNoJTI},
		{"jti too long", sign(t, jose.ES256, ec, with(claimsFor(), "jti", strings.Repeat("j", maxJTILength+1)), nil), nil, errJTITooLong},
		{"htm missing", sign(t, jose.ES256, ec, with(claimsFor(), "htm", nil), nil), nil, errHTM},
		{"htm other", sign(t, jose.ES256, ec, with(claimsFor(), "htm", "POST"), nil), nil, errHTM},
		{"htm lower case", sign(t, jose.ES256, ec, with(claimsFor(), "htm", "get"), nil), nil, errHTM},
		{"htu missing", sign(t, jose.ES256, ec, with(claimsFor(), "htu", nil), nil), nil, errHTU},
		{"htu other path", sign(t, jose.ES256, ec, with(claimsFor(), "htu", "https://rs.example.com/api/other"), nil), nil, errHTU},
		{"htu other host", sign(t, jose.ES256, ec, with(claimsFor(), "htu", "https://evil.example.com/api/things"), nil), nil, errHTU},
		{"htu other scheme", sign(t, jose.ES256, ec, with(claimsFor(), "htu", "http://rs.example.com/api/things"), nil), nil, errHTU},
		{"htu other port", sign(t, jose.ES256, ec, with(claimsFor(), "htu", "https://rs.example.com:8443/api/things"), nil), nil, errHTU},
		{"htu relative", sign(t, jose.ES256, ec, with(claimsFor(), "htu", "/api/things"), nil), nil, errHTU},
		{"htu trailing slash", sign(t, jose.ES256, ec, with(claimsFor(), "htu", "https://rs.example.com/api/things/"), nil), nil, errHTU},
		{"iat missing", sign(t, jose.ES256, ec, with(claimsFor(), "iat", nil), nil), nil, errNoIAT},
		{"iat stale", sign(t, jose.ES256, ec, with(claimsFor(), "iat", now.Add(-6*time.Minute).Unix()), nil), nil, errStale},
		{"iat future", sign(t, jose.ES256, ec, with(claimsFor(), "iat", now.Add(time.Minute).Unix()), nil), nil, errFuture},
		{"iat a string", sign(t, jose.ES256, ec, with(claimsFor(), "iat", "now"), nil), nil, errClaims},
		{"ath missing", sign(t, jose.ES256, ec, with(claimsFor(), "ath", nil), nil), nil, errNoATH},
		{"ath of another token", sign(t, jose.ES256, ec, with(claimsFor(), "ath", HashToken("other")), nil), nil, errATH},
		{"ath truncated", sign(t, jose.ES256, ec, with(claimsFor(), "ath", HashToken(token)[:athLen-1]), nil), nil, errATH},
		{"ath padded", sign(t, jose.ES256, ec, with(claimsFor(), "ath", HashToken(token)+"="), nil), nil, errATH},
	} {
		t.Run(tc.name, func(t *testing.T) {
			o := opts()
			if tc.opts != nil {
				tc.opts(&o)
			}
			p, err := Check(tc.proof, o)
			if !errors.Is(err, tc.want) || !errors.Is(err, ErrInvalidProof) {
				t.Fatalf("Check = %+v, %v; want %v", p, err, tc.want)
			}
			if p != nil {
				t.Errorf("Check returned a proof with its error: %+v", p)
			}
		})
	}
}

func TestCheckWindowEdges(t *testing.T) {
	ec := ecKey(t)
	for _, tc := range []struct {
		name string
		iat  time.Time
	}{
		{"exactly MaxAge old", now.Add(-5 * time.Minute)},
		{"exactly Leeway ahead", now.Add(30 * time.Second)},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if _, err := Check(sign(t, jose.ES256, ec, with(claimsFor(), "iat", tc.iat.Unix()), nil), opts()); err != nil {
				t.Errorf("Check: %v", err)
			}
		})
	}
}

// TestCheckWithoutToken is the token endpoint's case: no access token, so
// no ath is needed, and one that is present is not compared.
func TestCheckWithoutToken(t *testing.T) {
	ec := ecKey(t)
	o := opts()
	o.AccessToken = ""
	o.Method = "POST"
	o.URL = mustURL("https://as.example.com/token")
	for _, c := range []map[string]any{
		with(with(with(claimsFor(), "ath", nil), "htm", "POST"), "htu", "https://as.example.com/token"),
		with(with(claimsFor(), "htm", "POST"), "htu", "https://as.example.com/token"),
	} {
		if _, err := Check(sign(t, jose.ES256, ec, c, nil), o); err != nil {
			t.Errorf("Check(%v): %v", c, err)
		}
	}
}

func TestCheckOptions(t *testing.T) {
	proof := sign(t, jose.ES256, ecKey(t), claimsFor(), nil)
	for _, tc := range []struct {
		name string
		mod  func(*Options)
	}{
		{"no algorithms", func(o *Options) { o.Algorithms = nil }},
		{"HS256 allowed", func(o *Options) { o.Algorithms = []string{"ES256", "HS256"} }},
		{"none allowed", func(o *Options) { o.Algorithms = []string{"none"} }},
		{"no method", func(o *Options) { o.Method = "" }},
		{"no URL", func(o *Options) { o.URL = nil }},
		{"relative URL", func(o *Options) { o.URL = mustURL("/api/things") }},
		{"no clock", func(o *Options) { o.Now = time.Time{} }},
		{"no MaxAge", func(o *Options) { o.MaxAge = 0 }},
		{"negative Leeway", func(o *Options) { o.Leeway = -time.Second }},
	} {
		t.Run(tc.name, func(t *testing.T) {
			o := opts()
			tc.mod(&o)
			_, err := Check(proof, o)
			if !errors.Is(err, ErrInvalidOptions) || errors.Is(err, ErrInvalidProof) {
				t.Errorf("Check = %v, want ErrInvalidOptions", err)
			}
		})
	}
}

func TestHTUNormalisation(t *testing.T) {
	for _, tc := range []struct {
		htu, target string
		want        bool
	}{
		{"https://rs.example.com/api/things", "https://rs.example.com/api/things", true},
		{"HTTPS://RS.Example.COM/api/things", "https://rs.example.com/api/things", true},
		{"https://rs.example.com:443/api/things", "https://rs.example.com/api/things", true},
		{"http://rs.example.com:80/x", "http://rs.example.com/x", true},
		{"https://rs.example.com:80/x", "https://rs.example.com/x", false},
		{"https://rs.example.com/api/./x/../things", "https://rs.example.com/api/things", true},
		{"https://rs.example.com/%7Euser", "https://rs.example.com/~user", true},
		{"https://rs.example.com/a%2fb", "https://rs.example.com/a%2Fb", true},
		{"https://rs.example.com/a%2Fb", "https://rs.example.com/a/b", false},
		{"https://rs.example.com", "https://rs.example.com/", true},
		{"https://rs.example.com/x?q=1#f", "https://rs.example.com/x?other=2", true},
		{"https://rs.example.com/X", "https://rs.example.com/x", false},
		{"https://rs.example.com//x", "https://rs.example.com/x", false},
		{"https://[::1]:443/x", "https://[::1]/x", true},
		{"https://user@rs.example.com/x", "https://rs.example.com/x", false},
		{"https://@rs.example.com/x", "https://rs.example.com/x", false}, // an empty userinfo is still one
		{"https://rs.example.com:/x", "https://rs.example.com/x", true},
		{"https://rs.example.com/v1.2/x", "https://rs.example.com/v1.2/x", true},
		{"https://rs.example.com/v1.2/./x", "https://rs.example.com/v1.2/x", true},
		{"urn:x:y", "https://rs.example.com/x", false},
		{"", "https://rs.example.com/x", false},
		{"https://rs.example.com/%zz", "https://rs.example.com/%zz", false}, // not a URI: url.Parse refuses it
	} {
		if got := htuMatches(tc.htu, mustURLOrNil(tc.target)); got != tc.want {
			t.Errorf("htuMatches(%q, %q) = %v, want %v", tc.htu, tc.target, got, tc.want)
		}
	}
}

func mustURLOrNil(s string) *url.URL {
	u, err := url.Parse(s)
	if err != nil {
		return nil
	}
	return u
}

func TestRemoveDotSegments(t *testing.T) {
	// The examples of RFC 3986 §5.2.4 and §5.4.
	for in, want := range map[string]string{
		"/a/b/c/./../../g":   "/a/g",
		"mid/content=5/../6": "mid/6",
		"/a/b/../../../g":    "/g",
		"/./g":               "/g",
		"/g.":                "/g.",
		"/..g":               "/..g",
		"/a.b/c":             "/a.b/c",
		"/a/b":               "/a/b",
		"/b/c/./g/.":         "/b/c/g/",
		"/b/c/..":            "/b/",
		"":                   "",
	} {
		if got := removeDotSegments(in); got != want {
			t.Errorf("removeDotSegments(%q) = %q, want %q", in, got, want)
		}
	}
}
