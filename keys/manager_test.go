package keys

import (
	"bytes"
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/rsa"
	"encoding/base64"
	"encoding/json"
	"errors"
	"maps"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/go-jose/go-jose/v4"
	"github.com/prometheus/client_golang/prometheus"

	"github.com/authd-dev/authd/store"
)

func testKEK(b byte) []byte { return bytes.Repeat([]byte{b}, 32) }

// newManager builds a Manager on st with the test clock and small
// durations: RotationPeriod 10h, PublishAhead 1h, RetireAfter 2h10m.
func newManager(t testing.TB, st store.KeyStore, clk *clock, mutate func(*Config)) *Manager {
	t.Helper()
	cfg := Config{
		Store:          st,
		KEK:            testKEK(1),
		RotationPeriod: 10 * time.Hour,
		PublishAhead:   time.Hour,
		RetireAfter:    2*time.Hour + 10*time.Minute,
		Now:            clk.Now,
	}
	if mutate != nil {
		mutate(&cfg)
	}
	m, err := NewManager(context.Background(), cfg)
	if err != nil {
		t.Fatalf("NewManager: %v", err)
	}
	return m
}

// jwksDoc is the JWKS body as a client sees it.
type jwksDoc struct {
	Keys []map[string]any `json:"keys"`
}

// checkJWKS asserts that body publishes exactly kids, public keys only,
// each with kid, kty, alg and use "sig", and returns its parsed keys.
func checkJWKS(t *testing.T, body []byte, kids []string) jwksDoc {
	t.Helper()
	var doc jwksDoc
	if err := json.Unmarshal(body, &doc); err != nil {
		t.Fatalf("JWKS body: %v", err)
	}
	var got []string
	for _, k := range doc.Keys {
		for _, f := range []string{"kid", "kty", "alg"} {
			if s, _ := k[f].(string); s == "" {
				t.Errorf("JWKS key %v lacks %q", k["kid"], f)
			}
		}
		if k["use"] != "sig" {
			t.Errorf("JWKS key %v: use = %v", k["kid"], k["use"])
		}
		for _, f := range []string{"d", "p", "q", "dp", "dq", "qi", "k"} {
			if _, ok := k[f]; ok {
				t.Errorf("JWKS key %v carries private parameter %q", k["kid"], f)
			}
		}
		wantKty := map[string]string{RS256: "RSA", ES256: "EC"}[k["alg"].(string)]
		if k["kty"] != wantKty {
			t.Errorf("JWKS key %v: kty %v for alg %v", k["kid"], k["kty"], k["alg"])
		}
		got = append(got, k["kid"].(string))
	}
	slices.Sort(got)
	want := slices.Sorted(slices.Values(kids))
	if !slices.Equal(got, want) {
		t.Errorf("JWKS kids = %v, want %v", got, want)
	}
	return doc
}

func kidsOf(infos []Info) []string {
	var out []string
	for _, in := range infos {
		out = append(out, in.Kid)
	}
	return out
}

func activeOf(t *testing.T, infos []Info, alg string) Info {
	t.Helper()
	var found []Info
	for _, in := range infos {
		if in.Alg == alg && in.State == store.KeyActive {
			found = append(found, in)
		}
	}
	if len(found) != 1 {
		t.Fatalf("%s: %d active keys, want 1: %+v", alg, len(found), infos)
	}
	return found[0]
}

func stateOf(infos []Info, kid string) string {
	for _, in := range infos {
		if in.Kid == kid {
			return in.State
		}
	}
	return ""
}

