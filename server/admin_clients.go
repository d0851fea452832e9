package server

import (
	"net/http"
	"net/url"

	"github.com/gorilla/mux"

	"github.com/authd-dev/authd/clients"
	"github.com/authd-dev/authd/oauth"
)

// clientID is the {id} of a client route, percent-decoded: the admin
// router matches the escaped path (Server.Admin), so a client id from an
// older version that holds reserved characters ("a/b", "..") is
// reachable as /admin/clients/a%2Fb or /admin/clients/%2E%2E (RFC 3986
// §2.1, §3.3). New ids hold unreserved characters only (clients.ValidNewClientID).
func clientID(r *http.Request) (string, error) {
	id, err := url.PathUnescape(mux.Vars(r)["id"])
	if err != nil {
		return "", oauth.New(oauth.InvalidRequest, "the client id in the path is not validly percent-encoded")
	}
	return id, nil
}

func (s *Server) createClient(w http.ResponseWriter, r *http.Request) {
	var m clients.Metadata
	if err := s.decodeJSON(w, r, &m); err != nil {
		s.writeError(w, r, err)
		return
	}
	reg, err := s.cfg.Admin.CreateClient(r.Context(), m)
	if err != nil {
		s.writeError(w, r, err)
		return
	}
	noStore(w) // the secret is in the body
	writeJSON(w, http.StatusCreated, reg)
}

func (s *Server) listClients(w http.ResponseWriter, r *http.Request) {
	list, err := s.cfg.Admin.ListClients(r.Context())
	if err != nil {
		s.writeError(w, r, err)
		return
	}
	writeJSON(w, http.StatusOK, map[string]any{"clients": list})
}

func (s *Server) getClient(w http.ResponseWriter, r *http.Request) {
	id, err := clientID(r)
	if err != nil {
		s.writeError(w, r, err)
		return
	}
	m, err := s.cfg.Admin.GetClient(r.Context(), id)
	if err != nil {
		s.writeError(w, r, err)
		return
	}
	writeJSON(w, http.StatusOK, m)
}

func (s *Server) replaceClient(w http.ResponseWriter, r *http.Request) {
	id, err := clientID(r)
	if err != nil {
		s.writeError(w, r, err)
		return
	}
	var m clients.Metadata
	if err := s.decodeJSON(w, r, &m); err != nil {
		s.writeError(w, r, err)
		return
	}
	reg, err := s.cfg.Admin.ReplaceClient(r.Context(), id, m)
	if err != nil {
		s.writeError(w, r, err)
		return
	}
	noStore(w)
	writeJSON(w, http.StatusOK, reg)
}

func (s *Server) deleteClient(w http.ResponseWriter, r *http.Request) {
	id, err := clientID(r)
	if err != nil {
		s.writeError(w, r, err)
		return
	}
	if err := s.cfg.Admin.DeleteClient(r.Context(), id); err != nil {
		s.writeError(w, r, err)
		return
	}
	w.WriteHeader(http.StatusNoContent)
}

func (s *Server) resetClientSecret(w http.ResponseWriter, r *http.Request) {
	id, err := clientID(r)
	if err != nil {
		s.writeError(w, r, err)
		return
	}
	reg, err := s.cfg.Admin.ResetClientSecret(r.Context(), id)
	if err != nil {
		s.writeError(w, r, err)
		return
	}
	noStore(w)
	writeJSON(w, http.StatusOK, reg)
}
