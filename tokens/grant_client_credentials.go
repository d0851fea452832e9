package tokens

import (
	"context"
)

// clientCredentials is RFC 6749 §4.4: the client acts on its own behalf,
// so the token's subject is the client. No refresh token is issued
// (§4.4.3).
func (s *Service) clientCredentials(ctx context.Context, req *Request, scope string, audience []string) (*Response, error) {
	now := s.cfg.Now()
	at, err := s.mintAccess(ctx, req.Client, now, AccessClaims{
		Subject:  req.Client.ID,
		Audience: s.audienceFor(req.Client, audience),
		Scope:    scope,
	})
	if err != nil {
		return nil, err
	}
	return s.bearer(at, scope), nil
}
