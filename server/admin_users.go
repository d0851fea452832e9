package server

import (
	"net/http"

	"github.com/gorilla/mux"

	"github.com/authd-dev/authd/users"
)

func (s *Server) createUser(w http.ResponseWriter, r *http.Request) {
	var req users.CreateRequest
	if err := s.decodeJSON(w, r, &req); err != nil {
		s.writeError(w, r, err)
		return
	}
	v, err := s.cfg.Admin.CreateUser(r.Context(), req)
	if err != nil {
		s.writeError(w, r, err)
		return
	}
	writeJSON(w, http.StatusCreated, v)
}

func (s *Server) listUsers(w http.ResponseWriter, r *http.Request) {
	list, err := s.cfg.Admin.ListUsers(r.Context())
	if err != nil {
		s.writeError(w, r, err)
		return
	}
	writeJSON(w, http.StatusOK, map[string]any{"users": list})
}

func (s *Server) getUser(w http.ResponseWriter, r *http.Request) {
	v, err := s.cfg.Admin.GetUser(r.Context(), mux.Vars(r)["id"])
	if err != nil {
		s.writeError(w, r, err)
		return
	}
	writeJSON(w, http.StatusOK, v)
}

func (s *Server) patchUser(w http.ResponseWriter, r *http.Request) {
	var req users.PatchRequest
	if err := s.decodeJSON(w, r, &req); err != nil {
		s.writeError(w, r, err)
		return
	}
	v, err := s.cfg.Admin.PatchUser(r.Context(), mux.Vars(r)["id"], req)
	if err != nil {
		s.writeError(w, r, err)
		return
	}
	writeJSON(w, http.StatusOK, v)
}

func (s *Server) deleteUser(w http.ResponseWriter, r *http.Request) {
	if err := s.cfg.Admin.DeleteUser(r.Context(), mux.Vars(r)["id"]); err != nil {
		s.writeError(w, r, err)
		return
	}
	w.WriteHeader(http.StatusNoContent)
}

func (s *Server) revokeUser(w http.ResponseWriter, r *http.Request) {
	if err := s.cfg.Admin.RevokeUser(r.Context(), mux.Vars(r)["id"]); err != nil {
		s.writeError(w, r, err)
		return
	}
	w.WriteHeader(http.StatusNoContent)
}

func (s *Server) listSessions(w http.ResponseWriter, r *http.Request) {
	list, err := s.cfg.Admin.ListSessions(r.Context(), mux.Vars(r)["id"])
	if err != nil {
		s.writeError(w, r, err)
		return
	}
	writeJSON(w, http.StatusOK, map[string]any{"sessions": list})
}

// deleteSession ends the session and the logins begun in it.
func (s *Server) deleteSession(w http.ResponseWriter, r *http.Request) {
	if err := s.cfg.Admin.DeleteSession(r.Context(), mux.Vars(r)["id"], mux.Vars(r)["sid"]); err != nil {
		s.writeError(w, r, err)
		return
	}
	w.WriteHeader(http.StatusNoContent)
}
