package verifiertest_test

import (
	"context"
	"testing"

	"github.com/authd-dev/authd/verifier"
	"github.com/authd-dev/authd/verifier/verifiertest"
)

// TestExample shows how a resource server tests its handlers: a fake
// issuer, a verifier pointed at it, tokens minted per test.
func TestExample(t *testing.T) {
	iss := verifiertest.NewIssuer(t)
	v, err := verifier.New(context.Background(), iss.URL(),
		verifier.WithAudience("https://api.example"),
		verifier.WithHTTPClient(iss.Client()),
		verifier.WithRevocationFeed(verifiertest.FeedClientID, verifiertest.FeedClientSecret),
	)
	if err != nil {
		t.Fatal(err)
	}
	defer v.Close()

	tok := iss.Issue(map[string]any{"aud": "https://api.example", "sub": "alice", "scope": "read"},
		verifiertest.WithAlg("ES256"))
	c, err := v.Verify(context.Background(), tok)
	if err != nil {
		t.Fatal(err)
	}
	if c.Subject != "alice" || !c.HasScope("read") {
		t.Fatalf("claims %+v", c)
	}
}
