package clients

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"net/url"

	"github.com/authd-dev/authd/oauth"
	"github.com/authd-dev/authd/store"
)

// Causes of a failed client authentication. They reach the logs through
// oauth.Error.Cause (errors.Is works); the client only ever sees "client
// authentication failed".
var (
	ErrUnknownClient     = errors.New("clients: unknown client")
	ErrWrongSecret       = errors.New("clients: wrong client secret")
	ErrWrongMethod       = errors.New("clients: not the registered authentication method")
	ErrMalformedBasic    = errors.New("clients: malformed Basic credentials")
	ErrBadAssertion      = errors.New("clients: invalid client assertion")
	ErrAssertionReplayed = errors.New("clients: client assertion already used")
	// ErrAssertionType: the assertion's typ header names another kind of
	// JWT (at+jwt, dpop+jwt …).
	ErrAssertionType = errors.New("clients: client assertion of another JWT type")
)

// authFailed is the one answer to every failed client authentication
// (RFC 6749 §5.2 invalid_client, 401): an unknown client and a wrong secret
// look the same.
func authFailed(cause error) *oauth.Error {
	return oauth.New(oauth.InvalidClient, "client authentication failed").WithCause(cause)
}

// Endpoint names the endpoint a client authenticates at. It decides
// which aud values a client assertion may carry there
// (checkAssertionAudience): RFC 9126 §2 makes the pushed authorization
// request endpoint accept more than draft-ietf-oauth-rfc7523bis lets the
// token endpoint accept.
type Endpoint int

const (
	// AtToken is the token endpoint and every endpoint authenticated as
	// it is (revocation, introspection, device authorization).
	AtToken Endpoint = iota
	// AtPAR is the pushed authorization request endpoint (RFC 9126 §2).
	AtPAR
)

// Authenticate is AuthenticateAt the token endpoint (AtToken).
func (r *Registry) Authenticate(ctx context.Context, req *http.Request) (store.Client, error) {
	return r.AuthenticateAt(ctx, req, AtToken)
}

// AuthenticateAt identifies and authenticates the client of a token,
// revocation, introspection or pushed authorization request
// (RFC 6749 §2.3; RFC 9126 §2) arriving at endpoint ep. The caller has
// parsed the form; only req.PostForm and the Authorization header are
// read. Exactly one method may be used (two at once is invalid_request,
// RFC 6749 §2.3), and it must be the client's registered one:
//
//   - client_secret_basic: Authorization: Basic with the form-urlencoded
//     client_id and secret (RFC 6749 §2.3.1);
//   - client_secret_post: client_id and client_secret form parameters;
//   - private_key_jwt and client_secret_jwt: client_assertion_type and
//     client_assertion (RFC 7523 §2.2; signed with the client's key, or
//     HS256 with its secret);
//   - none: client_id alone (public clients, RFC 6749 §2.1).
//
// Every failure is invalid_client "client authentication failed" (401)
// with the reason as the error's Cause, except malformed requests
// (invalid_request) and store failures (returned wrapped).
func (r *Registry) AuthenticateAt(ctx context.Context, req *http.Request, ep Endpoint) (store.Client, error) {
	form := req.PostForm
	basic := req.Header.Get("Authorization") != ""
	post := form.Has("client_secret")
	assertion := form.Has("client_assertion") || form.Has("client_assertion_type")
	n := 0
	for _, used := range []bool{basic, post, assertion} {
		if used {
			n++
		}
	}
	if n > 1 {
		return store.Client{}, oauth.New(oauth.InvalidRequest, "use exactly one client authentication method")
	}
	if len(form["client_id"]) > 1 || len(form["client_secret"]) > 1 {
		return store.Client{}, oauth.New(oauth.InvalidRequest, "client_id and client_secret must not repeat")
	}
	switch {
	case basic:
		id, secret, err := basicCredentials(req)
		if err != nil {
			return store.Client{}, authFailed(err)
		}
		if fid := form.Get("client_id"); fid != "" && fid != id {
			return store.Client{}, oauth.New(oauth.InvalidRequest, "client_id differs from the client of the Authorization header")
		}
		return r.checkSecret(ctx, id, secret, AuthBasic)
	case post:
		return r.checkSecret(ctx, form.Get("client_id"), form.Get("client_secret"), AuthPost)
	case assertion:
		return r.checkAssertion(ctx, form, ep)
	default:
		return r.checkPublic(ctx, form.Get("client_id"))
	}
}

// basicCredentials decodes "Authorization: Basic" whose id and secret are
// each form-urlencoded before base64 (RFC 6749 §2.3.1).
func basicCredentials(req *http.Request) (id, secret string, err error) {
	rawID, rawSecret, ok := req.BasicAuth()
	if !ok {
		return "", "", ErrMalformedBasic
	}
	id, err1 := url.QueryUnescape(rawID)
	secret, err2 := url.QueryUnescape(rawSecret)
	if err1 != nil || err2 != nil || id == "" {
		return "", "", fmt.Errorf("%w: %w", ErrMalformedBasic, errors.Join(err1, err2))
	}
	return id, secret, nil
}

// getClient reads a client for authentication: not found is ErrUnknownClient.
func (r *Registry) getClient(ctx context.Context, id string) (store.Client, error) {
	if id == "" {
		return store.Client{}, ErrUnknownClient
	}
	c, err := r.cfg.Store.GetClient(ctx, id)
	if errors.Is(err, store.ErrNotFound) {
		return store.Client{}, fmt.Errorf("%w: %w", ErrUnknownClient, err)
	}
	if err != nil {
		return store.Client{}, fmt.Errorf("clients: authenticate %q: %w", id, err)
	}
	return c, nil
}

// checkSecret compares the secret's digest in constant time. An unknown
// client costs the same work: one digest and one comparison, against a
// dummy digest.
func (r *Registry) checkSecret(ctx context.Context, id, secret, method string) (store.Client, error) {
	got := r.digest(secret)
	c, err := r.getClient(ctx, id)
	if errors.Is(err, ErrUnknownClient) {
		r.equal(got, r.dummy)
		return store.Client{}, authFailed(err)
	}
	if err != nil {
		return store.Client{}, err
	}
	match := r.equal(got, c.SecretDigest)
	switch {
	case len(c.SecretDigest) == 0 || c.TokenEndpointAuthMethod != method:
		return store.Client{}, authFailed(fmt.Errorf("%w: %s used, %s registered", ErrWrongMethod, method, c.TokenEndpointAuthMethod))
	case !match || secret == "":
		return store.Client{}, authFailed(ErrWrongSecret)
	}
	return c, nil
}

// checkPublic admits a public client (method none) by its client_id alone.
func (r *Registry) checkPublic(ctx context.Context, id string) (store.Client, error) {
	c, err := r.getClient(ctx, id)
	if errors.Is(err, ErrUnknownClient) {
		return store.Client{}, authFailed(err)
	}
	if err != nil {
		return store.Client{}, err
	}
	if c.TokenEndpointAuthMethod != AuthNone {
		return store.Client{}, authFailed(fmt.Errorf("%w: no credentials, %s registered", ErrWrongMethod, c.TokenEndpointAuthMethod))
	}
	return c, nil
}
