package verifier_test

import (
	"context"
	"errors"
	"net/http"
	"net/http/httptest"
	"testing"
	"time"

	"github.com/authd-dev/authd/verifier"
	"github.com/authd-dev/authd/verifier/verifiertest"
)

// revocationDeadline is how soon a revocation must reach Verify.
const revocationDeadline = time.Second

// feedEnv is an env whose verifier follows the revocation feed.
func feedEnv(t *testing.T) *env {
	t.Helper()
	return newEnv(t, verifier.WithRevocationFeed(verifiertest.FeedClientID, verifiertest.FeedClientSecret))
}

// awaitRevoked verifies tok until it is reported revoked, failing the
// test if that takes longer than revocationDeadline.
func awaitRevoked(t *testing.T, v *verifier.Verifier, tok string) {
	t.Helper()
	deadline := time.Now().Add(revocationDeadline)
	for {
		_, err := v.Verify(context.Background(), tok)
		if errors.Is(err, verifier.ErrRevoked) {
			return
		}
		if err != nil {
			t.Fatalf("Verify = %v, want ErrRevoked", err)
		}
		if time.Now().After(deadline) {
			t.Fatalf("revocation did not reach Verify within %s", revocationDeadline)
		}
		time.Sleep(5 * time.Millisecond) // polling interval, not an assertion
	}
}

func TestRevocationByKind(t *testing.T) {
	e := feedEnv(t)
	tests := []struct {
		kind, value string
		claims      map[string]any
	}{
		{"jti", "token-1", map[string]any{"jti": "token-1", "sub": "u-jti"}},
		{"sid", "session-1", map[string]any{"sid": "session-1", "sub": "u-sid"}},
		{"sub", "user-1", map[string]any{"sub": "user-1"}},
		{"client", "client-1", map[string]any{"sub": "u-client", "client_id": "client-1"}},
	}
	for _, tt := range tests {
		t.Run(tt.kind, func(t *testing.T) {
			tt.claims["aud"] = audience
			tok := e.iss.Issue(tt.claims)
			bystander := e.iss.Issue(map[string]any{"aud": audience, "sub": "bystander-" + tt.kind, "client_id": "other"})
			if _, err := e.v.Verify(context.Background(), tok); err != nil {
				t.Fatalf("before revocation: %v", err)
			}
			e.iss.Revoke(tt.kind, tt.value)
			awaitRevoked(t, e.v, tok)
			if _, err := e.v.Verify(context.Background(), bystander); err != nil {
				t.Fatalf("another token after revocation: %v", err)
			}
		})
	}

	// A sub or client entry covers tokens issued up to its "at", not later.
	e.clock.Advance(time.Second)
	for _, claims := range []map[string]any{
		{"aud": audience, "sub": "user-1"},
		{"aud": audience, "sub": "u-new", "client_id": "client-1"},
	} {
		if _, err := e.v.Verify(context.Background(), e.iss.Issue(claims)); err != nil {
			t.Fatalf("token issued after the revocation %v: %v", claims, err)
		}
	}
}

func TestFeedSnapshotAndResume(t *testing.T) {
	c := newClock()
	iss := verifiertest.NewIssuer(t, verifiertest.WithClock(c.Now))
	early := iss.Issue(map[string]any{"aud": audience, "jti": "early"})
	iss.Revoke("jti", "early") // before the verifier exists: only in the snapshot
	v := newVerifier(t, iss, c, verifier.WithRevocationFeed(verifiertest.FeedClientID, verifiertest.FeedClientSecret))
	if _, err := v.Verify(context.Background(), early); !errors.Is(err, verifier.ErrRevoked) {
		t.Fatalf("token revoked before start: %v", err)
	}

	ctx, cancel := context.WithTimeout(context.Background(), waitLimit)
	defer cancel()
	resume := iss.SuspendFeed()
	down := iss.Issue(map[string]any{"aud": audience, "jti": "while-down"})
	iss.Revoke("jti", "while-down")
	resume()
	reqs := iss.AwaitFeedRequests(ctx, 2)
	if len(reqs) != 2 || reqs[0] != "" || reqs[1] != "1" {
		t.Fatalf("feed connections with cursors %q, want [\"\" \"1\"]", reqs)
	}
	awaitRevoked(t, v, down) // replayed after the cursor, not in a snapshot
	if _, err := v.Verify(context.Background(), early); !errors.Is(err, verifier.ErrRevoked) {
		t.Fatalf("snapshot entry after resume: %v", err)
	}

	// A plain drop (authd restart) resumes too; live events keep flowing.
	iss.DropFeedConnections()
	reqs = iss.AwaitFeedRequests(ctx, 3)
	if len(reqs) != 3 || reqs[2] != "2" {
		t.Fatalf("feed connections with cursors %q, want the third at \"2\"", reqs)
	}
	live := iss.Issue(map[string]any{"aud": audience, "jti": "live"})
	iss.Revoke("jti", "live")
	awaitRevoked(t, v, live)
}

