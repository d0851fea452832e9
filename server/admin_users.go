package server

import (
	"context"
	"net/http"
	"time"

	"github.com/gorilla/mux"

	"github.com/authd-dev/authd/users"
)

// UserAdmin is the user service as the admin API uses it.
type UserAdmin interface {
	Create(ctx context.Context, req users.CreateRequest) (users.View, error)
	Get(ctx context.Context, id string) (users.View, error)
	List(ctx context.Context) ([]users.View, error)
	Patch(ctx context.Context, id string, req users.PatchRequest) (users.View, error)
	Delete(ctx context.Context, id string) error
	Revoke(ctx context.Context, id string) (time.Time, error)
}

func (s *Server) createUser(w http.ResponseWriter, r *http.Request) {
	var req users.CreateRequest
	if err := s.decodeJSON(w, r, &req); err != nil {
		s.writeError(w, r, err)
		return
	}
	v, err := s.cfg.Users.Create(r.Context(), req)
	if err != nil {
		s.writeError(w, r, err)
		return
	}
	writeJSON(w, http.StatusCreated, v)
}

func (s *Server) listUsers(w http.ResponseWriter, r *http.Request) {
	list, err := s.cfg.Users.List(r.Context())
	if err != nil {
		s.writeError(w, r, err)
		return
	}
	if list == nil {
		list = []users.View{}
	}
	writeJSON(w, http.StatusOK, map[string]any{"users": list})
}

func (s *Server) getUser(w http.ResponseWriter, r *http.Request) {
	v, err := s.cfg.Users.Get(r.Context(), mux.Vars(r)["id"])
	if err != nil {
		s.writeError(w, r, err)
		return
	}
	writeJSON(w, http.StatusOK, v)
}

// patchUser changes roles, email or password; a password change also ends
// the user's earlier tokens (the users package sets NotBefore, which ends
// refresh tokens; the watermark here ends access tokens).
func (s *Server) patchUser(w http.ResponseWriter, r *http.Request) {
	var req users.PatchRequest
	if err := s.decodeJSON(w, r, &req); err != nil {
		s.writeError(w, r, err)
		return
	}
	id := mux.Vars(r)["id"]
	v, err := s.cfg.Users.Patch(r.Context(), id, req)
	if err != nil {
		s.writeError(w, r, err)
		return
	}
	if req.Password != nil && s.cfg.Revoker != nil {
		if err := s.cfg.Revoker.RevokeSubject(r.Context(), id, s.cfg.Now()); err != nil {
			s.writeError(w, r, err)
			return
		}
	}
	writeJSON(w, http.StatusOK, v)
}

func (s *Server) deleteUser(w http.ResponseWriter, r *http.Request) {
	id := mux.Vars(r)["id"]
	// The users service revokes first, then deletes (a retry completes).
	if err := s.cfg.Users.Delete(r.Context(), id); err != nil {
		s.writeError(w, r, err)
		return
	}
	w.WriteHeader(http.StatusNoContent)
}

// revokeUser ends every login of the user and every access token issued
// to the user until now (the users service does both).
func (s *Server) revokeUser(w http.ResponseWriter, r *http.Request) {
	id := mux.Vars(r)["id"]
	if _, err := s.cfg.Users.Revoke(r.Context(), id); err != nil {
		s.writeError(w, r, err)
		return
	}
	w.WriteHeader(http.StatusNoContent)
}
