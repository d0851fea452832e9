package bolt

import (
	"context"
	"testing"
	"time"

	"github.com/authd-dev/authd/store/storetest"
)

// BenchmarkGetConsent is the read a remembered-consent authorization
// adds; BenchmarkGetUserBaseline is a user read in the same run, for a
// ratio.
func BenchmarkGetConsent(b *testing.B) {
	ctx := context.Background()
	s, _ := open(b, Options{SweepInterval: -1})
	if _, err := s.GrantConsent(ctx, "u1", "web", "openid profile email", time.Now(), time.Time{}); err != nil {
		b.Fatal(err)
	}
	for b.Loop() {
		if _, err := s.GetConsent(ctx, "u1", "web"); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkGetUserBaseline(b *testing.B) {
	ctx := context.Background()
	s, _ := open(b, Options{SweepInterval: -1})
	if err := s.CreateUser(ctx, storetest.NewUser("u1", "alice", storetest.Now())); err != nil {
		b.Fatal(err)
	}
	for b.Loop() {
		if _, err := s.GetUser(ctx, "u1"); err != nil {
			b.Fatal(err)
		}
	}
}
