package verifier_test

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/authd-dev/authd/verifier"
	"github.com/authd-dev/authd/verifier/verifiertest"
)

// warm verifies one token so that the JWKS is cached, and checks that this
// took exactly one fetch.
func (e *env) warm(t *testing.T) {
	t.Helper()
	if _, err := e.v.Verify(context.Background(), e.iss.Issue(map[string]any{"aud": audience})); err != nil {
		t.Fatalf("warm-up: %v", err)
	}
	e.wantFetches(t, 1, 0)
}

func (e *env) wantFetches(t *testing.T, total, notModified int) {
	t.Helper()
	if gotTotal, gotNM := e.iss.JWKSRequests(); gotTotal != total || gotNM != notModified {
		t.Fatalf("JWKS requests = %d (%d not modified), want %d (%d)", gotTotal, gotNM, total, notModified)
	}
}

func TestUnknownKidConcurrentOneFetch(t *testing.T) {
	e := newEnv(t)
	e.warm(t)
	e.clock.Advance(verifier.DefaultMinRefreshInterval + time.Second)
	e.iss.RotateKey()
	tokens := make([]string, 50)
	for i := range tokens {
		alg := []string{"RS256", "ES256"}[i%2]
		tokens[i] = e.iss.Issue(map[string]any{"aud": audience, "sub": fmt.Sprint(i)}, verifiertest.WithAlg(alg))
	}

	arrived, release := e.iss.HoldJWKS()
	defer release()
	errs := make([]error, len(tokens))
	var wg sync.WaitGroup
	for i, tok := range tokens {
		wg.Go(func() { _, errs[i] = e.v.Verify(context.Background(), tok) })
	}
	recv(t, arrived, "JWKS request") // the one refresh is in flight; the others wait for it
	release()
	wg.Wait()
	for i, err := range errs {
		if err != nil {
			t.Errorf("token %d: %v", i, err)
		}
	}
	e.wantFetches(t, 2, 0)
}

func TestRefreshWaitersHonourContext(t *testing.T) {
	e := newEnv(t)
	tok := e.iss.Issue(map[string]any{"aud": audience})
	arrived, release := e.iss.HoldJWKS()
	defer release()

	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { _, err := e.v.Verify(ctx, tok); done <- err }()
	recv(t, arrived, "JWKS request")
	cancel()
	if err, _ := recv(t, done, "answer of the cancelled Verify"); !errors.Is(err, context.Canceled) || !errors.Is(err, verifier.ErrUnknownKey) {
		t.Fatalf("Verify with a cancelled ctx = %v, want context.Canceled and ErrUnknownKey", err)
	}
	// The fetch the cancelled caller started was not cancelled with it:
	// once the issuer answers, its result serves the next caller.
	release()
	if _, err := e.v.Verify(context.Background(), tok); err != nil {
		t.Fatal(err)
	}
	e.wantFetches(t, 1, 0)
}

func TestGarbageKidsRateLimited(t *testing.T) {
	e := newEnv(t)
	e.warm(t)
	garbage := func(n int) {
		t.Helper()
		for i := range n {
			tok := e.iss.Issue(map[string]any{"aud": audience}, verifiertest.WithKeyID(fmt.Sprintf("garbage-%d", i)))
			if _, err := e.v.Verify(context.Background(), tok); !errors.Is(err, verifier.ErrUnknownKey) {
				t.Fatalf("garbage kid: %v", err)
			}
		}
	}
	garbage(20)
	e.wantFetches(t, 1, 0) // within the minimum interval of the warm-up fetch
	for round := 2; round <= 4; round++ {
		e.clock.Advance(verifier.DefaultMinRefreshInterval)
		garbage(20)
		e.wantFetches(t, round, round-1) // the set did not change: 304s
	}

	// Cheap claim checks come before any fetch.
	e.clock.Advance(verifier.DefaultMinRefreshInterval)
	for _, claims := range []map[string]any{
		{"aud": "other"},
		{"aud": audience, "iss": "https://evil.example"},
		{"aud": audience, "exp": e.clock.Now().Add(-time.Hour)},
	} {
		tok := e.iss.Issue(claims, verifiertest.WithKeyID("unknown"))
		if _, err := e.v.Verify(context.Background(), tok); err == nil || errors.Is(err, verifier.ErrUnknownKey) {
			t.Fatalf("bad claims with an unknown kid: %v", err)
		}
	}
	e.wantFetches(t, 4, 3)
}

