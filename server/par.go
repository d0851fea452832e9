package server

import (
	"context"
	"net/http"
	"net/url"

	"github.com/authd-dev/authd/authorize"
	"github.com/authd-dev/authd/clients"
	"github.com/authd-dev/authd/store"
	"github.com/authd-dev/authd/tokens"
)

// PushedAuthorizer stores pushed authorization requests (RFC 9126 §2) for
// the authorization endpoint to take (authorize.Flow.Push).
type PushedAuthorizer interface {
	Push(ctx context.Context, client store.Client, form url.Values, proof tokens.DPoPRequest) (authorize.Pushed, error)
}

var _ PushedAuthorizer = (*authorize.Flow)(nil)

// handlePAR is the pushed authorization request endpoint (RFC 9126 §2): a
// form-encoded POST, the client authenticated exactly as at the token
// endpoint (public clients by client_id alone, §2; a client assertion
// may name the issuer, the token endpoint or this endpoint as its aud,
// §2), the authorization
// request's parameters validated as the authorization endpoint would;
// 201 with the request_uri (§2.2), errors as JSON (§2.3), never
// redirected; every answer is no-store. A DPoP header (RFC 9449 §10.1)
// goes to Push with the endpoint's URL under the issuer as the htu to
// check; a fresh server nonce comes back in DPoP-Nonce (§8.2).
func (s *Server) handlePAR(w http.ResponseWriter, r *http.Request) {
	noStore(w)
	client, ok := s.authenticatedFormAt(w, r, clients.AtPAR)
	if !ok {
		return
	}
	p, err := s.cfg.PAR.Push(r.Context(), client, r.PostForm,
		tokens.DPoPRequest{Proofs: r.Header.Values("DPoP"), Method: http.MethodPost, URL: s.parURL})
	if err != nil {
		s.writeError(w, r, err)
		return
	}
	if p.DPoPNonce != "" {
		w.Header().Set("DPoP-Nonce", p.DPoPNonce)
	}
	writeJSON(w, http.StatusCreated, p)
}
