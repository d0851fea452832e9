package server

import (
	"context"
	"net/http"
	"time"

	"github.com/gorilla/mux"

	"github.com/authd-dev/authd/clients"
)

// RegistrationTokenIssuer issues initial access tokens of dynamic
// registration (clients.Registrar).
type RegistrationTokenIssuer interface {
	IssueInitialToken(ctx context.Context, ttl time.Duration, uses int) (clients.InitialToken, error)
	ListInitialTokens(ctx context.Context) ([]clients.InitialTokenInfo, error)
	RevokeInitialToken(ctx context.Context, id string) error
}

var _ RegistrationTokenIssuer = (*clients.Registrar)(nil)

func (s *Server) registrationAdminRoutes(a func(name, path string, h http.HandlerFunc, methods ...string)) {
	if s.cfg.RegistrationTokens != nil {
		a("admin_registration_tokens", "/admin/registration-tokens", s.createRegistrationToken, http.MethodPost)
		a("admin_registration_tokens_list", "/admin/registration-tokens", s.listRegistrationTokens, http.MethodGet)
		a("admin_registration_token", "/admin/registration-tokens/{id}", s.deleteRegistrationToken, http.MethodDelete)
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

// listRegistrationTokens is GET /admin/registration-tokens →
// {"tokens": [{"id", "expires_at", "uses", "created_at"}]}: the live
// tokens, never a token itself.
func (s *Server) listRegistrationTokens(w http.ResponseWriter, r *http.Request) {
	ts, err := s.cfg.RegistrationTokens.ListInitialTokens(r.Context())
	if err != nil {
		s.writeError(w, r, err)
		return
	}
	writeJSON(w, http.StatusOK, map[string]any{"tokens": ts})
}

// deleteRegistrationToken is DELETE /admin/registration-tokens/{id} → 204:
// the token stops working at once.
func (s *Server) deleteRegistrationToken(w http.ResponseWriter, r *http.Request) {
	if err := s.cfg.RegistrationTokens.RevokeInitialToken(r.Context(), mux.Vars(r)["id"]); err != nil {
		s.writeError(w, r, err)
		return
	}
	w.WriteHeader(http.StatusNoContent)
}
