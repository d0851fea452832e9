package server

import (
	"encoding/json"
	"errors"
	"io"
	"mime"
	"net/http"
	"net/url"
	"strconv"

	"github.com/authd-dev/authd/clients"
	"github.com/authd-dev/authd/oauth"
	"github.com/authd-dev/authd/store"
	"github.com/authd-dev/authd/tokens"
)

// handleToken is the token endpoint (RFC 6749 §3.2): a form-encoded POST,
// client authentication first, then the grant; every answer is no-store.
func (s *Server) handleToken(w http.ResponseWriter, r *http.Request) {
	noStore(w)
	client, ok := s.authenticatedForm(w, r)
	if !ok {
		return
	}
	resp, err := s.cfg.Tokens.Token(r.Context(), &tokens.Request{Client: client, Form: r.PostForm, RemoteIP: s.clientIP(r),
		DPoP: tokens.DPoPRequest{Proofs: r.Header.Values("DPoP"), Method: http.MethodPost, URL: s.tokenURL}})
	if err != nil {
		s.writeError(w, r, err)
		return
	}
	b, err := json.Marshal(resp)
	if err != nil {
		s.writeError(w, r, err)
		return
	}
	h := w.Header()
	h["Content-Type"] = headerJSON
	h.Set("Content-Length", strconv.Itoa(len(b)))
	if resp.DPoPNonce != "" { // RFC 9449 §8.2: a fresh nonce for the next proof
		h.Set("DPoP-Nonce", resp.DPoPNonce)
	}
	w.WriteHeader(http.StatusOK)
	w.Write(b)
}

// authenticatedForm parses the form and authenticates the client, writing
// the error answer itself when either fails.
func (s *Server) authenticatedForm(w http.ResponseWriter, r *http.Request) (store.Client, bool) {
	return s.authenticatedFormAt(w, r, clients.AtToken)
}

// authenticatedFormAt is authenticatedForm at endpoint ep, which decides
// the audiences a client assertion may name (clients.Endpoint).
func (s *Server) authenticatedFormAt(w http.ResponseWriter, r *http.Request, ep clients.Endpoint) (store.Client, bool) {
	if err := s.parseForm(w, r); err != nil {
		s.writeError(w, r, err)
		return store.Client{}, false
	}
	client, err := s.cfg.ClientAuth.AuthenticateAt(r.Context(), r, ep)
	if err != nil {
		if e := oauth.As(err); e != nil && e.Status == http.StatusUnauthorized {
			w.Header().Set("WWW-Authenticate", `Basic realm="authd", charset="UTF-8"`)
		}
		s.writeError(w, r, err)
		return store.Client{}, false
	}
	return client, true
}

// parseForm reads a bounded application/x-www-form-urlencoded body into
// r.PostForm. Query parameters are never read: RFC 6749 §3.2 sends them in
// the body.
func (s *Server) parseForm(w http.ResponseWriter, r *http.Request) error {
	const form = "application/x-www-form-urlencoded"
	// The bare media type, what clients send, needs no parsing (and none
	// of the parameter map mime.ParseMediaType allocates).
	if ct := r.Header.Get("Content-Type"); ct != form {
		if mt, _, err := mime.ParseMediaType(ct); err != nil || mt != form {
			return oauth.New(oauth.InvalidRequest, "the request body must be application/x-www-form-urlencoded")
		}
	}
	// The body is read and parsed here rather than by r.ParseForm, which
	// would parse the media type again, read through one more limiting
	// reader and copy the values into r.Form beside the query: the same
	// url.ParseQuery with fewer allocations. r.Form is the body's values
	// too, so nothing can read a query parameter through it.
	body, err := io.ReadAll(http.MaxBytesReader(w, r.Body, s.cfg.MaxBodyBytes))
	if err != nil {
		var tooBig *http.MaxBytesError
		if errors.As(err, &tooBig) {
			return oauth.Errorf(http.StatusRequestEntityTooLarge, oauth.InvalidRequest, "the request body exceeds %d bytes", s.cfg.MaxBodyBytes)
		}
		return oauth.New(oauth.InvalidRequest, "malformed form body")
	}
	vals, err := url.ParseQuery(string(body))
	if err != nil {
		return oauth.New(oauth.InvalidRequest, "malformed form body")
	}
	r.PostForm, r.Form = vals, vals
	return nil
}
