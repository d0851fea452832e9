package authorize

import (
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"net/url"
	"strings"
	"time"

	"github.com/authd-dev/authd/oauth"
	"github.com/authd-dev/authd/store"
	"github.com/authd-dev/authd/tokens"
)

// Pushed authorization requests (RFC 9126).
//
// A client pushes the parameters of its authorization request to the
// pushed authorization request endpoint (§2), authenticated as at the
// token endpoint, and gets a request_uri back; the browser then carries
// only client_id and request_uri (§4), so the request's parameters are
// neither visible nor alterable in the front channel. The pushed form is
// validated by Flow.validate — the same function as a front-channel
// request — when pushed (errors go back to the client as JSON, §2.3) and
// again when used (the client may have changed since, §4). It is stored
// as the client sent it (less its authentication), so whatever
// parameters validate reads come through; the store keys it by a digest
// of the request_uri's random part, and the authorization endpoint takes
// it once (§4: one-time use), on any replica.

// PushedRequests is the part of the store that keeps pushed requests.
type PushedRequests interface {
	PutPushedRequest(ctx context.Context, id string, req []byte, expiresAt time.Time) error
	TakePushedRequest(ctx context.Context, id string) ([]byte, error)
}

var _ PushedRequests = (store.PushedRequests)(nil)

// ProofChecker checks the DPoP proof of a pushed authorization request
// (tokens.Service.CheckProof): RFC 9449 §4.3, its jti single use across
// replicas, and server nonces when they are on.
type ProofChecker interface {
	CheckProof(ctx context.Context, r tokens.DPoPRequest) (tokens.CheckedProof, error)
}

var _ ProofChecker = (*tokens.Service)(nil)

// MinPushedLifetime and MaxPushedLifetime bound PushedLifetime (and
// --par-lifetime): RFC 9126 §2.2 has request_uri
// lifetimes "between 5 and 600 seconds" in mind.
const (
	MinPushedLifetime = 5 * time.Second
	MaxPushedLifetime = 600 * time.Second
)

// Errors of pushed requests at the authorization endpoint, shown to the
// user (the pushed request, which held the redirect_uri, is gone or not
// this client's, so nothing may be redirected).
var (
	// ErrRequestURIInvalid: the request_uri names no live pushed request —
	// unknown, used, or expired (RFC 9126 §4).
	ErrRequestURIInvalid = oauth.New(oauth.InvalidRequestURI, "the request_uri is unknown, used or expired; go back to the application and start again")
	// ErrRequestURIOtherClient: the request was pushed by another client
	// (RFC 9126 §2.2: a request_uri is bound to the client that pushed it).
	ErrRequestURIOtherClient = oauth.New(oauth.InvalidRequestURI, "the request_uri was not issued to this client")
	// ErrPushRequired: the server's or the client's policy takes
	// authorization requests only through the pushed authorization request
	// endpoint (RFC 9126 §4, §5, §6: refused with invalid_request).
	ErrPushRequired = oauth.New(oauth.InvalidRequest, "this client must use pushed authorization requests (RFC 9126): push the request, then send only client_id and request_uri")
)

// clientAuthParams are the parameters of client authentication (RFC 6749
// §2.3.1, RFC 7523 §2.2) that a pushed form carries beside the
// authorization request (RFC 9126 §2.1); they are not part of the
// request and never stored.
var clientAuthParams = []string{"client_secret", "client_assertion", "client_assertion_type"}

// Pushed is the answer to a pushed authorization request (RFC 9126 §2.2).
type Pushed struct {
	RequestURI string `json:"request_uri"`
	ExpiresIn  int64  `json:"expires_in"`
	// DPoPNonce, when set, is a fresh server nonce for the answer's
	// DPoP-Nonce header (RFC 9449 §8.2), never in the body.
	DPoPNonce string `json:"-"`
}

// pushedRecord is a pushed request as stored.
type pushedRecord struct {
	ClientID string `json:"cid"`
	Params   string `json:"q"`   // the form, URL-encoded
	Expires  int64  `json:"exp"` // Unix milliseconds
}

// maxRequestURILen bounds a request_uri read from the browser.
const maxRequestURILen = 256