func TestRestartKeepsKeys(t *testing.T) {
	clk := newClock()
	st := &fakeStore{}
	m1 := newManager(t, st, clk, nil)
	clk.Add(9*time.Hour + time.Minute) // nothing is due: Reload writes nothing
	if err := m1.Reload(context.Background()); err != nil {
		t.Fatal(err)
	}
	tok, kid1, err := m1.Sign(RS256, TypeAccessToken, []byte(`{}`))
	if err != nil {
		t.Fatal(err)
	}
	m2 := newManager(t, st, clk, nil)
	if !slices.Equal(m1.List(), m2.List()) || len(m2.List()) != 4 {
		t.Fatalf("keys differ after restart:\n%+v\n%+v", m1.List(), m2.List())
	}
	j1, j2 := m1.JWKS(), m2.JWKS()
	if !bytes.Equal(j1.Body, j2.Body) || j1.ETag != j2.ETag {
		t.Fatal("JWKS differs after restart")
	}
	if _, kid, _, err := m2.Verify(tok); err != nil || kid != kid1 {
		t.Fatalf("restarted manager rejects a token of the first: %v", err)
	}
	if _, kid2, _ := m2.Sign(RS256, TypeAccessToken, []byte(`{}`)); kid2 != kid1 {
		t.Fatalf("restarted manager signs with %s, want %s", kid2, kid1)
	}
	if swaps, _ := st.counts(); swaps != 1 {
		t.Fatalf("%d swaps, want 1 (the first start creates active and next keys): a reload or restart with nothing due must not write", swaps)
	}
}

func TestWrongKEK(t *testing.T) {
	clk := newClock()
	st := &fakeStore{}
	newManager(t, st, clk, nil)
	wrong := testKEK(2)
	_, err := NewManager(context.Background(), Config{Store: st, KEK: wrong, Now: clk.Now})
	if !errors.Is(err, ErrWrongKEK) {
		t.Fatalf("err = %v, want ErrWrongKEK", err)
	}
	msg := err.Error()
	if !strings.Contains(msg, "KEK") {
		t.Errorf("error %q does not name the KEK", msg)
	}
	for _, secret := range []string{base64.StdEncoding.EncodeToString(wrong), base64.StdEncoding.EncodeToString(testKEK(1)), string(wrong)} {
		if strings.Contains(msg, secret) {
			t.Errorf("error %q leaks key material", msg)
		}
	}
}

func TestPreviousKEKReseals(t *testing.T) {
	ctx := context.Background()
	clk := newClock()
	st := &fakeStore{}
	oldKEK, newKEK := testKEK(1), testKEK(2)
	m1 := newManager(t, st, clk, func(c *Config) { c.KEK = oldKEK })
	tok, _, err := m1.Sign(ES256, TypeAccessToken, []byte(`{}`))
	if err != nil {
		t.Fatal(err)
	}
	before, _ := st.GetKeySet(ctx)

	m2 := newManager(t, st, clk, func(c *Config) { c.KEK, c.PreviousKEK = newKEK, oldKEK })
	after, _ := st.GetKeySet(ctx)
	if after.Version != before.Version+1 {
		t.Fatalf("version %d → %d, want one re-seal swap", before.Version, after.Version)
	}
	for i := range after.Keys {
		if after.Keys[i].ID != before.Keys[i].ID || bytes.Equal(after.Keys[i].Sealed, before.Keys[i].Sealed) {
			t.Fatalf("key %s not re-sealed", before.Keys[i].ID)
		}
	}
	if !slices.Equal(m1.List(), m2.List()) || m1.JWKS().ETag != m2.JWKS().ETag {
		t.Fatal("re-sealing changed the published keys")
	}
	if _, _, _, err := m2.Verify(tok); err != nil {
		t.Fatal(err)
	}
	// The new KEK alone now opens every key; the old one no longer does.
	newManager(t, st, clk, func(c *Config) { c.KEK = newKEK })
	if _, err := NewManager(ctx, Config{Store: st, KEK: oldKEK, Now: clk.Now}); !errors.Is(err, ErrWrongKEK) {
		t.Fatalf("old KEK after migration: %v, want ErrWrongKEK", err)
	}
}

