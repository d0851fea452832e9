package server

import (
	"context"
	"encoding/json"
	"errors"
	"net/http"
	"net/url"

	"github.com/gorilla/mux"

	"github.com/authd-dev/authd/clients"
	"github.com/authd-dev/authd/oauth"
)

// PathRegister is the client registration endpoint (RFC 7591 §3);
// PathRegister/{client_id} is each client's configuration endpoint, its
// registration_client_uri (RFC 7592 §2).
const PathRegister = "/oauth2/register"

// Registration is dynamic client registration (clients.Registrar).
type Registration interface {
	Register(ctx context.Context, req clients.RegistrationRequest) (clients.ClientInformation, error)
	Read(ctx context.Context, id string, req clients.RegistrationRequest) (clients.ClientInformation, error)
	Update(ctx context.Context, id string, req clients.RegistrationRequest) (clients.ClientInformation, error)
	Delete(ctx context.Context, id string, req clients.RegistrationRequest) error
}

var _ Registration = (*clients.Registrar)(nil)

func (s *Server) registrationRoutes(r *mux.Router) {
	s.route(r, "public", "register", PathRegister, http.HandlerFunc(s.handleRegister), http.MethodPost)
	s.route(r, "public", "register_client", PathRegister+"/{id}", http.HandlerFunc(s.handleClientConfiguration),
		http.MethodGet, http.MethodPut, http.MethodDelete)
}

// registrationBody is a registration or update request: client metadata
// (RFC 7591 §2) and the members that are not metadata.
type registrationBody struct {
	clients.Metadata
	ClientSecret      string `json:"client_secret,omitempty"`
	SoftwareStatement string `json:"software_statement,omitempty"`
}

// decodeRegistration reads the request's JSON metadata. Unknown members
// are ignored (RFC 7591 §2: the server "MUST ignore any client metadata
// sent by the client that it does not understand"); a member of the wrong
// type is invalid_client_metadata (§3.2.2).
func (s *Server) decodeRegistration(w http.ResponseWriter, r *http.Request, req *clients.RegistrationRequest) error {
	var body registrationBody
	// A public endpoint: bounded like every public body (MaxBodyBytes).
	if err := s.decodeJSONBody(w, r, &body, false, s.cfg.MaxBodyBytes); err != nil {
		var typeErr *json.UnmarshalTypeError
		if errors.As(err, &typeErr) {
			return oauth.New(oauth.InvalidClientMetadata, "%s has the wrong type", typeErr.Field)
		}
		return err
	}
	req.Metadata, req.ClientSecret, req.SoftwareStatement = body.Metadata, body.ClientSecret, body.SoftwareStatement
	return nil
}

func (s *Server) registrationRequest(r *http.Request) clients.RegistrationRequest {
	tok, _ := bearerToken(r)
	return clients.RegistrationRequest{Bearer: tok, RemoteIP: s.clientIP(r)}
}

// clientURI is the registration_client_uri of a client (RFC 7592 §3).
func (s *Server) clientURI(id string) string {
	return s.cfg.Issuer + PathRegister + "/" + url.PathEscape(id)
}

// handleRegister is RFC 7591 §3.1: JSON metadata in, 201 with the client
// information response (§3.2.1, RFC 7592 §3) out.
func (s *Server) handleRegister(w http.ResponseWriter, r *http.Request) {
	noStore(w)
	req := s.registrationRequest(r)
	// A body that cannot be read is the domain's to answer, after it has
	// admitted the caller (clients.RegistrationRequest.Invalid).
	req.Invalid = s.decodeRegistration(w, r, &req)
	info, err := s.cfg.Registration.Register(r.Context(), req)
	if err != nil {
		s.writeRegistrationError(w, r, req, err)
		return
	}
	info.RegistrationClientURI = s.clientURI(info.ClientID)
	writeJSON(w, http.StatusCreated, info)
}

// handleClientConfiguration is RFC 7592 §2: read (GET), update (PUT) and
// delete (DELETE) with the registration access token.
func (s *Server) handleClientConfiguration(w http.ResponseWriter, r *http.Request) {
	noStore(w)
	id := mux.Vars(r)["id"]
	req := s.registrationRequest(r)
	var info clients.ClientInformation
	var err error
	switch r.Method {
	case http.MethodGet:
		info, err = s.cfg.Registration.Read(r.Context(), id, req)
	case http.MethodPut:
		req.Invalid = s.decodeRegistration(w, r, &req)
		info, err = s.cfg.Registration.Update(r.Context(), id, req)
	default: // DELETE
		if err = s.cfg.Registration.Delete(r.Context(), id, req); err == nil {
			w.WriteHeader(http.StatusNoContent) // §2.3
			return
		}
	}
	if err != nil {
		s.writeRegistrationError(w, r, req, err)
		return
	}
	info.RegistrationClientURI = s.clientURI(info.ClientID)
	writeJSON(w, http.StatusOK, info)
}

// writeRegistrationError adds the RFC 6750 §3 challenge to an invalid_token
// answer: without the error attribute when no token was sent (§3.1).
func (s *Server) writeRegistrationError(w http.ResponseWriter, r *http.Request, req clients.RegistrationRequest, err error) {
	if e := oauth.As(err); e != nil && e.Code == oauth.InvalidToken {
		challenge := `Bearer realm="authd"`
		if req.Bearer != "" {
			challenge += `, error="invalid_token"`
		}
		w.Header().Set("WWW-Authenticate", challenge)
	}
	s.writeError(w, r, err)
}