// Push validates the authorization request form pushed by the
// authenticated client and stores it (RFC 9126 §2). Errors are
// *oauth.Error for a JSON answer (§2.3), never redirects; anything else
// is the store's.
//
// A DPoP proof sent with the push (RFC 9449 §10.1) is checked as at the
// token endpoint and binds the code to its key as dpop_jkt would; both
// present and naming different keys is refused (§10.1: "MUST reject").
// Without f.cfg.Proofs (DPoP off) the DPoP header is ignored, as at the
// token endpoint.
func (f *Flow) Push(ctx context.Context, client store.Client, form url.Values, proof tokens.DPoPRequest) (Pushed, error) {
	if f.cfg.Pushed == nil {
		return Pushed{}, errors.New("authorize: pushed authorization requests are not configured")
	}
	if len(form["request_uri"]) > 0 { // §2.1
		return Pushed{}, oauth.New(oauth.InvalidRequest, "request_uri must not be pushed")
	}
	switch ids := form["client_id"]; {
	case len(ids) > 1:
		return Pushed{}, oauth.New(oauth.InvalidRequest, `parameter "client_id" is repeated`)
	case len(ids) == 1 && ids[0] != client.ID: // §2.1: the authenticated client's own request
		return Pushed{}, oauth.New(oauth.InvalidRequest, "client_id differs from the authenticated client")
	}
	q := make(url.Values, len(form))
	for k, v := range form {
		q[k] = v
	}
	for _, p := range clientAuthParams {
		delete(q, p)
	}
	q.Set("client_id", client.ID)
	var checked tokens.CheckedProof
	if f.cfg.Proofs != nil {
		var err error
		if checked, err = f.cfg.Proofs.CheckProof(ctx, proof); err != nil {
			return Pushed{}, err
		}
	}
	if checked.JKT != "" {
		switch jkts := q["dpop_jkt"]; {
		case len(jkts) == 0:
			q.Set("dpop_jkt", checked.JKT)
		case len(jkts) == 1 && !hmac.Equal([]byte(jkts[0]), []byte(checked.JKT)):
			return Pushed{}, oauth.New(oauth.InvalidDPoPProof, "dpop_jkt is not the thumbprint of the DPoP proof's key (RFC 9449 §10.1)")
		}
		// A repeated dpop_jkt is validate's invalid_request.
	}
	if _, err := f.validate(client, q); err != nil {
		if re, ok := errors.AsType[*tokens.RedirectError](err); ok {
			return Pushed{}, re.Err
		}
		return Pushed{}, err
	}
	now := f.cfg.Now()
	exp := now.Add(f.cfg.PushedLifetime)
	raw, err := json.Marshal(pushedRecord{ClientID: client.ID, Params: q.Encode(), Expires: exp.UnixMilli()})
	if err != nil {
		return Pushed{}, err
	}
	secret := newSecret() // 256 random bits (§2.2, §7.1: not guessable)
	if err := f.cfg.Pushed.PutPushedRequest(ctx, pushedID(secret), raw, exp); err != nil {
		return Pushed{}, fmt.Errorf("authorize: store pushed request: %w", err)
	}
	return Pushed{RequestURI: oauth.RequestURIPrefix + secret, ExpiresIn: int64(f.cfg.PushedLifetime / time.Second),
		DPoPNonce: checked.Nonce}, nil
}

// pushedOrFront returns the parameters the authorization endpoint acts
// on: for a request_uri from Push, the pushed request, taken once — every
// other front-channel parameter but client_id is ignored (RFC 9126 §4);
// otherwise q itself, unless policy requires a pushed request. Its errors
// are to be shown, never redirected.
//
// Reloads (§4: the AS "MAY allow for a short time" the reuse of a
// request_uri "by the same user agent"): taking a pushed request also
// returns a reload ticket — the pushed form sealed with the browser's
// CSRF value, the request_uri's store key and the request's expiry —
// which the HTTP layer keeps in an HttpOnly cookie. When the request_uri
// is gone, a ticket for that very request_uri, of this client and this
// browser's CSRF value, still unexpired, stands in for it; the URL alone
// (history, logs) never does. A pushed form longer than maxReloadForm
// gets no ticket: a cookie holds about 4 KB.
func (f *Flow) pushedOrFront(ctx context.Context, client store.Client, q url.Values, b Browser) (url.Values, reloadTicket, error) {
	uri := q.Get("request_uri")
	if f.cfg.Pushed != nil && strings.HasPrefix(uri, oauth.RequestURIPrefix) {
		if len(q["request_uri"]) > 1 {
			return nil, reloadTicket{}, oauth.New(oauth.InvalidRequest, `parameter "request_uri" is repeated`)
		}
		if len(uri) > maxRequestURILen {
			return nil, reloadTicket{}, ErrRequestURIInvalid
		}
		secret := strings.TrimPrefix(uri, oauth.RequestURIPrefix)
		rec, err := f.takePushed(ctx, client, secret)
		if errors.Is(err, ErrRequestURIInvalid) && b.PushedReload != "" {
			if q, ok := f.reloadPushed(client, secret, b); ok {
				return q, reloadTicket{}, nil // the browser keeps its cookie
			}
		}
		if err != nil {
			return nil, reloadTicket{}, err
		}
		pq, err := url.ParseQuery(rec.Params)
		if err != nil {
			return nil, reloadTicket{}, fmt.Errorf("authorize: decode pushed request: %w", err)
		}
		return pq, f.sealReload(client, secret, rec, b), nil
	}
	if f.cfg.RequirePushed || client.RequirePushedAuthorizationRequests {
		return nil, reloadTicket{}, ErrPushRequired
	}
	return q, reloadTicket{}, nil // another request_uri is validate's request_uri_not_supported
}

