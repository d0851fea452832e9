package server

import (
	"errors"
	"net/http"
	"strings"

	"github.com/gorilla/mux"

	"github.com/authd-dev/authd/keys"
	"github.com/authd-dev/authd/oauth"
)

func (s *Server) listKeys(w http.ResponseWriter, r *http.Request) {
	list := s.cfg.Keys.List()
	if list == nil {
		list = []keys.Info{}
	}
	writeJSON(w, http.StatusOK, map[string]any{"keys": list})
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
	info, err := s.cfg.Keys.Rotate(r.Context(), req.Alg)
	if err != nil {
		s.writeError(w, r, keyError(err))
		return
	}
	writeJSON(w, http.StatusOK, info)
}

func (s *Server) deleteKey(w http.ResponseWriter, r *http.Request) {
	if err := s.cfg.Keys.Delete(r.Context(), mux.Vars(r)["kid"]); err != nil {
		s.writeError(w, r, keyError(err))
		return
	}
	w.WriteHeader(http.StatusNoContent)
}

// keyError maps the keys package's sentinels to admin API errors.
func keyError(err error) error {
	switch {
	case errors.Is(err, keys.ErrKeyNotFound):
		return oauth.New(oauth.NotFound, "no such key")
	case errors.Is(err, keys.ErrUnsupportedAlg):
		return oauth.New(oauth.InvalidRequest, "alg must be one of %s", strings.Join(keys.Algorithms(), ", "))
	}
	return err
}
