package tokens

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"log/slog"
	"net/url"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/authd-dev/authd/keys"
	"github.com/authd-dev/authd/oauth"
	"github.com/authd-dev/authd/store"
)

// memKeyStore is an in-memory store.KeyStore for the benchmarks: the key
// manager under test is the real one, only the persistence is faked.
type memKeyStore struct {
	mu  sync.Mutex
	set store.KeySet
}

var _ store.KeyStore = (*memKeyStore)(nil)

func (m *memKeyStore) GetKeySet(context.Context) (store.KeySet, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	return store.KeySet{Version: m.set.Version, Keys: append([]store.Key(nil), m.set.Keys...)}, nil
}

func (m *memKeyStore) SwapKeySet(_ context.Context, expect uint64, ks []store.Key) (store.KeySet, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.set.Version != expect {
		return store.KeySet{}, store.ErrConflict
	}
	m.set = store.KeySet{Version: expect + 1, Keys: append([]store.Key(nil), ks...)}
	return m.set, nil
}

// nopStore satisfies the store-facing dependencies of a Service that the
// client_credentials path never calls.
type nopStore struct{}

func (nopStore) CreateFamily(context.Context, store.Family) error { return nil }
func (nopStore) RotateRefresh(context.Context, store.Rotation) (store.RotateResult, error) {
	return store.RotateResult{}, store.ErrNotFound
}
func (nopStore) GetFamily(context.Context, string) (store.Family, error) {
	return store.Family{}, store.ErrNotFound
}
func (nopStore) DenyState(context.Context, store.DenyQuery) (store.DenyState, error) {
	return store.DenyState{}, nil
}
func (nopStore) RevokeFamily(context.Context, string) error { return nil }
func (nopStore) Deny(context.Context, store.Denial) error   { return nil }
func (nopStore) Login(context.Context, string, string, string) (store.User, error) {
	return store.User{}, oauth.New(oauth.InvalidGrant, "invalid username or password")
}
func (nopStore) Lookup(context.Context, string) (store.User, error) {
	return store.User{}, store.ErrNotFound
}

// payloadSigner is a Signer that does not sign: it isolates the cost of
// building the claims (IDs, JSON) from the cost of the signature.
type payloadSigner struct{}

func (payloadSigner) Sign(_, _ string, payload []byte) (string, string, error) {
	return string(payload), "kid", nil
}

// benchManager is one real key manager (both algorithms) shared by the
// benchmarks of this file: generating an RSA key takes a while.
var benchManager = sync.OnceValues(func() (*keys.Manager, error) {
	return keys.NewManager(context.Background(), keys.Config{
		Store:  &memKeyStore{},
		KEK:    bytes.Repeat([]byte{7}, 32),
		Logger: slog.New(slog.NewTextHandler(io.Discard, nil)),
	})
})

func benchService(b *testing.B, signer Signer) *Service {
	b.Helper()
	s, err := New(Config{
		Issuer:                  "https://issuer.example",
		DefaultAudience:         []string{"https://issuer.example"},
		DefaultAlg:              "RS256",
		AccessTokenTTL:          15 * time.Minute,
		IDTokenTTL:              time.Hour,
		RefreshTokenTTL:         72 * time.Hour,
		RefreshTokenMaxLifetime: 720 * time.Hour,
		RefreshReuseMaxRetries:  3,
		RefreshMACKeys:          [][]byte{bytes.Repeat([]byte{1}, 32)},
		CodeKey:                 bytes.Repeat([]byte{2}, 32),
		Signer:                  signer,
		Families:                nopStore{},
		Deny:                    nopStore{},
		DenyReader:              nopStore{},
		Users:                   nopStore{},
		Logger:                  slog.New(slog.NewTextHandler(io.Discard, &slog.HandlerOptions{Level: slog.LevelWarn})),
	})
	if err != nil {
		b.Fatal(err)
	}
	return s
}

func benchClient(alg string) store.Client {
	return store.Client{
		ID:                    "bench-client-" + strings.ToLower(alg),
		GrantTypes:            []string{GrantClientCredentials},
		Scope:                 "read write",
		Audience:              []string{"https://api.example"},
		AccessTokenSigningAlg: alg,
	}
}

// BenchmarkMintAccess measures one access token (RFC 9068) without HTTP:
// claims, JSON, JWS signing and serialisation through the real key
// manager. "claims-only" replaces the signature by nothing, so the
// difference between the sub-benchmarks is the cost of signing.
func BenchmarkMintAccess(b *testing.B) {
	m, err := benchManager()
	if err != nil {
		b.Fatal(err)
	}
	for _, tc := range []struct {
		name   string
		alg    string
		signer Signer
	}{
		{"ES256", keys.ES256, m},
		{"RS256", keys.RS256, m},
		{"claims-only", keys.ES256, payloadSigner{}},
	} {
		b.Run(tc.name, func(b *testing.B) {
			s := benchService(b, tc.signer)
			c := benchClient(tc.alg)
			now := time.Now()
			tok, err := s.mintAccess(context.Background(), c, now, AccessClaims{Subject: c.ID, Audience: Audience(c.Audience), Scope: c.Scope})
			if err != nil {
				b.Fatal(err)
			}
			if tc.signer != (payloadSigner{}) {
				payload, _, typ, err := m.Verify(tok)
				if err != nil || typ != TypeAccessToken {
					b.Fatalf("minted token does not verify: typ %q, %v", typ, err)
				}
				var claims AccessClaims
				if err := json.Unmarshal(payload, &claims); err != nil || claims.Subject != c.ID || claims.ClientID != c.ID {
					b.Fatalf("claims %+v, %v", claims, err)
				}
			}
			b.ReportAllocs()
			b.ResetTimer()
			for b.Loop() {
				if _, err := s.mintAccess(context.Background(), c, now, AccessClaims{Subject: c.ID, Audience: Audience(c.Audience), Scope: c.Scope}); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}

// BenchmarkClientCredentialsGrant measures Service.Token for
// client_credentials in parallel on every core: the shared checks of the
// token endpoint (grant, scope, audience) plus minting, without HTTP.
func BenchmarkClientCredentialsGrant(b *testing.B) {
	m, err := benchManager()
	if err != nil {
		b.Fatal(err)
	}
	for _, alg := range []string{keys.ES256, keys.RS256} {
		b.Run(alg, func(b *testing.B) {
			s := benchService(b, m)
			c := benchClient(alg)
			form := url.Values{"grant_type": {GrantClientCredentials}, "scope": {"read"}}
			ctx := context.Background()
			resp, err := s.Token(ctx, &Request{Client: c, Form: form})
			if err != nil || resp.AccessToken == "" || resp.Scope != "read" {
				b.Fatalf("token: %+v, %v", resp, err)
			}
			b.ReportAllocs()
			b.ResetTimer()
			b.RunParallel(func(pb *testing.PB) {
				req := &Request{Client: c, Form: form}
				for pb.Next() {
					if _, err := s.Token(ctx, req); err != nil {
						b.Error(err)
						return
					}
				}
			})
		})
	}
}
