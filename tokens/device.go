package tokens

import (
	"context"
	"crypto/rand"
	"errors"
	"math/big"
	"strings"
	"time"

	"github.com/authd-dev/authd/oauth"
	"github.com/authd-dev/authd/store"
)

// The device authorization grant (RFC 8628): the device asks for codes
// here (§3.1, §3.2), the user enters the user code on the verification
// page (package authorize), and the device polls the token endpoint
// (grant_device_code.go, §3.4, §3.5).

// Devices is the part of the store that keeps device authorizations.
type Devices interface {
	CreateDeviceAuth(ctx context.Context, a store.DeviceAuth) error
	GetDeviceAuthByUserCode(ctx context.Context, userCode string) (store.DeviceAuth, error)
	DecideDeviceAuth(ctx context.Context, userCode string, d store.DeviceDecision) (store.DeviceAuth, error)
	PollDeviceAuth(ctx context.Context, p store.DevicePoll) (store.DevicePollResult, error)
}

// UserCodeAlphabet is the user code's alphabet: the consonants of RFC
// 8628 §6.1's example, without vowels (no words) and without letters that
// look like digits. Eight of them carry 20^8 ≈ 2^34.6 values (§5.1: with
// the throttle of the verification page, enough for the code's lifetime).
const UserCodeAlphabet = "BCDFGHJKLMNPQRSTVWXZ"

// UserCodeLen is the number of characters of a user code, shown as two
// groups of four ("XXXX-XXXX").
const UserCodeLen = 8

// deviceCodeBytes is the entropy of a device_code: 256 bits (RFC 8628
// §5.2 asks for enough that it cannot be guessed).
const deviceCodeBytes = 32

// userCodeAttempts bounds the draws of a user code that collides with a
// live one.
const userCodeAttempts = 5

// DeviceGrant is what the device authorization endpoint answers (RFC 8628
// §3.2); the HTTP layer adds the verification URIs it serves.
type DeviceGrant struct {
	DeviceCode string
	// UserCode is formatted for display ("XXXX-XXXX").
	UserCode  string
	ExpiresIn int64 // seconds
	Interval  int64 // seconds
}

// NormalizeUserCode is the comparison form of a user code (RFC 8628
// §6.1: case-insensitive, punctuation ignored): upper case, without dashes
// and spaces. It returns "" for anything that cannot be a user code, so
// that the store is never asked about it.
func NormalizeUserCode(in string) string {
	if len(in) > 32 {
		return ""
	}
	var b strings.Builder
	for _, r := range strings.ToUpper(in) {
		switch {
		case r == '-' || r == ' ':
		case strings.ContainsRune(UserCodeAlphabet, r):
			b.WriteRune(r)
		default:
			return ""
		}
	}
	if b.Len() != UserCodeLen {
		return ""
	}
	return b.String()
}

// FormatUserCode shows a normalised user code as "XXXX-XXXX".
func FormatUserCode(code string) string {
	if len(code) != UserCodeLen {
		return code
	}
	return code[:4] + "-" + code[4:]
}

func newUserCode() string {
	b := make([]byte, UserCodeLen)
	n := big.NewInt(int64(len(UserCodeAlphabet)))
	for i := range b {
		v, _ := rand.Int(rand.Reader, n) // uniform; crypto/rand does not fail
		b[i] = UserCodeAlphabet[v.Int64()]
	}
	return string(b)
}

// deviceDigest is the store key of a device_code.
func deviceDigest(code string) string { return b64.EncodeToString(digest(code)) }

