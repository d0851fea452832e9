// Package storetest is the conformance suite every storage backend runs:
// one set of behaviours, written once against the store contract in
// package store, so that bolt and redis cannot drift apart (the idea of
// Dex's storage/conformance).
//
// A backend's test calls Run with a constructor of fresh, empty stores:
//
//	func TestConformance(t *testing.T) {
//		storetest.Run(t, func(t *testing.T) store.Store {
//			s := open(t) // fresh and empty
//			t.Cleanup(func() { s.Close() })
//			return s
//		})
//	}
//
// Expiry of refresh-token families is judged against the Now of each
// Rotation, so those tests need no sleeping. Denylist entries and the
// families seen by GetFamily expire on the backend's own clock; the suite
// uses real time for them (ExpiresAt already in the past, and one short
// real TTL).
package storetest

import (
	"context"
	"crypto/sha256"
	"reflect"
	"testing"
	"time"

	"github.com/authd-dev/authd/store"
)

// Run runs the whole suite. newStore returns a fresh, empty store for each subtest
// (the caller arranges cleanup with t.Cleanup).
func Run(t *testing.T, newStore func(t *testing.T) store.Store) {
	t.Helper()
	t.Run("Ping", func(t *testing.T) {
		if err := newStore(t).Ping(context.Background()); err != nil {
			t.Fatalf("Ping on a fresh store: %v", err)
		}
	})
	t.Run("Clients", func(t *testing.T) { testClients(t, newStore) })
	t.Run("Users", func(t *testing.T) { testUsers(t, newStore) })
	t.Run("Keys", func(t *testing.T) { testKeys(t, newStore) })
	t.Run("Families", func(t *testing.T) { testFamilies(t, newStore) })
	t.Run("FamilyExpiry", func(t *testing.T) { testFamilyExpiry(t, newStore) })
	t.Run("DenyList", func(t *testing.T) { testDenyList(t, newStore) })
	t.Run("RevocationFeed", func(t *testing.T) { testFeed(t, newStore) })
	t.Run("ReplayCache", func(t *testing.T) { testReplay(t, newStore) })
	t.Run("Notifier", func(t *testing.T) { testNotify(t, newStore) })
	t.Run("Throttle", func(t *testing.T) { testThrottle(t, newStore) })
	t.Run("Sessions", func(t *testing.T) { testSessions(t, newStore) })
	t.Run("Consents", func(t *testing.T) { testConsents(t, newStore) })
	t.Run("PushedRequests", func(t *testing.T) { testPushed(t, newStore) })
	t.Run("RegistrationTokens", func(t *testing.T) { testRegistrationTokens(t, newStore) })
	t.Run("DeviceAuth", func(t *testing.T) { testDevice(t, newStore) })
}

// Digest returns the SHA-256 digest of a test token, the shape of the
// digests the store keeps for refresh tokens.
func Digest(token string) []byte {
	sum := sha256.Sum256([]byte(token))
	return sum[:]
}

// Now returns the current time in UTC without a monotonic reading, rounded
// to the microsecond, the form the suite stores in records.
func Now() time.Time {
	return time.Now().UTC().Truncate(time.Microsecond)
}

