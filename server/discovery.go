package server

import (
	"encoding/json"
	"net/http"
	"strconv"

	"github.com/authd-dev/authd/keys"
	"github.com/authd-dev/authd/oauth"
)

// discoveryDocument builds the metadata of OIDC Discovery 1.0 §3 and RFC
// 8414 §2 once; it lists only what exists.
func (s *Server) discoveryDocument() ([]byte, error) {
	iss := s.cfg.Issuer
	doc := map[string]any{
		"issuer":                                iss,
		"jwks_uri":                              iss + PathJWKS,
		"token_endpoint":                        iss + PathToken,
		"grant_types_supported":                 s.cfg.Tokens.GrantTypes(),
		"response_types_supported":              []string{oauth.ResponseTypeCode},
		"response_modes_supported":              oauth.ResponseModes(),
		"token_endpoint_auth_methods_supported": oauth.AuthMethods(),
		"token_endpoint_auth_signing_alg_values_supported": oauth.AssertionAlgs(),
		"id_token_signing_alg_values_supported":            keys.Algorithms(),
		"subject_types_supported":                          []string{"public"},
		"code_challenge_methods_supported":                 []string{oauth.PKCEMethodS256},
		"scopes_supported":                                 s.cfg.ScopesSupported,
		"claims_supported":                                 oauth.Claims(),
		"acr_values_supported":                             oauth.ACRValues(),
	}
	if s.cfg.Inspector != nil {
		methods := oauth.ConfidentialAuthMethods()
		doc["revocation_endpoint"] = iss + PathRevoke
		doc["revocation_endpoint_auth_methods_supported"] = methods
		doc["introspection_endpoint"] = iss + PathIntrospect
		doc["introspection_endpoint_auth_methods_supported"] = methods
	}
	if s.cfg.Flow != nil {
		doc["authorization_endpoint"] = iss + PathAuthorize
		doc["userinfo_endpoint"] = iss + PathUserInfo
		doc["authorization_response_iss_parameter_supported"] = true
		if s.cfg.Logout != nil {
			// RP-Initiated Logout 1.0 §2.1, Back-Channel Logout 1.0 §2.1.
			doc["end_session_endpoint"] = iss + PathEndSession
			doc["backchannel_logout_supported"] = true
			doc["backchannel_logout_session_supported"] = true
			// Front-Channel Logout 1.0 §3: iframes on the signed-out page,
			// with iss and sid when the client asks (server/logout.go).
			doc["frontchannel_logout_supported"] = true
			doc["frontchannel_logout_session_supported"] = true
		}
		// OIDC Discovery §3: stated explicitly (the default of
		// request_uri_parameter_supported is true); OIDC Core §6.
		doc["request_parameter_supported"] = false
		doc["request_uri_parameter_supported"] = false
		doc["claims_parameter_supported"] = true // OIDC Core §5.5
		// RFC 9126 §5. request_uri_parameter_supported stays false: it
		// names OIDC Core §6.2's fetched request objects, not PAR's URNs.
		if s.cfg.PAR != nil {
			doc["pushed_authorization_request_endpoint"] = iss + PathPAR
			doc["require_pushed_authorization_requests"] = s.cfg.RequirePAR
		}
	}
	if s.cfg.Registration != nil {
		doc["registration_endpoint"] = iss + PathRegister // RFC 8414 §2, RFC 7591 §3
	}
	if s.cfg.Devices != nil {
		doc["device_authorization_endpoint"] = iss + PathDeviceAuthorization // RFC 8628 §4
	}
	if s.cfg.Feed != nil {
		doc["revocation_feed_endpoint"] = iss + PathRevocationFeed
	}
	if len(s.cfg.DPoPAlgorithms) > 0 {
		doc["dpop_signing_alg_values_supported"] = s.cfg.DPoPAlgorithms // RFC 9449 §5.1
	}
	if len(s.cfg.ScopesSupported) == 0 {
		delete(doc, "scopes_supported")
	}
	return json.Marshal(doc)
}

func (s *Server) handleDiscovery(w http.ResponseWriter, r *http.Request) {
	h := w.Header()
	h.Set("Content-Type", "application/json")
	h.Set("Cache-Control", "public, max-age=3600")
	h.Set("Content-Length", strconv.Itoa(len(s.discovery)))
	w.Write(s.discovery)
}