func TestVerifyRejects(t *testing.T) {
	clk := newClock()
	m := newManager(t, &fakeStore{}, clk, nil)
	rsKid := activeOf(t, m.List(), RS256).Kid
	esKid := activeOf(t, m.List(), ES256).Kid
	good, _, err := m.Sign(RS256, TypeAccessToken, []byte(`{"sub":"alice"}`))
	if err != nil {
		t.Fatal(err)
	}
	b64 := base64.RawURLEncoding.EncodeToString
	parts := strings.Split(good, ".")

	var rsaPublic []byte
	var doc jose.JSONWebKeySet
	if err := json.Unmarshal(m.JWKS().Body, &doc); err != nil {
		t.Fatal(err)
	}
	for _, k := range doc.Keys {
		if k.KeyID == rsKid {
			rsaPublic, _ = json.Marshal(k)
		}
	}
	hs, err := jose.NewSigner(jose.SigningKey{Algorithm: jose.HS256, Key: rsaPublic},
		(&jose.SignerOptions{}).WithHeader("kid", rsKid).WithType("at+jwt"))
	if err != nil {
		t.Fatal(err)
	}
	hsTok := mustSign(t, hs, `{"sub":"alice"}`)

	stranger, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	foreign := func(kid string) string {
		s, err := jose.NewSigner(jose.SigningKey{Algorithm: jose.ES256, Key: stranger},
			(&jose.SignerOptions{}).WithHeader("kid", kid))
		if err != nil {
			t.Fatal(err)
		}
		return mustSign(t, s, `{"sub":"alice"}`)
	}

	for _, tc := range []struct {
		name, token string
		is          error
	}{
		{"alg none", b64([]byte(`{"alg":"none","kid":"`+rsKid+`"}`)) + "." + parts[1] + ".", nil},
		{"alg none, signature kept", b64([]byte(`{"alg":"none","kid":"`+rsKid+`"}`)) + "." + parts[1] + "." + parts[2], nil},
		{"HS256 with the public key as secret", hsTok, nil},
		{"unknown kid", foreign("not-a-kid"), ErrKeyNotFound},
		{"no kid", foreign(""), ErrKeyNotFound},
		{"our EC kid, foreign key", foreign(esKid), jose.ErrCryptoFailure},
		{"RS256 kid with ES256 header", foreign(rsKid), nil},
		{"tampered payload", parts[0] + "." + b64([]byte(`{"sub":"mallory"}`)) + "." + parts[2], jose.ErrCryptoFailure},
		{"tampered header", b64([]byte(`{"alg":"RS256","kid":"`+rsKid+`","typ":"JWT"}`)) + "." + parts[1] + "." + parts[2], jose.ErrCryptoFailure},
		{"JSON serialization", `{"payload":"` + parts[1] + `","protected":"` + parts[0] + `","signature":"` + parts[2] + `"}`, nil},
		{"garbage", "a.b.c", nil},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, _, _, err := m.Verify(tc.token)
			if !errors.Is(err, ErrInvalidToken) {
				t.Fatalf("Verify = %v, want ErrInvalidToken", err)
			}
			if tc.is != nil && !errors.Is(err, tc.is) {
				t.Fatalf("Verify = %v, want %v", err, tc.is)
			}
		})
	}
	if _, _, _, err := m.Verify(good); err != nil {
		t.Fatalf("the untampered token: %v", err)
	}
}

func mustSign(t *testing.T, s jose.Signer, payload string) string {
	t.Helper()
	obj, err := s.Sign([]byte(payload))
	if err != nil {
		t.Fatal(err)
	}
	tok, err := obj.CompactSerialize()
	if err != nil {
		t.Fatal(err)
	}
	return tok
}

func TestSignHeader(t *testing.T) {
	m := newManager(t, &fakeStore{}, newClock(), nil)
	for _, alg := range []string{RS256, ES256} {
		for _, typ := range []string{TypeAccessToken, TypeIDToken, "logout+jwt"} {
			tok, kid, err := m.Sign(alg, typ, []byte(`{"a":1}`))
			if err != nil {
				t.Fatal(err)
			}
			hdr, _ := base64.RawURLEncoding.DecodeString(strings.Split(tok, ".")[0])
			var h map[string]any
			if err := json.Unmarshal(hdr, &h); err != nil {
				t.Fatal(err)
			}
			want := map[string]any{"alg": alg, "kid": kid, "typ": typ}
			if !maps.Equal(h, want) {
				t.Errorf("header %v, want %v", h, want)
			}
		}
	}
	if _, _, err := m.Sign("none", TypeAccessToken, []byte(`{}`)); !errors.Is(err, ErrUnsupportedAlg) {
		t.Fatalf("Sign(none) = %v, want ErrUnsupportedAlg", err)
	}
}

