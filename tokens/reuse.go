package tokens

import (
	"context"
	"time"

	"github.com/authd-dev/authd/store"
)

// reuseDetected handles a replayed refresh token or code: the store has
// already revoked the family; here its access tokens are denylisted (their
// "sid" is the family id, so one entry covers them all until the last
// expires) and the event is reported. If the deny entry cannot be written
// the request must fail (503) rather than leave a stolen login's access
// tokens active: the family stays revoked, and the client's retry meets
// it and writes the entry (ensureDenied).
func (s *Service) reuseDetected(ctx context.Context, req *Request, fam store.Family) error {
	now := s.cfg.Now()
	denyErr := s.denySID(ctx, fam.ID, now)
	ev := SecurityEvent{Type: "refresh_token_reuse", ClientID: req.Client.ID, Subject: fam.Subject, FamilyID: fam.ID, SourceIP: req.RemoteIP, Time: now}
	s.metrics.reuse.Inc()
	s.cfg.Logger.WarnContext(ctx, "security: refresh token reuse detected; login revoked",
		"event", ev.Type, "client_id", ev.ClientID, "sub", ev.Subject, "sid", ev.FamilyID, "source_ip", ev.SourceIP)
	if s.cfg.OnSecurityEvent != nil {
		s.cfg.OnSecurityEvent(ev)
	}
	if denyErr != nil {
		s.cfg.Logger.ErrorContext(ctx, "denylist reused refresh family", "sid", fam.ID, "err", denyErr)
		return denyFailed(denyErr)
	}
	return nil
}

// RevokeSubject makes every access token of sub issued at or before at
// inactive (introspection reads the watermark). Refresh tokens of the user
// are ended by the user's NotBefore, which the users package sets.
func (s *Service) RevokeSubject(ctx context.Context, sub string, at time.Time) error {
	return s.cfg.Deny.Deny(ctx, store.Denial{Kind: store.DenySubject, Value: sub, At: at, ExpiresAt: at.Add(s.cfg.AccessTokenTTL + time.Minute)})
}

// RevokeClient makes every access token of a client issued at or before at
// inactive; its refresh tokens end because they predate the client.
func (s *Service) RevokeClient(ctx context.Context, clientID string, at time.Time) error {
	return s.cfg.Deny.Deny(ctx, store.Denial{Kind: store.DenyClient, Value: clientID, At: at, ExpiresAt: at.Add(s.cfg.AccessTokenTTL + time.Minute)})
}

// denySID makes every access token of a login inactive until the last of
// them has expired.
func (s *Service) denySID(ctx context.Context, fid string, now time.Time) error {
	return s.cfg.Deny.Deny(ctx, store.Denial{Kind: store.DenySID, Value: fid, At: now, ExpiresAt: now.Add(s.cfg.AccessTokenTTL + time.Minute)})
}
