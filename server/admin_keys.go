package server

import (
	"net/http"

	"github.com/gorilla/mux"
)

func (s *Server) listKeys(w http.ResponseWriter, r *http.Request) {
	writeJSON(w, http.StatusOK, map[string]any{"keys": s.cfg.Admin.ListKeys()})
}

type rotateRequest struct {
	Alg string `json:"alg"`
}

func (s *Server) rotateKey(w http.ResponseWriter, r *http.Request) {
	var req rotateRequest
	if err := s.decodeJSON(w, r, &req); err != nil {
		s.writeError(w, r, err)
		return
	}
	info, err := s.cfg.Admin.RotateKey(r.Context(), req.Alg)
	if err != nil {
		s.writeError(w, r, err)
		return
	}
	writeJSON(w, http.StatusOK, info)
}

func (s *Server) deleteKey(w http.ResponseWriter, r *http.Request) {
	if err := s.cfg.Admin.DeleteKey(r.Context(), mux.Vars(r)["kid"]); err != nil {
		s.writeError(w, r, err)
		return
	}
	w.WriteHeader(http.StatusNoContent)
}