func TestRSABits(t *testing.T) {
	m := newManager(t, &fakeStore{}, newClock(), func(c *Config) { c.RSABits = 3072 })
	var doc jose.JSONWebKeySet
	if err := json.Unmarshal(m.JWKS().Body, &doc); err != nil {
		t.Fatal(err)
	}
	found := false
	for _, k := range doc.Keys {
		if pub, ok := k.Key.(*rsa.PublicKey); ok {
			found = true
			if pub.N.BitLen() != 3072 {
				t.Errorf("RSA modulus %d bits, want 3072", pub.N.BitLen())
			}
		}
	}
	if !found {
		t.Fatal("no RSA key published")
	}
}

func TestConfigValidation(t *testing.T) {
	ok := Config{Store: &fakeStore{}, KEK: testKEK(1)}
	for _, tc := range []struct {
		name   string
		mutate func(*Config)
		want   string
	}{
		{"no store", func(c *Config) { c.Store = nil }, "Store"},
		{"short KEK", func(c *Config) { c.KEK = c.KEK[:16] }, "KEK must be 32 bytes"},
		{"no KEK", func(c *Config) { c.KEK = nil }, "KEK must be 32 bytes"},
		{"bad PreviousKEK", func(c *Config) { c.PreviousKEK = []byte("short") }, "PreviousKEK"},
		{"RSA 1024", func(c *Config) { c.RSABits = 1024 }, "RSABits"},
		{"RSA 2047", func(c *Config) { c.RSABits = 2047 }, "RSABits"},
		{"negative rotation", func(c *Config) { c.RotationPeriod = -time.Hour }, "RotationPeriod"},
		{"negative retire", func(c *Config) { c.RetireAfter = -1 }, "RetireAfter"},
		{"negative refresh", func(c *Config) { c.RefreshInterval = -1 }, "RefreshInterval"},
		{"publish ahead ≥ period", func(c *Config) { c.RotationPeriod, c.PublishAhead = time.Hour, time.Hour }, "PublishAhead"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			cfg := ok
			tc.mutate(&cfg)
			_, err := NewManager(context.Background(), cfg)
			if !errors.Is(err, ErrConfig) || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("err = %v, want ErrConfig naming %s", err, tc.want)
			}
		})
	}
	got, err := ok.withDefaults()
	if err != nil {
		t.Fatal(err)
	}
	if got.RSABits != 2048 || got.RotationPeriod != 720*time.Hour || got.PublishAhead != time.Hour ||
		got.RetireAfter != time.Hour+time.Minute || got.RefreshInterval != 2*time.Second {
		t.Fatalf("defaults: %+v", got)
	}
}

// TestStoreTampering: the clear-text public JWK in the store is never
// trusted, and a sealed key cannot be moved to another kid.
func TestStoreTampering(t *testing.T) {
	ctx := context.Background()
	clk := newClock()
	st := &fakeStore{}
	m := newManager(t, st, clk, nil)
	body := m.JWKS().Body
	attacker, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	st.edit(func(keys []store.Key) []store.Key {
		for i := range keys {
			if keys[i].Alg == ES256 {
				keys[i].PublicJWK, _ = json.Marshal(jose.JSONWebKey{Key: attacker.Public(), KeyID: keys[i].ID, Algorithm: ES256, Use: "sig"})
			}
		}
		return keys
	})
	if err := m.Reload(ctx); err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(m.JWKS().Body, body) {
		t.Fatal("a public JWK swapped in the store reached the JWKS")
	}

	st.edit(func(keys []store.Key) []store.Key {
		keys[0].Sealed, keys[1].Sealed = keys[1].Sealed, keys[0].Sealed
		return keys
	})
	if err := m.Reload(ctx); !errors.Is(err, ErrWrongKEK) {
		t.Fatalf("sealed keys swapped between kids: %v, want ErrWrongKEK", err)
	}
	if !bytes.Equal(m.JWKS().Body, body) {
		t.Fatal("a failed reload replaced the snapshot")
	}
}

