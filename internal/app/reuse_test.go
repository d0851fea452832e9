package app_test

import (
	"testing"
)

// TestReuseRevokesTheLoginsAccessTokens: replaying a refresh token that
// was already rotated is reuse (RFC 9700 §4.14.2, RFC 6749 §10.4): the
// whole login ends, so every access token it issued, before and after
// the rotations, introspects as inactive (RFC 7662 §2.2), and so does its
// newest refresh token. Another login of the same user is untouched. On
// both stores, bolt (the default) included.
func TestReuseRevokesTheLoginsAccessTokens(t *testing.T) {
	forEachStore(t, func(t *testing.T, storeArgs []string) {
		in := start(t, "", storeArgs...)
		c := loginClient(in)
		rs := in.createClient(map[string]any{"client_name": "resource server"})
		in.createUser("nora", "password-of-nora")
		login := password(in, c, "nora", "password-of-nora")
		other := password(in, c, "nora", "password-of-nora")
		if login.Status != 200 || other.Status != 200 {
			t.Fatalf("logins: %d %s, %d %s", login.Status, login.Error, other.Status, other.Error)
		}
		r1 := refresh(in, c, login.RefreshToken)
		if r1.Status != 200 {
			t.Fatalf("first refresh: %d %s", r1.Status, r1.Error)
		}
		r2 := refresh(in, c, r1.RefreshToken)
		if r2.Status != 200 {
			t.Fatalf("second refresh: %d %s", r2.Status, r2.Error)
		}
		family := map[string]string{"login's": login.AccessToken, "first refresh's": r1.AccessToken, "second refresh's": r2.AccessToken}
		for what, at := range family {
			if !in.introspect(rs, at).Active {
				t.Fatalf("before the reuse, the %s access token is inactive", what)
			}
		}

		// The replay: r1's refresh token was rotated by the second refresh.
		if r := refresh(in, c, r1.RefreshToken); r.Status != 400 || r.Error != "invalid_grant" {
			t.Fatalf("replay: %d %s; want 400 invalid_grant", r.Status, r.Error)
		}
		for what, at := range family {
			if got := in.introspect(rs, at); got.Active {
				t.Errorf("after the reuse, the %s access token is still active: %+v", what, got)
			}
		}
		if r := refresh(in, c, r2.RefreshToken); r.Status != 400 || r.Error != "invalid_grant" {
			t.Errorf("newest refresh token after the reuse: %d %s; want 400 invalid_grant", r.Status, r.Error)
		}
		// Only the reused login ends.
		if !in.introspect(rs, other.AccessToken).Active {
			t.Error("another login of the same user lost its access token")
		}
		if r := refresh(in, c, other.RefreshToken); r.Status != 200 {
			t.Errorf("another login of the same user cannot refresh: %d %s", r.Status, r.Error)
		}
	})
}
