package keys

import (
	"fmt"
	"slices"
	"time"

	"github.com/authd-dev/authd/store"
)

// Reasons a key starts signing: the reason label of
// authd_key_rotations_total.
const (
	reasonInitial   = "initial"   // the alg had no active key
	reasonScheduled = "scheduled" // a next key reached its ActivatesAt
	reasonManual    = "manual"    // Rotate
	reasonDeleted   = "deleted"   // the active key was deleted
)

// Kinds of lifecycle events.
const (
	evGenerated = "generated" // a new key joined the set
	evActivated = "activated"
	evRetired   = "retired"
	evRemoved   = "removed" // a retired key expired
	evDeleted   = "deleted"
	evResealed  = "resealed"
)

// event is one change a plan made, for logs and metrics once stored.
type event struct {
	kind, kid, alg, reason string
	at                     time.Time // ActivatesAt of a published key, ExpiresAt of a retired one
}

// timing is the part of Config the lifecycle needs.
type timing struct {
	rotationPeriod, publishAhead, retireAfter time.Duration
}

// plan computes the next key set from a stored one: an optional admin
// operation, then every transition due at now. It is pure apart from gen,
// which creates a sealed key. The manager stores the result by CAS.
type plan struct {
	now  time.Time
	t    timing
	keys []store.Key
	gen  func(alg string) (store.Key, error)
	// missingReason is the reason recorded when an alg has no active key.
	missingReason string
	events        []event
}

func newPlan(keys []store.Key, now time.Time, t timing, gen func(string) (store.Key, error)) *plan {
	return &plan{now: now, t: t, keys: slices.Clone(keys), gen: gen, missingReason: reasonInitial}
}

// changed reports whether the plan differs from the set it started from.
func (p *plan) changed() bool { return len(p.events) > 0 }

func (p *plan) record(kind string, k store.Key, reason string, at time.Time) {
	p.events = append(p.events, event{kind: kind, kid: k.ID, alg: k.Alg, reason: reason, at: at})
}

// rotate makes the earliest next key of alg active at once, generating one
// if there is none; the active key retires. It returns the new active kid.
func (p *plan) rotate(alg string) (string, error) {
	if !supported(alg) {
		return "", fmt.Errorf("%w: %q", ErrUnsupportedAlg, alg)
	}
	i := p.earliestNext(alg)
	if i < 0 {
		var err error
		if i, err = p.add(alg, store.KeyNext, p.now); err != nil {
			return "", err
		}
	}
	p.activate(i, reasonManual)
	return p.keys[i].ID, nil
}

// remove deletes kid from the set; if it was active, the next transition
// step gives its alg a new active key.
func (p *plan) remove(kid string) error {
	i := slices.IndexFunc(p.keys, func(k store.Key) bool { return k.ID == kid })
	if i < 0 {
		return fmt.Errorf("%w: %q", ErrKeyNotFound, kid)
	}
	if p.keys[i].State == store.KeyActive {
		p.missingReason = reasonDeleted
	}
	p.record(evDeleted, p.keys[i], "", time.Time{})
	p.keys = slices.Delete(p.keys, i, i+1)
	return nil
}

// advance applies every transition due at now, for each alg:
//   - a retired key past ExpiresAt leaves the set;
//   - with no active key, the earliest next key activates, or a new key is
//     generated and activated;
//   - a next key past ActivatesAt activates, and the active key retires
//     (ExpiresAt = now + RetireAfter);
//   - whenever an alg has no next key, one is generated at once to
//     activate at max(ActivatedAt + RotationPeriod, now + PublishAhead):
//     it is published at least PublishAhead before it signs, and an
//     on-demand rotation (a compromised key) promotes a key that verifiers
//     already cache instead of one they have never seen.
func (p *plan) advance() error {
	p.keys = slices.DeleteFunc(p.keys, func(k store.Key) bool {
		if supported(k.Alg) && k.State == store.KeyRetired && !p.now.Before(k.ExpiresAt) {
			p.record(evRemoved, k, "", time.Time{})
			return true
		}
		return false
	})
	for _, alg := range supportedAlgs() {
		if err := p.advanceAlg(alg); err != nil {
			return err
		}
	}
	return nil
}

func (p *plan) advanceAlg(alg string) error {
	active, next := p.activeIndex(alg), p.earliestNext(alg)
	switch {
	case active < 0 && next >= 0:
		p.activate(next, p.missingReason)
	case active < 0:
		i, err := p.add(alg, store.KeyNext, p.now)
		if err != nil {
			return err
		}
		p.activate(i, p.missingReason)
	case next >= 0 && !p.now.Before(p.keys[next].ActivatesAt):
		p.activate(next, reasonScheduled)
	}
	if p.earliestNext(alg) >= 0 {
		return nil
	}
	a := p.keys[p.activeIndex(alg)]
	at := a.ActivatedAt.Add(p.t.rotationPeriod)
	if soonest := p.now.Add(p.t.publishAhead); at.Before(soonest) {
		at = soonest
	}
	_, err := p.add(alg, store.KeyNext, at)
	return err
}

// add generates a key of alg in state and appends it; activatesAt is set
// for next keys. It returns the index of the new key.
func (p *plan) add(alg, state string, activatesAt time.Time) (int, error) {
	k, err := p.gen(alg)
	if err != nil {
		return -1, err
	}
	k.State, k.CreatedAt, k.ActivatesAt = state, p.now, activatesAt
	p.keys = append(p.keys, k)
	p.record(evGenerated, k, "", activatesAt)
	return len(p.keys) - 1, nil
}

// activate makes key i the active key of its alg and retires any other.
func (p *plan) activate(i int, reason string) {
	alg := p.keys[i].Alg
	for j := range p.keys {
		if j != i && p.keys[j].Alg == alg && p.keys[j].State == store.KeyActive {
			p.retire(j)
		}
	}
	k := &p.keys[i]
	k.State, k.ActivatedAt, k.ActivatesAt = store.KeyActive, p.now, time.Time{}
	p.record(evActivated, *k, reason, time.Time{})
}

func (p *plan) retire(i int) {
	k := &p.keys[i]
	k.State, k.RetiredAt, k.ExpiresAt = store.KeyRetired, p.now, p.now.Add(p.t.retireAfter)
	p.record(evRetired, *k, "", k.ExpiresAt)
}

// activeIndex returns the index of the active key of alg, or -1. Should a
// set ever hold several, the most recently activated wins and the others
// retire.
func (p *plan) activeIndex(alg string) int {
	best := -1
	for i, k := range p.keys {
		if k.Alg != alg || k.State != store.KeyActive {
			continue
		}
		if best < 0 || k.ActivatedAt.After(p.keys[best].ActivatedAt) {
			best = i
		}
	}
	if best >= 0 {
		for i, k := range p.keys {
			if i != best && k.Alg == alg && k.State == store.KeyActive {
				p.retire(i)
			}
		}
	}
	return best
}

// earliestNext returns the index of the next key of alg that activates
// first, or -1.
func (p *plan) earliestNext(alg string) int {
	best := -1
	for i, k := range p.keys {
		if k.Alg == alg && k.State == store.KeyNext && (best < 0 || k.ActivatesAt.Before(p.keys[best].ActivatesAt)) {
			best = i
		}
	}
	return best
}
