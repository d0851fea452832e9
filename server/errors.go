package server

import (
	"encoding/json"
	"errors"
	"log/slog"
	"net/http"
	"strconv"

	"github.com/authd-dev/authd/oauth"
	"github.com/authd-dev/authd/store"
)

// errorBody is the JSON error of RFC 6749 §5.2 (also used by the admin API).
type errorBody struct {
	Error       string `json:"error"`
	Description string `json:"error_description,omitempty"`
}

// writeError is the one place errors become HTTP responses. An
// *oauth.Error is written as it is; an unavailable store becomes
// temporarily_unavailable (503); anything else is logged and answered as
// server_error without its cause.
func (s *Server) writeError(w http.ResponseWriter, r *http.Request, err error) {
	e := oauth.As(err)
	switch {
	case e != nil:
		if e.Cause != nil {
			s.log.WarnContext(r.Context(), "request failed", "error", e.Code, "cause", e.Cause)
		}
	case errors.Is(err, store.ErrUnavailable):
		s.log.ErrorContext(r.Context(), "store unavailable", "err", err)
		e = oauth.New(oauth.TemporarilyUnavailable, "the store is unavailable, retry later")
		e.RetryAfter = 1
	default:
		s.log.ErrorContext(r.Context(), "internal error", "err", err)
		e = oauth.New(oauth.ServerError, "internal error")
	}
	if e.RetryAfter > 0 {
		w.Header().Set("Retry-After", strconv.Itoa(e.RetryAfter))
	}
	writeJSON(w, e.Status, errorBody{Error: e.Code, Description: e.Description})
}

// writeJSON writes v as JSON with status.
func writeJSON(w http.ResponseWriter, status int, v any) {
	b, err := json.Marshal(v)
	if err != nil {
		slog.Error("encode response", "err", err)
		status, b = http.StatusInternalServerError, []byte(`{"error":"server_error"}`)
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
	h.Set("Cache-Control", "no-store")
	h.Set("Pragma", "no-cache")
}
