package tokens

import (
	"context"
	"fmt"
)

// EndFamilies ends logins: each family is marked revoked (its refresh
// token stops working, RFC 6749 §10.4) and its access tokens are
// denylisted by sid (RFC 7009 §2.1: revoking a grant may end its access
// tokens). A family already gone is ended. It stops at the first failure;
// calling it again repeats the whole job.
func (s *Service) EndFamilies(ctx context.Context, ids []string) error {
	for _, id := range ids {
		s.families.drop(id)
		if err := s.revokeFamily(ctx, id); err != nil {
			return fmt.Errorf("tokens: end family: %w", err)
		}
	}
	return nil
}
