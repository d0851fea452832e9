package server

import (
	"context"
	"net/http"

	"github.com/authd-dev/authd/oauth"
	"github.com/authd-dev/authd/store"
	"github.com/authd-dev/authd/tokens"
)

// Paths of the revocation and introspection endpoints.
const (
	PathRevoke     = "/oauth2/revoke"
	PathIntrospect = "/oauth2/introspect"
)

// TokenInspector revokes and introspects tokens for an authenticated
// client.
type TokenInspector interface {
	Revoke(ctx context.Context, client store.Client, token, hint string) error
	Introspect(ctx context.Context, client store.Client, token, hint string) (*tokens.Introspection, error)
}

// authenticatedForm parses the form and authenticates the client, writing
// the error answer itself when either fails.
func (s *Server) authenticatedForm(w http.ResponseWriter, r *http.Request) (store.Client, bool) {
	if err := s.parseForm(w, r); err != nil {
		s.writeError(w, r, err)
		return store.Client{}, false
	}
	client, err := s.cfg.ClientAuth.Authenticate(r.Context(), r)
	if err != nil {
		if e := oauth.As(err); e != nil && e.Status == http.StatusUnauthorized {
			w.Header().Set("WWW-Authenticate", `Basic realm="authd", charset="UTF-8"`)
		}
		s.writeError(w, r, err)
		return store.Client{}, false
	}
	return client, true
}

// handleRevoke is RFC 7009 §2: 200 with an empty body whether or not the
// token was known (§2.2).
func (s *Server) handleRevoke(w http.ResponseWriter, r *http.Request) {
	noStore(w)
	client, ok := s.authenticatedForm(w, r)
	if !ok {
		return
	}
	token := r.PostForm.Get("token")
	if token == "" {
		s.writeError(w, r, oauth.New(oauth.InvalidRequest, "token is required"))
		return
	}
	if err := s.cfg.Inspector.Revoke(r.Context(), client, token, r.PostForm.Get("token_type_hint")); err != nil {
		s.writeError(w, r, err)
		return
	}
	w.WriteHeader(http.StatusOK)
}

// handleIntrospect is RFC 7662 §2.
func (s *Server) handleIntrospect(w http.ResponseWriter, r *http.Request) {
	noStore(w)
	client, ok := s.authenticatedForm(w, r)
	if !ok {
		return
	}
	token := r.PostForm.Get("token")
	if token == "" {
		s.writeError(w, r, oauth.New(oauth.InvalidRequest, "token is required"))
		return
	}
	if client.TokenEndpointAuthMethod == "none" {
		// RFC 7662 §2.1: introspection needs an authorized caller; a public
		// client proves nothing.
		w.Header().Set("WWW-Authenticate", `Basic realm="authd", charset="UTF-8"`)
		s.writeError(w, r, oauth.New(oauth.InvalidClient, "public clients may not introspect"))
		return
	}
	in, err := s.cfg.Inspector.Introspect(r.Context(), client, token, r.PostForm.Get("token_type_hint"))
	if err != nil {
		s.writeError(w, r, err)
		return
	}
	writeJSON(w, http.StatusOK, in)
}
