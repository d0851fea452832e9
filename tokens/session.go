package tokens

import (
	"context"
	"fmt"
)

// EndLogins revokes the refresh-token families fids (the logins begun in
// an SSO session) and puts their access tokens on the denylist. A family
// already gone is ended. It stops at the first store failure, so a retry
// finishes the job.
func (s *Service) EndLogins(ctx context.Context, fids []string) error {
	for _, fid := range fids {
		if err := s.revokeFamily(ctx, fid); err != nil {
			return storeError(fmt.Errorf("end login: %w", err), "revoke family")
		}
	}
	return nil
}
