package verifier_test

import (
	"context"
	"errors"
	"fmt"
	"log"
	"net/http"

	"github.com/authd-dev/authd/verifier"
)

// A resource server verifies authd access tokens locally and follows the
// revocation feed.
func Example() {
	ctx := context.Background()
	v, err := verifier.New(ctx, "https://auth.example.com",
		verifier.WithAudience("https://api.example.com"),
		verifier.WithRevocationFeed("orders-api", "its-client-secret"),
	)
	if err != nil {
		log.Fatal(err)
	}
	defer v.Close()

	mux := http.NewServeMux()
	mux.HandleFunc("GET /orders", func(w http.ResponseWriter, r *http.Request) {
		claims, _ := verifier.ClaimsFrom(r.Context())
		if !claims.HasScope("orders:read") {
			w.WriteHeader(http.StatusForbidden)
			return
		}
		fmt.Fprintf(w, "orders of %s\n", claims.Subject)
	})
	log.Fatal(http.ListenAndServe(":8443", v.Middleware(mux)))
}

// Verify can be called directly, e.g. for a token that arrives another way
// than in the Authorization header.
func ExampleVerifier_Verify() {
	ctx := context.Background()
	v, err := verifier.New(ctx, "https://auth.example.com", verifier.WithAudience("https://api.example.com"))
	if err != nil {
		log.Fatal(err)
	}
	defer v.Close()

	token := "eyJ..." // from a websocket message, a queue, …
	claims, err := v.Verify(ctx, token)
	switch {
	case errors.Is(err, verifier.ErrExpired):
		log.Print("token expired: ask the client to refresh")
	case err != nil:
		log.Printf("rejected: %v", err)
	default:
		log.Printf("subject %s, scope %q", claims.Subject, claims.Scope)
	}
}
