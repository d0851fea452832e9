package app_test

import (
	"strings"
	"testing"

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
	if b.introspect(c, onB.AccessToken).Active {
		t.Error("the login's access token is still active on B")
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
