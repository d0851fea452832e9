package store

import (
	"context"
	"slices"
	"strings"
	"time"
)

// Consent is what a user allowed a client: the scopes granted on the
// consent page, remembered so that a later authorization asking for no
// more is not shown the page again (OIDC Core §3.1.2.4).
type Consent struct {
	UserID   string `json:"user_id"`
	ClientID string `json:"client_id"`
	// Scope is the space-separated set of granted scopes, sorted and
	// without duplicates (ConsentScope).
	Scope string `json:"scope"`
	// GrantedAt is when the user last allowed the client something.
	GrantedAt time.Time `json:"granted_at"`
}

// Covers reports whether every scope of requested (space-separated) was
// granted.
func (c Consent) Covers(requested string) bool {
	granted := strings.Fields(c.Scope)
	for _, s := range strings.Fields(requested) {
		if !slices.Contains(granted, s) {
			return false
		}
	}
	return true
}

// ConsentScope is the canonical form of a set of scopes: sorted, without
// duplicates, space-separated.
func ConsentScope(scopes ...string) string {
	var all []string
	for _, s := range scopes {
		all = append(all, strings.Fields(s)...)
	}
	slices.Sort(all)
	return strings.Join(slices.Compact(all), " ")
}

// ConsentStore keeps remembered consent, one record per user and client,
// and an index of the refresh-token families each user began with each
// client, so that withdrawing a consent can end them without a scan.
//
// Every backend maintains the family index in CreateFamily (under
// Family.Subject and Family.ClientID, until Family.ExpiresAt), whether or
// not a consent record exists: a client that skips consent has families
// too.
type ConsentStore interface {
	// GetConsent returns the user's consent for the client; ErrNotFound if
	// none was given.
	GetConsent(ctx context.Context, userID, clientID string) (Consent, error)
	// GrantConsent atomically adds scope (space-separated) to the user's
	// consent for the client, creating it if needed: the stored scope is
	// the union of the old and the new, GrantedAt becomes at. A stored
	// consent granted before since is replaced, not merged: callers pass
	// the client's IssuedAt, so a client deleted and registered again
	// under the same ID never inherits what the user allowed the old one.
	// It returns the stored record.
	GrantConsent(ctx context.Context, userID, clientID, scope string, at, since time.Time) (Consent, error)
	// ListConsents returns the user's consents ordered by client ID (an
	// empty slice when there are none).
	ListConsents(ctx context.Context, userID string) ([]Consent, error)
	// UserFamilies returns the IDs of the families the family index holds
	// for the user and client and that have not reached their ExpiresAt
	// (some may have been revoked since).
	UserFamilies(ctx context.Context, userID, clientID string) ([]string, error)
	// DeleteConsent atomically removes the user's consent for the client
	// and the family index of the pair, and returns the IDs of the
	// families that index named (some may have expired or been revoked
	// since). ErrNotFound when there was neither a consent nor a family.
	DeleteConsent(ctx context.Context, userID, clientID string) (families []string, err error)
}
