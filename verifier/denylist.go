package verifier

import (
	"sync"
	"time"
)

// Kinds of revocation-feed entries.
const (
	kindJTI    = "jti"
	kindSID    = "sid"
	kindSub    = "sub"
	kindClient = "client"
)

// feedEntry is one denylist entry on the wire: {"kind","value","at","exp"}
// with at and exp in seconds since the epoch.
type feedEntry struct {
	Kind  string `json:"kind"`
	Value string `json:"value"`
	At    int64  `json:"at"`
	Exp   int64  `json:"exp"`
}

// span is the part of an entry that matters once it is filed by kind and
// value.
type span struct{ at, exp int64 }

// denylist is the local copy of the issuer's denylist.
type denylist struct {
	mu         sync.RWMutex
	byKind     map[string]map[string][]span
	lastPruned time.Time
}

func newDenylist() *denylist {
	return &denylist{byKind: emptyKinds()}
}

func emptyKinds() map[string]map[string][]span {
	return map[string]map[string][]span{
		kindJTI: {}, kindSID: {}, kindSub: {}, kindClient: {},
	}
}

// known reports whether the verifier understands an entry's kind; others
// are ignored, so the issuer may add kinds.
func known(kind string) bool {
	switch kind {
	case kindJTI, kindSID, kindSub, kindClient:
		return true
	}
	return false
}

// replace installs a snapshot: every live entry, replacing what was there.
func (d *denylist) replace(entries []feedEntry, now time.Time) {
	m := emptyKinds()
	for _, e := range entries {
		addTo(m, e, now.Unix())
	}
	d.mu.Lock()
	d.byKind = m
	d.lastPruned = now
	d.mu.Unlock()
}

// add applies one entry; applying one twice does no harm. Expired entries
// are pruned at most once a minute.
func (d *denylist) add(e feedEntry, now time.Time) {
	d.mu.Lock()
	defer d.mu.Unlock()
	addTo(d.byKind, e, now.Unix())
	if now.Sub(d.lastPruned) >= time.Minute {
		d.prune(now.Unix())
		d.lastPruned = now
	}
}

func addTo(m map[string]map[string][]span, e feedEntry, now int64) {
	byValue, ok := m[e.Kind]
	if !ok || e.Exp < now {
		return
	}
	sp := span{at: e.At, exp: e.Exp}
	for _, have := range byValue[e.Value] {
		if have == sp {
			return
		}
	}
	byValue[e.Value] = append(byValue[e.Value], sp)
}

// prune drops entries after their exp, when every token they cover has
// expired. The caller holds d.mu.
func (d *denylist) prune(now int64) {
	for _, byValue := range d.byKind {
		for v, spans := range byValue {
			live := spans[:0]
			for _, sp := range spans {
				if sp.exp >= now {
					live = append(live, sp)
				}
			}
			if len(live) == 0 {
				delete(byValue, v)
			} else {
				byValue[v] = live
			}
		}
	}
}

// revoked applies the coverage rules of the feed: an entry for the token's
// jti or sid covers it; an entry for its sub or client_id covers it if the
// entry's "at" is not before the token's "iat". Entries past their exp
// cover nothing.
func (d *denylist) revoked(c *Claims, now time.Time) (kind string, ok bool) {
	n := now.Unix()
	iat := c.IssuedAt.Unix()
	d.mu.RLock()
	defer d.mu.RUnlock()
	check := func(kind, value string, needAt bool) bool {
		if value == "" {
			return false
		}
		for _, sp := range d.byKind[kind][value] {
			if sp.exp >= n && (!needAt || sp.at >= iat) {
				return true
			}
		}
		return false
	}
	switch {
	case check(kindJTI, c.ID, false):
		return kindJTI, true
	case check(kindSID, c.SID, false):
		return kindSID, true
	case check(kindSub, c.Subject, true):
		return kindSub, true
	case check(kindClient, c.ClientID, true):
		return kindClient, true
	}
	return "", false
}