func TestMinRefreshIntervalOption(t *testing.T) {
	e := newEnv(t, verifier.WithMinRefreshInterval(time.Minute))
	e.warm(t)
	e.iss.RotateKey()
	tok := e.iss.Issue(map[string]any{"aud": audience})
	e.clock.Advance(30 * time.Second)
	if _, err := e.v.Verify(context.Background(), tok); !errors.Is(err, verifier.ErrUnknownKey) {
		t.Fatalf("new kid within the interval: %v", err)
	}
	e.clock.Advance(30 * time.Second)
	if _, err := e.v.Verify(context.Background(), tok); err != nil {
		t.Fatalf("new kid after the interval: %v", err)
	}
	e.wantFetches(t, 2, 0)
}

func TestMaxAgeAndETag(t *testing.T) {
	c := newClock()
	iss := verifiertest.NewIssuer(t, verifiertest.WithClock(c.Now), verifiertest.WithMaxAge(time.Minute))
	e := &env{iss: iss, clock: c, v: newVerifier(t, iss, c)}
	e.warm(t)
	tok := iss.Issue(map[string]any{"aud": audience})

	c.Advance(59 * time.Second) // fresh: no request
	if _, err := e.v.Verify(context.Background(), tok); err != nil {
		t.Fatal(err)
	}
	e.wantFetches(t, 1, 0)

	c.Advance(time.Second) // stale: revalidated with If-None-Match, 304
	if _, err := e.v.Verify(context.Background(), tok); err != nil {
		t.Fatal(err)
	}
	e.wantFetches(t, 2, 1)

	c.Advance(59 * time.Second) // the 304 made it fresh again
	if _, err := e.v.Verify(context.Background(), tok); err != nil {
		t.Fatal(err)
	}
	e.wantFetches(t, 2, 1)

	// A changed set no longer matches the ETag: a full 200.
	iss.RotateKey()
	c.Advance(time.Minute)
	if _, err := e.v.Verify(context.Background(), iss.Issue(map[string]any{"aud": audience})); err != nil {
		t.Fatal(err)
	}
	e.wantFetches(t, 3, 1)
}

func TestKeyRotation(t *testing.T) {
	e := newEnv(t)
	old := e.iss.Issue(map[string]any{"aud": audience})
	if _, err := e.v.Verify(context.Background(), old); err != nil {
		t.Fatal(err)
	}
	e.iss.RotateKey()
	e.clock.Advance(verifier.DefaultMinRefreshInterval)
	for _, alg := range []string{"RS256", "ES256"} {
		if _, err := e.v.Verify(context.Background(), e.iss.Issue(map[string]any{"aud": audience}, verifiertest.WithAlg(alg))); err != nil {
			t.Fatalf("%s token of the new key: %v", alg, err)
		}
	}
	if _, err := e.v.Verify(context.Background(), old); err != nil {
		t.Fatalf("token of the retired key: %v", err)
	}
	e.wantFetches(t, 2, 0)
}

func TestJWKSUnavailable(t *testing.T) {
	c := newClock()
	iss := verifiertest.NewIssuer(t, verifiertest.WithClock(c.Now))
	v := newVerifier(t, iss, c, verifier.WithJWKSURL(iss.URL()+"/missing"))
	_, err := v.Verify(context.Background(), iss.Issue(map[string]any{"aud": audience}))
	if !errors.Is(err, verifier.ErrUnknownKey) {
		t.Fatalf("Verify with a JWKS answering 404 = %v, want ErrUnknownKey", err)
	}
}
