package store

import "time"

// LiveUntil is the instant the family's record ends, the one expiry rule
// both backends apply: the earlier of IdleExpiresAt (the current refresh
// token unused for too long) and ExpiresAt (the login's absolute end). A
// zero field sets no bound of its own; both zero means no end (the zero
// time). A revoked family lives until then too, so that a replay of its
// tokens is still recognised as reuse.
func (f Family) LiveUntil() time.Time {
	switch {
	case f.IdleExpiresAt.IsZero():
		return f.ExpiresAt
	case f.ExpiresAt.IsZero() || f.IdleExpiresAt.Before(f.ExpiresAt):
		return f.IdleExpiresAt
	default:
		return f.ExpiresAt
	}
}

// ExpiredAt reports whether the family is gone at now: LiveUntil is set
// and not after now (a record ending at now has ended).
func (f Family) ExpiredAt(now time.Time) bool {
	end := f.LiveUntil()
	return !end.IsZero() && !now.Before(end)
}