// DeviceAuthorize is the device authorization request (RFC 8628 §3.1) of
// an authenticated client: the client must be allowed the device grant
// (unauthorized_client) and the scope and audience are checked as at the
// token endpoint. The request is throttled per client (and per address
// for a public client) after those checks, before the record is written
// (DeviceThrottle).
func (s *Service) DeviceAuthorize(ctx context.Context, req *Request) (*DeviceGrant, error) {
	if s.cfg.Devices == nil {
		return nil, oauth.New(oauth.UnsupportedGrantType, "the device authorization grant is not enabled")
	}
	if !contains(req.Client.GrantTypes, GrantDeviceCode) {
		return nil, oauth.New(oauth.UnauthorizedClient, "the client is not allowed the device authorization grant")
	}
	if err := singleValued(req.Form, "scope"); err != nil {
		return nil, err
	}
	scope, err := checkScope(req.Form.Get("scope"), req.Client.Scope)
	if err != nil {
		return nil, err
	}
	audience, err := checkAudience(req.Form, req.Client.Audience)
	if err != nil {
		return nil, err
	}
	now := s.cfg.Now()
	reserved, err := s.cfg.DeviceThrottle.take(ctx, now, req.Client, req.RemoteIP)
	if err != nil {
		return nil, err
	}
	code := newID(deviceCodeBytes)
	a := store.DeviceAuth{DeviceDigest: deviceDigest(code), ClientID: req.Client.ID, Scope: scope, Audience: audience,
		State: store.DevicePending, CreatedAt: now, ExpiresAt: now.Add(s.cfg.DeviceCodeTTL), Interval: s.cfg.DevicePollInterval}
	for i := 0; ; i++ {
		a.UserCode = newUserCode()
		err = s.cfg.Devices.CreateDeviceAuth(ctx, a)
		if err == nil {
			break
		}
		if !errors.Is(err, store.ErrExists) || i == userCodeAttempts-1 {
			s.cfg.DeviceThrottle.refund(ctx, now, reserved)
			return nil, storeError(err, "store device authorization")
		}
	}
	return &DeviceGrant{DeviceCode: code, UserCode: FormatUserCode(a.UserCode),
		ExpiresIn: int64(s.cfg.DeviceCodeTTL / time.Second), Interval: int64(s.cfg.DevicePollInterval / time.Second)}, nil
}

// ErrUnknownUserCode: the user code names no pending device authorization
// (unknown, expired, or decided already). The verification page shows it
// and counts it against the address's throttle.
var ErrUnknownUserCode = oauth.New(oauth.InvalidRequest, "the code is wrong or has expired")

// DeviceRequest is a pending device authorization, as the verification
// page shows it.
type DeviceRequest struct {
	UserCode  string // normalised
	ClientID  string
	Scope     string
	ExpiresAt time.Time
}

// PendingDevice returns the pending, unexpired device authorization of a
// user code as typed (any case, with or without the dash):
// ErrUnknownUserCode when there is none.
func (s *Service) PendingDevice(ctx context.Context, userCode string) (DeviceRequest, error) {
	code := NormalizeUserCode(userCode)
	if code == "" || s.cfg.Devices == nil {
		return DeviceRequest{}, ErrUnknownUserCode
	}
	a, err := s.cfg.Devices.GetDeviceAuthByUserCode(ctx, code)
	switch {
	case errors.Is(err, store.ErrNotFound):
		return DeviceRequest{}, ErrUnknownUserCode
	case err != nil:
		return DeviceRequest{}, storeError(err, "read device authorization")
	case a.State != store.DevicePending || !s.cfg.Now().Before(a.ExpiresAt):
		return DeviceRequest{}, ErrUnknownUserCode
	}
	return DeviceRequest{UserCode: a.UserCode, ClientID: a.ClientID, Scope: a.Scope, ExpiresAt: a.ExpiresAt}, nil
}

// DeviceApproval is the user's decision on a device authorization: who
// signed in, when, in which SSO session, and the family id the login will
// have (recorded in the session beforehand, so that logout ends it).
type DeviceApproval struct {
	Approve   bool
	Subject   string
	AuthTime  time.Time
	SessionID string
	FamilyID  string
	AMR       []string
}

// DecideDevice records the user's decision, once: ErrUnknownUserCode when
// the authorization is gone, expired or decided already.
func (s *Service) DecideDevice(ctx context.Context, userCode string, d DeviceApproval) error {
	if s.cfg.Devices == nil {
		return ErrUnknownUserCode
	}
	_, err := s.cfg.Devices.DecideDeviceAuth(ctx, userCode, store.DeviceDecision{Approve: d.Approve, Now: s.cfg.Now(),
		Subject: d.Subject, AuthTime: d.AuthTime, SessionID: d.SessionID, FamilyID: d.FamilyID, AMR: d.AMR})
	switch {
	case errors.Is(err, store.ErrNotFound) || errors.Is(err, store.ErrConflict):
		return ErrUnknownUserCode.WithCause(err)
	case err != nil:
		return storeError(err, "decide device authorization")
	}
	return nil
}

// NewFamilyID is a fresh refresh-token family id (a login), for a caller
// that must name the login before it begins (the device verification
// page records it in the SSO session).
func NewFamilyID() string { return newID(16) }