// NewClient returns a client record with every field set, issued at now.
func NewClient(id string, now time.Time) store.Client {
	return store.Client{
		ID:                      id,
		SecretDigest:            Digest("secret-of-" + id),
		Name:                    "client " + id,
		LogoURI:                 "https://app.example/" + id + "/logo.png",
		PolicyURI:               "https://app.example/" + id + "/privacy",
		TOSURI:                  "https://app.example/" + id + "/terms",
		GrantTypes:              []string{"client_credentials", "refresh_token"},
		RedirectURIs:            []string{"https://app.example/" + id + "/cb"},
		PostLogoutRedirectURIs:  []string{"https://app.example/" + id + "/bye"},
		Scope:                   "openid profile",
		TokenEndpointAuthMethod: "client_secret_basic",
		JWKS:                    []byte(`{"keys":[]}`),
		JWKSURI:                 "https://app.example/jwks",
		IDTokenSignedAlg:        "RS256",
		Audience:                []string{"https://api.example"},
		AccessTokenSigningAlg:   "ES256",
		SkipConsent:             true,
		DPoPBoundAccessTokens:   true,
		IssuedAt:                now,
		UpdatedAt:               now,

		BackchannelLogoutURI:             "https://app.example/" + id + "/backchannel",
		RegistrationTokenDigest:          Digest("registration-of-" + id),
		BackchannelLogoutSessionRequired: true,
		FrontchannelLogoutURI:            "https://app.example/" + id + "/frontchannel",

		RequirePushedAuthorizationRequests: true,
		TokenExchangeImpersonation:         true,
		TokenExchangeRefresh:               true,
	}
}

// NewUser returns a user record with every field set, created at now.
func NewUser(id, username string, now time.Time) store.User {
	return store.User{
		ID:           id,
		Username:     username,
		Email:        username + "@example.com",
		PasswordHash: "$argon2id$v=19$m=65536,t=1,p=4$c2FsdA$aGFzaA",
		Roles:        []string{"reader"},
		Profile: store.Profile{Name: "User " + username, GivenName: "User", FamilyName: username, EmailVerified: true,
			PhoneNumber: "+1 555 0100", Locale: "en-GB", Picture: "https://img.example/" + id + ".png", MFARequired: true,
			Attributes: map[string]string{"department": "research"}},
		CreatedAt: now,
		UpdatedAt: now,
		NotBefore: now.Add(-time.Hour),
	}
}

// NewFamily returns a family created at now whose current refresh token is
// the digest of current: 72 h idle window, 720 h absolute lifetime.
func NewFamily(id string, now time.Time, current string) store.Family {
	return store.Family{
		ID:            id,
		ClientID:      "client-1",
		Subject:       "user-1",
		Scope:         "openid offline_access",
		Audience:      []string{"https://api.example"},
		AuthTime:      now,
		CreatedAt:     now,
		ExpiresAt:     now.Add(720 * time.Hour),
		IdleExpiresAt: now.Add(72 * time.Hour),
		Current:       Digest(current),
	}
}

// Equal reports whether two records (or slices of records) are equal the
// way a round trip through a store preserves them: instants compared
// regardless of location and monotonic reading, empty and nil slices alike.
func Equal(a, b any) bool {
	return reflect.DeepEqual(normalize(reflect.ValueOf(a)), normalize(reflect.ValueOf(b)))
}

var timeType = reflect.TypeFor[time.Time]()

// normalize returns a copy of v with times in UTC and empty slices nil.
func normalize(v reflect.Value) any {
	if !v.IsValid() {
		return nil
	}
	out := reflect.New(v.Type()).Elem()
	normalizeInto(out, v)
	return out.Interface()
}

func normalizeInto(dst, src reflect.Value) {
	switch {
	case src.Type() == timeType:
		dst.Set(reflect.ValueOf(src.Interface().(time.Time).UTC()))
	case src.Kind() == reflect.Struct:
		for i := range src.NumField() {
			if dst.Field(i).CanSet() {
				normalizeInto(dst.Field(i), src.Field(i))
			}
		}
	case src.Kind() == reflect.Slice:
		if src.Len() == 0 {
			return // leave dst nil
		}
		s := reflect.MakeSlice(src.Type(), src.Len(), src.Len())
		for i := range src.Len() {
			normalizeInto(s.Index(i), src.Index(i))
		}
		dst.Set(s)
	default:
		dst.Set(src)
	}
}

// mustEqual fails the test when got and want differ in the sense of Equal.
func mustEqual(t *testing.T, what string, got, want any) {
	t.Helper()
	if !Equal(got, want) {
		t.Fatalf("%s:\n got  %+v\n want %+v", what, got, want)
	}
}
