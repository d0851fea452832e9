package server

import (
	"context"
	"net/http"
	"time"

	"github.com/authd-dev/authd/clients"
)

// RegistrationTokenIssuer issues initial access tokens of dynamic
// registration (clients.Registrar).
type RegistrationTokenIssuer interface {
	IssueInitialToken(ctx context.Context, ttl time.Duration, uses int) (clients.InitialToken, error)
}

var _ RegistrationTokenIssuer = (*clients.Registrar)(nil)

func (s *Server) registrationAdminRoutes(a func(name, path string, h http.HandlerFunc, methods ...string)) {
	if s.cfg.RegistrationTokens != nil {
		a("admin_registration_tokens", "/admin/registration-tokens", s.createRegistrationToken, http.MethodPost)
	}
}

// createRegistrationToken is POST /admin/registration-tokens
// {"expires_in": seconds, "uses": n} → 201 {"token", "expires_at", "uses"}.
// Both members are optional (1 day, 1 use); an empty body is allowed.
func (s *Server) createRegistrationToken(w http.ResponseWriter, r *http.Request) {
	var req struct {
		ExpiresIn int64 `json:"expires_in"`
		Uses      int   `json:"uses"`
	}
	if r.ContentLength != 0 {
		if err := s.decodeJSON(w, r, &req); err != nil {
			s.writeError(w, r, err)
			return
		}
	}
	// Bounded here so the multiplication cannot overflow; the domain
	// checks the range.
	ttl := time.Duration(min(max(req.ExpiresIn, -1), int64(clients.MaxInitialTokenTTL/time.Second)+1)) * time.Second
	tok, err := s.cfg.RegistrationTokens.IssueInitialToken(r.Context(), ttl, req.Uses)
	if err != nil {
		s.writeError(w, r, err)
		return
	}
	noStore(w)
	writeJSON(w, http.StatusCreated, tok)
}
