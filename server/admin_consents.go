package server

import (
	"context"
	"net/http"

	"github.com/gorilla/mux"

	"github.com/authd-dev/authd/admin"
)

// ConsentAdmin is the consent part of the admin API.
type ConsentAdmin interface {
	ListConsents(ctx context.Context, userID string) ([]admin.ConsentView, error)
	DeleteConsent(ctx context.Context, userID, clientID string) error
}

// consentRoutes mounts GET /admin/users/{id}/consents and
// DELETE /admin/users/{id}/consents/{client_id}.
func (s *Server) consentRoutes(a func(name, path string, h http.HandlerFunc, methods ...string)) {
	a("admin_user_consents", "/admin/users/{id}/consents", s.listConsents, http.MethodGet)
	a("admin_user_consent", "/admin/users/{id}/consents/{client_id}", s.deleteConsent, http.MethodDelete)
}

func (s *Server) listConsents(w http.ResponseWriter, r *http.Request) {
	list, err := s.cfg.Admin.ListConsents(r.Context(), mux.Vars(r)["id"])
	if err != nil {
		s.writeError(w, r, err)
		return
	}
	writeJSON(w, http.StatusOK, map[string]any{"consents": list})
}

func (s *Server) deleteConsent(w http.ResponseWriter, r *http.Request) {
	v := mux.Vars(r)
	if err := s.cfg.Admin.DeleteConsent(r.Context(), v["id"], v["client_id"]); err != nil {
		s.writeError(w, r, err)
		return
	}
	w.WriteHeader(http.StatusNoContent)
}
