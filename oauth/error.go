// Package oauth holds the one OAuth error type and protocol constants shared
// by the domain packages and the HTTP layer. It imports only the standard
// library.
package oauth

import (
	"errors"
	"fmt"
	"net/http"
)

// Error codes of RFC 6749 §5.2 and §4.1.2.1, RFC 7009 §2.2.1, RFC 8707 §2
// and RFC 6750 §3.1.
const (
	InvalidRequest          = "invalid_request"
	InvalidClient           = "invalid_client"
	InvalidGrant            = "invalid_grant"
	UnauthorizedClient      = "unauthorized_client"
	UnsupportedGrantType    = "unsupported_grant_type"
	InvalidScope            = "invalid_scope"
	InvalidTarget           = "invalid_target"
	AccessDenied            = "access_denied"
	UnsupportedResponseType = "unsupported_response_type"
	ServerError             = "server_error"
	TemporarilyUnavailable  = "temporarily_unavailable"
	UnsupportedTokenType    = "unsupported_token_type"
	InvalidToken            = "invalid_token"
	SlowDown                = "slow_down"
	// InvalidDPoPProof and UseDPoPNonce are RFC 9449 §5 and §8.
	InvalidDPoPProof = "invalid_dpop_proof"
	UseDPoPNonce     = "use_dpop_nonce"
	// AuthorizationPending and ExpiredToken answer device-flow polls
	// (RFC 8628 §3.5), as do SlowDown and AccessDenied — all with 400
	// there (DeviceError), whatever their default status elsewhere.
	AuthorizationPending = "authorization_pending"
	ExpiredToken         = "expired_token"
	// InvalidClientMetadata and InvalidRedirectURI are RFC 7591 §3.2.2.
	InvalidClientMetadata = "invalid_client_metadata"
	InvalidRedirectURI    = "invalid_redirect_uri"
	// InvalidSoftwareStatement and UnapprovedSoftwareStatement are RFC
	// 7591 §3.2.2 too: authd supports no software statements.
	InvalidSoftwareStatement    = "invalid_software_statement"
	UnapprovedSoftwareStatement = "unapproved_software_statement"
	// NotFound and Conflict are used by the admin API only.
	NotFound = "not_found"
	Conflict = "conflict"
)

// Error is an OAuth error: the RFC code, a description safe to show to the
// client, and the HTTP status. Domain code returns it; the HTTP layer
// writes it (errors.As), and turns every other error into server_error.
type Error struct {
	Code        string
	Description string
	Status      int
	// RetryAfter, when positive, is sent as a Retry-After header (seconds).
	RetryAfter int
	// DPoPNonce, when set, is sent as a DPoP-Nonce header (RFC 9449 §8):
	// the nonce a use_dpop_nonce error asks the client to put in its
	// next proof.
	DPoPNonce string
	// Cause is logged, never sent.
	Cause error
}

// Error implements error: code, description and the cause, for logs (what
// a client sees is written from the fields, never from this string).
func (e *Error) Error() string {
	if e.Cause != nil {
		return fmt.Sprintf("%s: %s: %v", e.Code, e.Description, e.Cause)
	}
	return e.Code + ": " + e.Description
}

// Unwrap returns the cause, so errors.Is sees through an Error.
func (e *Error) Unwrap() error { return e.Cause }

// WithCause returns a copy of e that records cause for the logs.
func (e *Error) WithCause(cause error) *Error {
	c := *e
	c.Cause = cause
	return &c
}

// statusOf is the default HTTP status of each code (RFC 6749 §5.2: 400
// unless stated; invalid_client is 401).
var statusOf = map[string]int{
	InvalidClient:          http.StatusUnauthorized,
	InvalidToken:           http.StatusUnauthorized,
	ServerError:            http.StatusInternalServerError,
	TemporarilyUnavailable: http.StatusServiceUnavailable,
	SlowDown:               http.StatusTooManyRequests,
	AccessDenied:           http.StatusForbidden,
	NotFound:               http.StatusNotFound,
	Conflict:               http.StatusConflict,
}

// New returns an Error with the code's default status.
func New(code, format string, args ...any) *Error {
	status, ok := statusOf[code]
	if !ok {
		status = http.StatusBadRequest
	}
	return &Error{Code: code, Description: fmt.Sprintf(format, args...), Status: status}
}

// Errorf is New with an explicit status.
func Errorf(status int, code, format string, args ...any) *Error {
	return &Error{Code: code, Description: fmt.Sprintf(format, args...), Status: status}
}

// DeviceError is an error of a device-flow poll (RFC 8628 §3.5): a token
// endpoint error of RFC 6749 §5.2, so 400 even for slow_down (429 when it
// throttles a login) and access_denied (403 on pages).
func DeviceError(code, format string, args ...any) *Error {
	return Errorf(http.StatusBadRequest, code, format, args...)
}

// As returns the *Error in err's chain, or nil.
func As(err error) *Error {
	var e *Error
	if errors.As(err, &e) {
		return e
	}
	return nil
}
