package tokens

import (
	"encoding/json"
	"strings"
)

// LogoutHint is what an id_token_hint sent to the end_session endpoint
// says: who was signed in, in which session, at which clients.
type LogoutHint struct {
	Subject   string
	SessionID string
	Audience  []string
}

// LogoutHint checks an id_token_hint of OIDC RP-Initiated Logout 1.0 §2:
// an ID token authd issued (signature against the published keys, iss this
// issuer, a subject and an audience); its expiry is ignored, since the RP
// may log out after the ID token expired. The client is the caller's to
// match against the audience.
func (s *Service) LogoutHint(token string) (LogoutHint, error) {
	if s.cfg.Verifier == nil || len(token) > 16384 {
		return LogoutHint{}, ErrBadIDTokenHint
	}
	payload, _, typ, err := s.cfg.Verifier.Verify(token)
	if err != nil || !strings.EqualFold(typ, TypeIDToken) { // not an access or logout token (at+jwt, logout+jwt)
		return LogoutHint{}, ErrBadIDTokenHint
	}
	var c IDClaims
	if err := json.Unmarshal(payload, &c); err != nil || c.Subject == "" || c.Issuer != s.cfg.Issuer || len(c.Audience) == 0 {
		return LogoutHint{}, ErrBadIDTokenHint
	}
	return LogoutHint{Subject: c.Subject, SessionID: c.SID, Audience: []string(c.Audience)}, nil
}
