package server

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"strconv"
	"strings"

	"github.com/authd-dev/authd/oauth"
	"github.com/authd-dev/authd/store"
)

// errorBody is the JSON error of RFC 6749 §5.2 (also used by the admin API).
type errorBody struct {
	Error       string `json:"error"`
	Description string `json:"error_description,omitempty"`
}

// StatusClientClosedRequest is the status recorded (metrics, request log)
// for a request whose client went away before the answer: nginx's 499. It
// is never a server error, and nothing is sent.
const StatusClientClosedRequest = 499

// failure is a classified error: what the client is told, and whether
// there is still a client to tell.
type failure struct {
	*oauth.Error
	// gone: the client cancelled the request (closed the connection); the
	// answer is recorded as StatusClientClosedRequest and not written.
	gone bool
}

// classify is the one place an error becomes an answer, whatever the
// medium (JSON, HTML page, redirect). It logs the error once, at a level
// that says whose problem it is:
//
//   - the client went away (its context was cancelled and the error says
//     so): Info, recorded as 499, never a server error;
//   - an *oauth.Error is the domain's answer as it is; its Cause, if any,
//     is logged at Warn and never sent;
//   - an unavailable store (or a dependency's deadline) is
//     temporarily_unavailable, 503 with Retry-After (RFC 6749 §5.2 and
//     §4.1.2.1 name the code; RFC 9110 §10.2.3 the header);
//   - anything else is server_error, logged at Error, its cause never sent.
func (s *Server) classify(r *http.Request, err error) failure {
	ctx := r.Context()
	switch e := oauth.As(err); {
	case errors.Is(err, context.Canceled) && ctx.Err() != nil:
		s.log.InfoContext(ctx, "client cancelled the request", "err", err)
		return failure{Error: oauth.Errorf(StatusClientClosedRequest, oauth.ServerError, "the client closed the request"), gone: true}
	case e != nil:
		if e.Cause != nil {
			s.log.WarnContext(ctx, "request failed", "error", e.Code, "cause", e.Cause)
		}
		return failure{Error: e}
	case errors.Is(err, store.ErrUnavailable), errors.Is(err, context.DeadlineExceeded):
		s.log.ErrorContext(ctx, "store unavailable", "err", err)
		e = oauth.New(oauth.TemporarilyUnavailable, "the service is temporarily unavailable, retry later")
		e.RetryAfter = 1
		return failure{Error: e}
	default:
		s.log.ErrorContext(ctx, "internal error", "err", err)
		return failure{Error: oauth.New(oauth.ServerError, "internal error")}
	}
}

// writeError answers err as JSON (RFC 6749 §5.2): the renderer of the
// token, revocation, introspection, userinfo and admin endpoints.
func (s *Server) writeError(w http.ResponseWriter, r *http.Request, err error) {
	f := s.classify(r, err)
	if f.gone {
		w.WriteHeader(StatusClientClosedRequest)
		return
	}
	retryAfter(w, f.Error)
	if f.DPoPNonce != "" { // RFC 9449 §8: the nonce to use next
		w.Header().Set("DPoP-Nonce", f.DPoPNonce)
	}
	writeJSON(w, f.Status, errorBody{Error: f.Code, Description: f.Description})
}

// showError answers err as an HTML page: the renderer for errors that must
// not go back to the client, because the client or its redirect_uri could
// not be trusted (RFC 6749 §4.1.2.1).
func (s *Server) showError(w http.ResponseWriter, r *http.Request, err error) {
	f := s.classify(r, err)
	if f.gone {
		w.WriteHeader(StatusClientClosedRequest)
		return
	}
	retryAfter(w, f.Error)
	s.renderPage(w, r, f.Status, errorPage(err, f.Code, f.Description), "")
}

// redirectError sends err back to the client's validated redirect_uri
// (RFC 6749 §4.1.2.1): the renderer for errors once the client and
// redirect_uri are known good.
func (s *Server) redirectError(w http.ResponseWriter, r *http.Request, target, state string, err error) {
	f := s.classify(r, err)
	if f.gone {
		w.WriteHeader(StatusClientClosedRequest)
		return
	}
	p := url.Values{"error": {f.Code}}
	if f.Description != "" {
		p.Set("error_description", f.Description)
	}
	s.redirect(w, r, target, state, p)
}

// redirect sends the browser back to the client (303, so a POST is not
// repeated) with params, state and iss (RFC 9207 §2).
func (s *Server) redirect(w http.ResponseWriter, r *http.Request, target, state string, params url.Values) {
	if state != "" {
		params.Set("state", state)
	}
	params.Set("iss", s.cfg.Issuer)
	sep := "?"
	if strings.Contains(target, "?") {
		sep = "&"
	}
	w.Header().Set("Cache-Control", "no-store")
	http.Redirect(w, r, target+sep+params.Encode(), http.StatusSeeOther)
}

// retryAfter sets Retry-After (seconds) when the error asks for one.
func retryAfter(w http.ResponseWriter, e *oauth.Error) {
	if e.RetryAfter > 0 {
		w.Header().Set("Retry-After", strconv.Itoa(e.RetryAfter))
	}
}

// writeJSON writes v as JSON with status. Every v is a type of this
// package or the domain's, so a value that does not encode is a bug: it
// panics, and the middleware logs it with the request id and answers 500.
func writeJSON(w http.ResponseWriter, status int, v any) {
	b, err := json.Marshal(v)
	if err != nil {
		panic(fmt.Errorf("server: encode response: %w", err))
	}
	h := w.Header()
	h.Set("Content-Type", "application/json")
	h.Set("Content-Length", strconv.Itoa(len(b)+1))
	w.WriteHeader(status)
	w.Write(append(b, '\n'))
}

// noStore marks a response as uncacheable (RFC 6749 §5.1).
func noStore(w http.ResponseWriter) {
	h := w.Header()
	h["Cache-Control"] = headerNoStore
	h["Pragma"] = headerNoCache
}

// Header values that every token answer carries, shared by all answers
// instead of a one-string slice allocated per header per request. They
// are only ever read (net/http writes them; Header.Add appends, which
// copies a full slice) and never written in place.
var (
	headerNoStore = []string{"no-store"}
	headerNoCache = []string{"no-cache"}
	headerJSON    = []string{"application/json"}
)

// errEmptyOutcome is a flow step that returned no outcome (a bug).
var errEmptyOutcome = errors.New("server: the flow returned an empty outcome")
