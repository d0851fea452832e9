package server

import (
	"encoding/json"
	"net/http"
	"strconv"
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
		"response_types_supported":              []string{"code"},
		"response_modes_supported":              []string{"query"},
		"token_endpoint_auth_methods_supported": []string{"client_secret_basic", "client_secret_post", "private_key_jwt", "none"},
		"token_endpoint_auth_signing_alg_values_supported": []string{"RS256", "ES256"},
		"id_token_signing_alg_values_supported":            s.cfg.SigningAlgs,
		"subject_types_supported":                          []string{"public"},
		"code_challenge_methods_supported":                 []string{"S256"},
		"scopes_supported":                                 s.cfg.ScopesSupported,
		"claims_supported":                                 []string{"iss", "sub", "aud", "exp", "iat", "jti", "client_id", "scope", "roles", "sid", "auth_time", "nonce", "at_hash", "azp", "preferred_username", "email"},
	}
	if s.cfg.Inspector != nil {
		methods := []string{"client_secret_basic", "client_secret_post", "private_key_jwt"}
		doc["revocation_endpoint"] = iss + PathRevoke
		doc["revocation_endpoint_auth_methods_supported"] = methods
		doc["introspection_endpoint"] = iss + PathIntrospect
		doc["introspection_endpoint_auth_methods_supported"] = methods
	}
	if s.cfg.Authorizer != nil {
		doc["authorization_endpoint"] = iss + PathAuthorize
		doc["userinfo_endpoint"] = iss + PathUserInfo
		doc["authorization_response_iss_parameter_supported"] = true
	}
	if s.cfg.Feed != nil {
		doc["revocation_feed_endpoint"] = iss + PathRevocationFeed
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