func TestFeedEntriesExpire(t *testing.T) {
	e := feedEnv(t)
	long := e.iss.Issue(map[string]any{"aud": audience, "sid": "s", "exp": e.clock.Now().Add(3 * time.Hour)})
	e.iss.Revoke("sid", "s")
	awaitRevoked(t, e.v, long)
	e.clock.Advance(verifiertest.EntryTTL + time.Second)
	if _, err := e.v.Verify(context.Background(), long); err != nil {
		t.Fatalf("after the entry's exp: %v", err)
	}
}

func TestFeedNotReadyFailsClosed(t *testing.T) {
	c := newClock()
	iss := verifiertest.NewIssuer(t, verifiertest.WithClock(c.Now))
	// Wrong credentials: the feed answers 401 and never sends a snapshot.
	v := newVerifier(t, iss, c, verifier.WithRevocationFeed(verifiertest.FeedClientID, "wrong"))
	tok := iss.Issue(map[string]any{"aud": audience})

	// First, alone: the bounded wait, which also fetches the JWKS (the
	// signature is checked before the feed). The short deadlines below
	// are then spent on the feed wait only; racing the first JWKS fetch,
	// a loaded machine could spend them there instead.
	t.Run("bounded wait", func(t *testing.T) {
		if _, err := v.Verify(context.Background(), tok); !errors.Is(err, verifier.ErrFeedNotReady) {
			t.Fatalf("Verify = %v, want ErrFeedNotReady", err)
		}
		if n, _ := iss.JWKSRequests(); n == 0 {
			t.Fatal("the JWKS was never fetched")
		}
	})
	t.Run("ctx", func(t *testing.T) {
		t.Parallel()
		ctx, cancel := context.WithTimeout(context.Background(), 50*time.Millisecond)
		defer cancel()
		_, err := v.Verify(ctx, tok)
		if !errors.Is(err, verifier.ErrFeedNotReady) || !errors.Is(err, context.DeadlineExceeded) {
			t.Fatalf("Verify = %v, want ErrFeedNotReady and DeadlineExceeded", err)
		}
	})
	t.Run("middleware answers 503", func(t *testing.T) {
		t.Parallel()
		ctx, cancel := context.WithTimeout(context.Background(), 50*time.Millisecond)
		defer cancel()
		r := httptest.NewRequestWithContext(ctx, http.MethodGet, "/", nil)
		r.Header.Set("Authorization", "Bearer "+tok)
		w := httptest.NewRecorder()
		v.Middleware(http.NotFoundHandler()).ServeHTTP(w, r)
		if w.Code != http.StatusServiceUnavailable || w.Header().Get("Retry-After") == "" {
			t.Fatalf("status %d, Retry-After %q", w.Code, w.Header().Get("Retry-After"))
		}
	})
}

func TestCloseStopsFeed(t *testing.T) {
	e := feedEnv(t)
	if _, err := e.v.Verify(context.Background(), e.iss.Issue(map[string]any{"aud": audience})); err != nil {
		t.Fatal(err)
	}
	done := make(chan struct{})
	go func() { e.v.Close(); e.v.Close(); close(done) }()
	recv(t, done, "return from Close")
}
