package server

import (
	"crypto/sha256"
	"crypto/subtle"
	"encoding/json"
	"errors"
	"io"
	"mime"
	"net/http"
	"strings"

	"github.com/gorilla/mux"

	"github.com/authd-dev/authd/oauth"
)

func hashToken(t string) [32]byte { return sha256.Sum256([]byte(t)) }

// requireAdmin checks the admin bearer token in constant time (hashes
// first, so neither content nor length leaks).
func (s *Server) requireAdmin(h http.HandlerFunc) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		tok, ok := bearerToken(r)
		if got := hashToken(tok); !ok || subtle.ConstantTimeCompare(got[:], s.adminHash[:]) != 1 {
			w.Header().Set("WWW-Authenticate", `Bearer realm="authd-admin"`)
			writeJSON(w, http.StatusUnauthorized, errorBody{Error: oauth.InvalidToken, Description: "a valid admin bearer token is required"})
			return
		}
		h(w, r)
	})
}

// bearerToken reads "Authorization: Bearer <token>" (RFC 6750 §2.1; the
// scheme is case-insensitive).
func bearerToken(r *http.Request) (string, bool) {
	h := r.Header.Get("Authorization")
	scheme, tok, ok := strings.Cut(h, " ")
	if !ok || !strings.EqualFold(scheme, "Bearer") {
		return "", false
	}
	tok = strings.TrimSpace(tok)
	return tok, tok != ""
}

func (s *Server) adminRoutes(r *mux.Router) {
	a := func(name, path string, h http.HandlerFunc, methods ...string) {
		s.route(r, "admin", name, path, s.requireAdmin(h), methods...)
	}
	a("admin_clients", "/admin/clients", s.createClient, http.MethodPost)
	a("admin_clients", "/admin/clients", s.listClients, http.MethodGet)
	a("admin_client", "/admin/clients/{id}", s.getClient, http.MethodGet)
	a("admin_client", "/admin/clients/{id}", s.replaceClient, http.MethodPut)
	a("admin_client", "/admin/clients/{id}", s.deleteClient, http.MethodDelete)
	a("admin_client_secret", "/admin/clients/{id}/secret", s.resetClientSecret, http.MethodPost)

	a("admin_users", "/admin/users", s.createUser, http.MethodPost)
	a("admin_users", "/admin/users", s.listUsers, http.MethodGet)
	a("admin_user", "/admin/users/{id}", s.getUser, http.MethodGet)
	a("admin_user", "/admin/users/{id}", s.patchUser, http.MethodPatch)
	a("admin_user", "/admin/users/{id}", s.deleteUser, http.MethodDelete)
	a("admin_user_revoke", "/admin/users/{id}/revoke", s.revokeUser, http.MethodPost)
	a("admin_user_sessions", "/admin/users/{id}/sessions", s.listSessions, http.MethodGet)
	a("admin_user_session", "/admin/users/{id}/sessions/{sid}", s.deleteSession, http.MethodDelete)
	s.consentRoutes(a)
	s.registrationAdminRoutes(a)

	a("admin_keys", "/admin/keys", s.listKeys, http.MethodGet)
	a("admin_keys_rotate", "/admin/keys/rotate", s.rotateKey, http.MethodPost)
	a("admin_key", "/admin/keys/{kid}", s.deleteKey, http.MethodDelete)
}

// decodeJSON reads one bounded JSON object into v; unknown fields, trailing
// data and the wrong content type are caller mistakes (400/415/413).
func (s *Server) decodeJSON(w http.ResponseWriter, r *http.Request, v any) error {
	return s.decodeJSONBody(w, r, v, true, 1<<20)
}

// decodeJSONBody is decodeJSON with a body of at most limit bytes; strict
// refuses unknown fields. When not
// strict, the JSON error (a *json.UnmarshalTypeError for a member of the
// wrong type) is the Cause of the invalid_request error.
func (s *Server) decodeJSONBody(w http.ResponseWriter, r *http.Request, v any, strict bool, limit int64) error {
	if ct := r.Header.Get("Content-Type"); ct != "" {
		if mt, _, err := mime.ParseMediaType(ct); err != nil || mt != "application/json" {
			return oauth.Errorf(http.StatusUnsupportedMediaType, oauth.InvalidRequest, "the request body must be application/json")
		}
	}
	dec := json.NewDecoder(http.MaxBytesReader(w, r.Body, limit))
	if strict {
		dec.DisallowUnknownFields()
	}
	if err := dec.Decode(v); err != nil {
		var tooBig *http.MaxBytesError
		switch {
		case errors.As(err, &tooBig):
			return oauth.Errorf(http.StatusRequestEntityTooLarge, oauth.InvalidRequest, "the request body is too large")
		case errors.Is(err, io.EOF):
			return oauth.New(oauth.InvalidRequest, "the request body is empty")
		default:
			e := oauth.New(oauth.InvalidRequest, "malformed JSON: %s", jsonErrorText(err))
			if !strict {
				e = e.WithCause(err) // decodeRegistration reads it
			}
			return e
		}
	}
	if dec.More() {
		return oauth.New(oauth.InvalidRequest, "malformed JSON: trailing data after the object")
	}
	return nil
}

// jsonErrorText describes a decoding error without echoing large input.
func jsonErrorText(err error) string {
	msg := err.Error()
	msg = strings.TrimPrefix(msg, "json: ")
	if len(msg) > 200 {
		msg = msg[:200]
	}
	return msg
}
