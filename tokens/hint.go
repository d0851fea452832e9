package tokens

import (
	"encoding/json"
	"errors"
	"strings"
)

// ErrBadIDTokenHint: an id_token_hint that authd did not issue to the
// client (bad signature, another issuer, an audience without the client).
var ErrBadIDTokenHint = errors.New("tokens: id_token_hint is not an ID token authd issued to this client")

// IDTokenHint checks an id_token_hint (OIDC Core §3.1.2.1): an ID token
// signed with one of authd's published keys, issued by this issuer, whose
// aud includes clientID. Its expiry is ignored (the hint names a past
// login). It returns the token's subject.
func (s *Service) IDTokenHint(clientID, token string) (string, error) {
	if s.cfg.Verifier == nil || len(token) > 16384 {
		return "", ErrBadIDTokenHint
	}
	payload, _, typ, err := s.cfg.Verifier.Verify(token)
	if err != nil || !strings.EqualFold(typ, TypeIDToken) { // not an access or logout token (at+jwt, logout+jwt)
		return "", ErrBadIDTokenHint
	}
	var c IDClaims
	if err := json.Unmarshal(payload, &c); err != nil || c.Subject == "" || c.Issuer != s.cfg.Issuer || !contains([]string(c.Audience), clientID) {
		return "", ErrBadIDTokenHint
	}
	return c.Subject, nil
}
