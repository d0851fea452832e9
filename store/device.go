package store

import (
	"context"
	"time"
)

// Device authorization records (RFC 8628 §3.1–§3.5).
//
// One record per device authorization request, keyed by the digest of
// the device_code (the code itself is never stored) and reachable by its
// normalised user_code through a unique index. The record is kept until
// ExpiresAt plus DeviceAuthRetention, so that a poll after the code's end
// still finds it and answers expired_token (§3.5) rather than
// invalid_grant; both backends then delete it by TTL.

// DeviceAuthRetention is how long a device authorization record outlives
// its ExpiresAt.
const DeviceAuthRetention = 5 * time.Minute

// DeviceSlowDownStep is how much the polling interval grows on each
// slow_down (RFC 8628 §3.5: "the interval MUST be increased by 5 seconds
// for this and all subsequent requests").
const DeviceSlowDownStep = 5 * time.Second

// DeviceState is where a device authorization stands.
type DeviceState string

// States of a device authorization: pending until the user decides, then
// approved or denied, once.
const (
	DevicePending  DeviceState = "pending"
	DeviceApproved DeviceState = "approved"
	DeviceDenied   DeviceState = "denied"
)

// DeviceAuth is one device authorization request.
type DeviceAuth struct {
	// DeviceDigest is the digest of the device_code (the key).
	DeviceDigest string `json:"device_digest"`
	// UserCode is the normalised user_code (the unique index).
	UserCode string `json:"user_code"`
	ClientID string `json:"client_id"`
	Scope    string `json:"scope,omitempty"`
	// Audience is the checked audience of the request, if it named one.
	Audience  []string    `json:"audience,omitempty"`
	State     DeviceState `json:"state"`
	CreatedAt time.Time   `json:"created_at"`
	// ExpiresAt ends the device_code and the user_code (expires_in).
	ExpiresAt time.Time `json:"expires_at"`
	// Interval is the current minimum polling interval; LastPollAt the
	// time of the last poll (zero: none yet).
	Interval   time.Duration `json:"interval"`
	LastPollAt time.Time     `json:"last_poll_at,omitzero"`

	// Set once the user approved: who, when they authenticated, in which
	// SSO session (sid) and how (RFC 8176 amr), and the refresh-token
	// family the tokens will begin.
	Subject   string    `json:"subject,omitempty"`
	AuthTime  time.Time `json:"auth_time,omitzero"`
	SessionID string    `json:"session_id,omitempty"`
	FamilyID  string    `json:"family_id,omitempty"`
	AMR       []string  `json:"amr,omitempty"`
}

// DeviceDecision is the user's answer on the verification page.
type DeviceDecision struct {
	Approve bool
	// Now judges the record's expiry.
	Now       time.Time
	Subject   string
	AuthTime  time.Time
	SessionID string
	FamilyID  string
	AMR       []string
}

// DevicePoll is one token request of the device flow (RFC 8628 §3.4).
type DevicePoll struct {
	DeviceDigest string
	// ClientID must be the record's client; another client's poll finds
	// nothing and changes nothing.
	ClientID string
	Now      time.Time
}

// DevicePollResult is what a poll found, after it was applied.
type DevicePollResult struct {
	// Auth is the record as the poll left it (for an approved one, as it
	// was when it was consumed).
	Auth DeviceAuth
	// SlowDown: the poll came sooner than Interval after the previous one;
	// Auth.Interval has grown by DeviceSlowDownStep.
	SlowDown bool
	// Expired: Now is at or after Auth.ExpiresAt; nothing was changed.
	Expired bool
}

// DeviceAuthStore keeps device authorizations. Every method is atomic.
type DeviceAuthStore interface {
	// CreateDeviceAuth stores a new pending record. ErrExists when the
	// user code (or the digest) is taken by a live record: the caller
	// draws another code.
	CreateDeviceAuth(ctx context.Context, a DeviceAuth) error
	// GetDeviceAuthByUserCode returns the record of a normalised user
	// code; ErrNotFound when there is none or it has been purged.
	GetDeviceAuthByUserCode(ctx context.Context, userCode string) (DeviceAuth, error)
	// DecideDeviceAuth moves a pending, unexpired record to approved (with
	// the decision's user, session and family) or denied, once:
	// ErrNotFound when there is no live record, ErrConflict when it was
	// decided already.
	DecideDeviceAuth(ctx context.Context, userCode string, d DeviceDecision) (DeviceAuth, error)
	// PollDeviceAuth applies one poll in one round trip: an expired
	// record is reported (Expired) and left alone; a poll sooner than the
	// interval is SlowDown and grows the interval (RFC 8628 §3.5); every
	// other poll records LastPollAt; an approved record is consumed
	// (deleted with its user-code index), so its tokens are issued once.
	// ErrNotFound when there is no record of that digest and client.
	PollDeviceAuth(ctx context.Context, p DevicePoll) (DevicePollResult, error)
}

// ApplyPoll is the poll step both backends implement on a record read at
// p.Now; consume reports that the record must be deleted.
func (a DeviceAuth) ApplyPoll(now time.Time) (res DevicePollResult, consume bool) {
	if !now.Before(a.ExpiresAt) {
		return DevicePollResult{Auth: a, Expired: true}, false
	}
	if !a.LastPollAt.IsZero() && now.Sub(a.LastPollAt) < a.Interval {
		res.SlowDown = true
		a.Interval += DeviceSlowDownStep
	}
	a.LastPollAt = now
	res.Auth = a
	return res, a.State == DeviceApproved
}

// PurgeAt is when a backend deletes the record.
func (a DeviceAuth) PurgeAt() time.Time { return a.ExpiresAt.Add(DeviceAuthRetention) }

// Decide is the decision step both backends implement on a pending
// record.
func (a DeviceAuth) Decide(d DeviceDecision) DeviceAuth {
	if !d.Approve {
		a.State = DeviceDenied
		return a
	}
	a.State = DeviceApproved
	a.Subject, a.AuthTime, a.SessionID, a.FamilyID = d.Subject, d.AuthTime, d.SessionID, d.FamilyID
	a.AMR = append([]string(nil), d.AMR...)
	return a
}
