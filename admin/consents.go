package admin

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/authd-dev/authd/oauth"
	"github.com/authd-dev/authd/store"
)

// Consents keeps users' remembered consent and the index of the
// refresh-token families each user began with each client (the store's
// ConsentStore).
type Consents interface {
	ListConsents(ctx context.Context, userID string) ([]store.Consent, error)
	UserFamilies(ctx context.Context, userID, clientID string) ([]string, error)
	DeleteConsent(ctx context.Context, userID, clientID string) ([]string, error)
}

// FamilyEnder ends logins: each family is revoked and its access tokens
// denylisted (the tokens service).
type FamilyEnder interface {
	EndFamilies(ctx context.Context, ids []string) error
}

// ConsentView is a consent as the admin API shows it.
type ConsentView struct {
	ClientID  string    `json:"client_id"`
	Scope     string    `json:"scope"`
	GrantedAt time.Time `json:"granted_at"`
}

// ListConsents returns what the user allowed which clients, ordered by
// client (an empty list, never nil). An unknown user is 404.
func (s *Service) ListConsents(ctx context.Context, userID string) ([]ConsentView, error) {
	if _, err := s.cfg.Users.Get(ctx, userID); err != nil {
		return nil, err
	}
	list, err := s.cfg.Consents.ListConsents(ctx, userID)
	if err != nil {
		return nil, fmt.Errorf("admin: list consents: %w", err)
	}
	out := make([]ConsentView, 0, len(list))
	for _, c := range list {
		out = append(out, ConsentView{ClientID: c.ClientID, Scope: c.Scope, GrantedAt: c.GrantedAt})
	}
	return out, nil
}

// DeleteConsent withdraws the user's consent for the client and ends the
// refresh-token families (and so the access tokens) the user began with
// that client: the next authorization asks again, and nothing issued
// under the old consent keeps working.
//
// The families are ended first, then the consent and the index are
// deleted, and the families the deletion returns are ended again (one
// begun in between is caught too). A failure before the deletion leaves
// the consent in place, so the operator's retry does the whole job again.
// Neither a consent nor a family for the pair is 404.
func (s *Service) DeleteConsent(ctx context.Context, userID, clientID string) error {
	fams, err := s.cfg.Consents.UserFamilies(ctx, userID, clientID)
	if err != nil {
		return fmt.Errorf("admin: read the families of user %q with client %q: %w", userID, clientID, err)
	}
	if err := s.cfg.Families.EndFamilies(ctx, fams); err != nil {
		return fmt.Errorf("admin: end the families of user %q with client %q: %w", userID, clientID, err)
	}
	more, err := s.cfg.Consents.DeleteConsent(ctx, userID, clientID)
	if errors.Is(err, store.ErrNotFound) {
		return oauth.New(oauth.NotFound, "the user has no consent for this client").WithCause(err)
	} else if err != nil {
		return fmt.Errorf("admin: delete consent: %w", err)
	}
	if err := s.cfg.Families.EndFamilies(ctx, more); err != nil {
		return fmt.Errorf("admin: end the families of user %q with client %q: %w", userID, clientID, err)
	}
	return nil
}

// forgetConsents deletes every consent of a user who is being deleted
// (the user's logins end with the user, by its revocation).
func (s *Service) forgetConsents(ctx context.Context, userID string) error {
	list, err := s.cfg.Consents.ListConsents(ctx, userID)
	if err != nil {
		return fmt.Errorf("admin: list consents of user %q: %w", userID, err)
	}
	for _, c := range list {
		if _, err := s.cfg.Consents.DeleteConsent(ctx, userID, c.ClientID); err != nil && !errors.Is(err, store.ErrNotFound) {
			return fmt.Errorf("admin: delete consent of user %q for %q: %w", userID, c.ClientID, err)
		}
	}
	return nil
}
