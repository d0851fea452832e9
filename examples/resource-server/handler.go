package main

import (
	"encoding/json"
	"fmt"
	"net/http"
	"slices"
	"time"

	"github.com/authd-dev/authd/verifier"
)

// newHandler is the example API. /public answers anyone; the other routes
// go through the verifier's middleware, which answers 401 (with an RFC 6750
// §3 challenge) for a missing, invalid, expired or revoked token and puts
// the verified claims in the request context otherwise.
func newHandler(v *verifier.Verifier) http.Handler {
	protected := http.NewServeMux()
	protected.Handle("GET /read", requireScope("read", http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		c, _ := verifier.ClaimsFrom(r.Context())
		writeJSON(w, map[string]any{"message": "you may read", "sub": c.Subject})
	})))
	protected.Handle("GET /admin", requireRole("admin", http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		c, _ := verifier.ClaimsFrom(r.Context())
		writeJSON(w, map[string]any{"message": "hello, admin", "sub": c.Subject})
	})))
	protected.HandleFunc("GET /me", func(w http.ResponseWriter, r *http.Request) {
		c, _ := verifier.ClaimsFrom(r.Context())
		writeJSON(w, map[string]any{
			"sub":       c.Subject,
			"client_id": c.ClientID,
			"scope":     c.Scope,
			"roles":     c.Roles,
			"aud":       c.Audience,
			"exp":       c.ExpiresAt.UTC().Format(time.RFC3339),
		})
	})

	mux := http.NewServeMux()
	mux.HandleFunc("GET /public", func(w http.ResponseWriter, r *http.Request) {
		writeJSON(w, map[string]any{"message": "anyone may read this"})
	})
	mux.Handle("/", v.Middleware(protected))
	return mux
}

// requireScope answers 403 insufficient_scope (RFC 6750 §3.1) unless the
// token's "scope" (RFC 9068 §2.2.3) contains scope.
func requireScope(scope string, next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		c, ok := verifier.ClaimsFrom(r.Context())
		if !ok || !c.HasScope(scope) {
			forbid(w, fmt.Sprintf(`Bearer error="insufficient_scope", scope=%q`, scope), "this route needs scope "+scope)
			return
		}
		next.ServeHTTP(w, r)
	})
}

// requireRole answers 403 unless the token's "roles" (authd puts a user's
// roles there, RFC 9068 §2.2.3.1 / RFC 7643 §4.1.2) contains role. Tokens
// of the client_credentials grant carry no roles.
func requireRole(role string, next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		c, ok := verifier.ClaimsFrom(r.Context())
		if !ok || !slices.Contains(c.Roles, role) {
			forbid(w, `Bearer error="insufficient_scope"`, "this route needs role "+role)
			return
		}
		next.ServeHTTP(w, r)
	})
}

func forbid(w http.ResponseWriter, challenge, desc string) {
	w.Header().Set("WWW-Authenticate", challenge)
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(http.StatusForbidden)
	_ = json.NewEncoder(w).Encode(map[string]string{"error": "insufficient_scope", "error_description": desc})
}

func writeJSON(w http.ResponseWriter, v any) {
	w.Header().Set("Content-Type", "application/json")
	_ = json.NewEncoder(w).Encode(v)
}
