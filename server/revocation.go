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

// tokenRequest reads the common part of revocation and introspection
// requests (RFC 7009 §2.1, RFC 7662 §2.1): an authenticated client, the
// token and its hint. It writes the error answer itself.
func (s *Server) tokenRequest(w http.ResponseWriter, r *http.Request) (client store.Client, token, hint string, ok bool) {
	noStore(w)
	if client, ok = s.authenticatedForm(w, r); !ok {
		return
	}
	if token = r.PostForm.Get("token"); token == "" {
		s.writeError(w, r, oauth.New(oauth.InvalidRequest, "token is required"))
		return client, "", "", false
	}
	return client, token, r.PostForm.Get("token_type_hint"), true
}

// handleRevoke is RFC 7009 §2: 200 with an empty body whether or not the
// token was known (§2.2).
func (s *Server) handleRevoke(w http.ResponseWriter, r *http.Request) {
	client, token, hint, ok := s.tokenRequest(w, r)
	if !ok {
		return
	}
	if err := s.cfg.Inspector.Revoke(r.Context(), client, token, hint); err != nil {
		s.writeError(w, r, err)
		return
	}
	w.WriteHeader(http.StatusOK)
}

// handleIntrospect is RFC 7662 §2.
func (s *Server) handleIntrospect(w http.ResponseWriter, r *http.Request) {
	client, token, hint, ok := s.tokenRequest(w, r)
	if !ok {
		return
	}
	if client.TokenEndpointAuthMethod == "none" {
		// RFC 7662 §2.1: introspection needs an authorized caller; a public
		// client proves nothing.
		w.Header().Set("WWW-Authenticate", `Basic realm="authd", charset="UTF-8"`)
		s.writeError(w, r, oauth.New(oauth.InvalidClient, "public clients may not introspect"))
		return
	}
	in, err := s.cfg.Inspector.Introspect(r.Context(), client, token, hint)
	if err != nil {
		s.writeError(w, r, err)
		return
	}
	writeJSON(w, http.StatusOK, in)
}