// maxReloadForm bounds the pushed form a reload ticket carries, so that
// the sealed ticket fits a cookie.
const maxReloadForm = 2048

// reloadTicket is a sealed reload ticket and when it expires ("" for
// none).
type reloadTicket struct {
	value   string
	expires time.Time
}

// sealReload seals the reload ticket of the pushed request rec, named by
// secret, for the browser b; none when the form is too large for a
// cookie, the browser has no CSRF value, or sealing fails (a reload then
// shows invalid_request_uri, as without tickets).
func (f *Flow) sealReload(client store.Client, secret string, rec pushedRecord, b Browser) reloadTicket {
	if b.CSRF == "" || len(rec.Params) > maxReloadForm {
		return reloadTicket{}
	}
	exp := time.UnixMilli(rec.Expires)
	v, err := f.cfg.Requests.SealRequest(tokens.AuthRequest{ClientID: client.ID, Pushed: rec.Params, PushedID: pushedID(secret),
		CSRF: b.CSRF, Expires: exp.Unix() - 1}) // whole seconds, never past the request's expiry
	if err != nil {
		return reloadTicket{}
	}
	return reloadTicket{value: v, expires: exp}
}

// reloadPushed is the pushed form of b's reload ticket when the ticket is
// for the request_uri secret, of client, sealed for b's CSRF value and
// not expired.
func (f *Flow) reloadPushed(client store.Client, secret string, b Browser) (url.Values, bool) {
	t, ok := f.cfg.Requests.OpenRequest(b.PushedReload) // checks Expires
	if !ok || t.PushedID == "" || t.PushedID != pushedID(secret) || t.ClientID != client.ID ||
		b.CSRF == "" || subtle.ConstantTimeCompare([]byte(t.CSRF), []byte(b.CSRF)) != 1 {
		return nil, false
	}
	q, err := url.ParseQuery(t.Pushed)
	return q, err == nil
}

// takePushed takes the pushed request named by secret, if it is live and
// the client's.
func (f *Flow) takePushed(ctx context.Context, client store.Client, secret string) (pushedRecord, error) {
	raw, err := f.cfg.Pushed.TakePushedRequest(ctx, pushedID(secret))
	switch {
	case errors.Is(err, store.ErrNotFound):
		return pushedRecord{}, ErrRequestURIInvalid
	case err != nil:
		return pushedRecord{}, fmt.Errorf("authorize: take pushed request: %w", err)
	}
	var rec pushedRecord
	if err := json.Unmarshal(raw, &rec); err != nil {
		return pushedRecord{}, fmt.Errorf("authorize: decode pushed request: %w", err)
	}
	// The backend's TTL is a bound; the record's own expiry, on the
	// flow's clock, is the rule (§4: an expired request_uri MUST be
	// rejected).
	if f.cfg.Now().UnixMilli() >= rec.Expires {
		return pushedRecord{}, ErrRequestURIInvalid
	}
	if rec.ClientID != client.ID {
		return pushedRecord{}, ErrRequestURIOtherClient
	}
	return rec, nil
}

// pushedID is the store key of a request_uri's random part: its
// base64url SHA-256, so the store holds no usable request_uri.
func pushedID(secret string) string {
	sum := sha256.Sum256([]byte(secret))
	return base64.RawURLEncoding.EncodeToString(sum[:])
}
