package tokens

import (
	"errors"
	"slices"
	"sync"
	"time"

	"github.com/authd-dev/authd/oauth"
	"github.com/authd-dev/authd/store"
)

// familyCacheSize bounds the family cache: at most this many logins
// (about 300 bytes each) are remembered.
const familyCacheSize = 1 << 15

// familyCache remembers, per family ID, the part of a family that the
// checks of a refresh read and that no store operation ever changes:
// client, subject, scope, audience, auth time, creation time, session and
// DPoP binding (CreateFamily writes them; RotateRefresh changes only the
// tokens, the counters, the idle expiry and, for an unbound login, the
// binding; RevokeFamily only the revoked mark). It is filled by the
// logins this replica creates (password, device, token exchange, the code
// exchange) and by the outcome of its rotations, so the next refresh of a
// login begun or rotated here skips the family read (issue 13: a round
// trip on Redis).
//
// A cached family is never trusted for a refusal, nor for anything the
// store can change: the rotation, atomic in the store, still judges the
// presented token, reuse, the leeway, revocation and expiry against the
// family as stored; and any check that fails on a cached family is made
// again on a fresh read, which decides the answer (refresh). An entry is
// used only while its binding is settled (settledBinding), the one part a
// rotation on another replica could change.
type familyCache struct {
	mu      sync.RWMutex
	entries map[string]store.Family
	max     int
}

func newFamilyCache(max int) *familyCache {
	return &familyCache{entries: make(map[string]store.Family), max: max}
}

// get returns the cached family fid unless it expired by now.
func (c *familyCache) get(fid string, now time.Time) (store.Family, bool) {
	c.mu.RLock()
	f, ok := c.entries[fid]
	c.mu.RUnlock()
	if !ok || f.ExpiredAt(now) {
		return store.Family{}, false
	}
	return f, true
}

// put remembers the immutable part of f (and its expiry, to forget it);
// the tokens and counters are not kept: nothing may read them from here.
// When full it first drops expired entries and, if still full, an
// arbitrary half (map order), as verifiedCache does.
func (c *familyCache) put(f store.Family, now time.Time) {
	if f.ID == "" {
		return // not a family as stored
	}
	if f.Revoked || f.ExpiredAt(now) {
		c.drop(f.ID)
		return
	}
	f.Current, f.Previous, f.SealedCurrent = nil, nil, nil
	f.RotatedAt, f.Retries, f.Generation = time.Time{}, 0, 0
	f.Audience = slices.Clip(f.Audience) // an append by a reader copies
	c.mu.Lock()
	defer c.mu.Unlock()
	if _, ok := c.entries[f.ID]; !ok && len(c.entries) >= c.max {
		for id, e := range c.entries {
			if e.ExpiredAt(now) {
				delete(c.entries, id)
			}
		}
		for id := range c.entries {
			if len(c.entries) < c.max/2 {
				break
			}
			delete(c.entries, id)
		}
	}
	c.entries[f.ID] = f
}

// drop forgets fid.
func (c *familyCache) drop(fid string) {
	c.mu.Lock()
	delete(c.entries, fid)
	c.mu.Unlock()
}

// settledBinding says whether no rotation, on any replica, can still bind
// fam to a DPoP key for client c: it is bound already (a binding never
// changes), or c is confidential, whose logins a rotation never binds
// (familyBinding, RFC 9449 §5).
func settledBinding(fam store.Family, c store.Client) bool {
	return fam.JKT != "" || c.TokenEndpointAuthMethod != oauth.AuthNone
}

// errStaleFamily says a refresh begun on a cached family met a check that
// failed before anything committed: the caller makes it again on a fresh
// read of the family, which decides the answer.
var errStaleFamily = errors.New("tokens: a check failed on the cached family")
