package server

import (
	"context"
	"net/http"
	"net/url"

	"github.com/gorilla/mux"

	"github.com/authd-dev/authd/clients"
	"github.com/authd-dev/authd/oauth"
)

// ClientAdmin is the client registry as the admin API uses it.
type ClientAdmin interface {
	Create(ctx context.Context, m clients.Metadata) (clients.Registered, error)
	Get(ctx context.Context, id string) (clients.Metadata, error)
	List(ctx context.Context) ([]clients.Metadata, error)
	Replace(ctx context.Context, id string, m clients.Metadata) (clients.Registered, error)
	Delete(ctx context.Context, id string) error
	ResetSecret(ctx context.Context, id string) (clients.Registered, error)
}

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
	reg, err := s.cfg.Clients.Create(r.Context(), m)
	if err != nil {
		s.writeError(w, r, err)
		return
	}
	noStore(w) // the secret is in the body
	writeJSON(w, http.StatusCreated, reg)
}

func (s *Server) listClients(w http.ResponseWriter, r *http.Request) {
	list, err := s.cfg.Clients.List(r.Context())
	if err != nil {
		s.writeError(w, r, err)
		return
	}
	if list == nil {
		list = []clients.Metadata{}
	}
	writeJSON(w, http.StatusOK, map[string]any{"clients": list})
}

func (s *Server) getClient(w http.ResponseWriter, r *http.Request) {
	id, err := clientID(r)
	if err != nil {
		s.writeError(w, r, err)
		return
	}
	m, err := s.cfg.Clients.Get(r.Context(), id)
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
	reg, err := s.cfg.Clients.Replace(r.Context(), id, m)
	if err != nil {
		s.writeError(w, r, err)
		return
	}
	noStore(w)
	writeJSON(w, http.StatusOK, reg)
}

// deleteClient removes the client and ends its tokens: refresh tokens stop
// working with the client, and its access tokens are denylisted.
func (s *Server) deleteClient(w http.ResponseWriter, r *http.Request) {
	id, err := clientID(r)
	if err != nil {
		s.writeError(w, r, err)
		return
	}
	if err := s.cfg.Clients.Delete(r.Context(), id); err != nil {
		s.writeError(w, r, err)
		return
	}
	if s.cfg.Revoker != nil {
		if err := s.cfg.Revoker.RevokeClient(r.Context(), id, s.cfg.Now()); err != nil {
			s.writeError(w, r, err)
			return
		}
	}
	w.WriteHeader(http.StatusNoContent)
}

func (s *Server) resetClientSecret(w http.ResponseWriter, r *http.Request) {
	id, err := clientID(r)
	if err != nil {
		s.writeError(w, r, err)
		return
	}
	reg, err := s.cfg.Clients.ResetSecret(r.Context(), id)
	if err != nil {
		s.writeError(w, r, err)
		return
	}
	noStore(w)
	writeJSON(w, http.StatusOK, reg)
}