func TestMetrics(t *testing.T) {
	ctx := context.Background()
	clk := newClock()
	reg := prometheus.NewRegistry()
	m := newManager(t, &fakeStore{}, clk, func(c *Config) { c.Registerer = reg })
	clk.Add(90 * time.Second)
	if _, err := m.Rotate(ctx, ES256); err != nil {
		t.Fatal(err)
	}
	m.JWKS()
	m.JWKS()
	for _, tc := range []struct {
		name   string
		labels map[string]string
		want   float64
	}{
		{"authd_key_rotations_total", map[string]string{"alg": RS256, "reason": reasonInitial}, 1},
		{"authd_key_rotations_total", map[string]string{"alg": ES256, "reason": reasonInitial}, 1},
		{"authd_key_rotations_total", map[string]string{"alg": ES256, "reason": reasonManual}, 1},
		{"authd_signing_key_age_seconds", map[string]string{"alg": RS256}, 90},
		{"authd_signing_key_age_seconds", map[string]string{"alg": ES256}, 0},
		{"authd_jwks_served_total", nil, 2},
	} {
		if got := metricValue(t, reg, tc.name, tc.labels); got != tc.want {
			t.Errorf("%s%v = %v, want %v", tc.name, tc.labels, got, tc.want)
		}
	}
	// A second manager on the same registry fails cleanly.
	if _, err := NewManager(ctx, Config{Store: &fakeStore{}, KEK: testKEK(1), Registerer: reg}); err == nil {
		t.Fatal("duplicate registration accepted")
	}
}

// metricValue reads one counter or gauge sample from reg.
func metricValue(t *testing.T, reg *prometheus.Registry, name string, labels map[string]string) float64 {
	t.Helper()
	mfs, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	for _, mf := range mfs {
		if mf.GetName() != name {
			continue
		}
	next:
		for _, mt := range mf.GetMetric() {
			got := map[string]string{}
			for _, lp := range mt.GetLabel() {
				got[lp.GetName()] = lp.GetValue()
			}
			for k, v := range labels {
				if got[k] != v {
					continue next
				}
			}
			if c := mt.GetCounter(); c != nil {
				return c.GetValue()
			}
			return mt.GetGauge().GetValue()
		}
	}
	return 0
}

// TestRunPicksUpForeignChanges: Run reloads what another replica stored,
// and returns when its context ends.
func TestRunPicksUpForeignChanges(t *testing.T) {
	clk := newClock()
	st := &fakeStore{}
	m1 := newManager(t, st, clk, func(c *Config) { c.RefreshInterval = time.Millisecond })
	m2 := newManager(t, st, clk, nil)
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { m1.Run(ctx); close(done) }()

	rotated, err := m2.Rotate(context.Background(), RS256)
	if err != nil {
		t.Fatal(err)
	}
	deadline := time.After(10 * time.Second)
	for {
		if _, kid, _ := m1.Sign(RS256, TypeAccessToken, []byte(`{}`)); kid == rotated.Kid {
			break
		}
		select {
		case <-deadline:
			t.Fatal("Run never picked up the rotation of the other replica")
		case <-time.After(time.Millisecond):
		}
	}
	cancel()
	select {
	case <-done:
	case <-time.After(10 * time.Second):
		t.Fatal("Run did not return after cancel")
	}
}

func TestInfoJSON(t *testing.T) {
	at := time.Date(2030, 1, 1, 0, 0, 0, 0, time.UTC)
	b, err := json.Marshal(Info{Kid: "k", Alg: ES256, State: store.KeyActive, CreatedAt: at, ActivatedAt: at})
	if err != nil {
		t.Fatal(err)
	}
	want := `{"kid":"k","alg":"ES256","state":"active","created_at":"2030-01-01T00:00:00Z","activated_at":"2030-01-01T00:00:00Z"}`
	if string(b) != want {
		t.Fatalf("Info JSON %s, want %s", b, want)
	}
}
