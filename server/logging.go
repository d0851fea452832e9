package server

import (
	"context"
	"log/slog"
)

// LogHandler wraps h so that every record logged with a context carrying a
// request id (set by the middleware of every route) has a request_id
// attribute: the domain packages log with the *Context variants and the
// id reaches each line of the request without being passed around.
// Wrapping an already wrapped handler returns it unchanged.
func LogHandler(h slog.Handler) slog.Handler {
	if _, ok := h.(requestIDHandler); ok {
		return h
	}
	return requestIDHandler{h}
}

type requestIDHandler struct{ slog.Handler }

// unwrapLogHandler is h without the request-id wrapper of LogHandler: the
// middleware adds request_id to its own line and writes it there.
func unwrapLogHandler(h slog.Handler) slog.Handler {
	if w, ok := h.(requestIDHandler); ok {
		return w.Handler
	}
	return h
}

// Handle adds request_id when ctx carries one.
func (h requestIDHandler) Handle(ctx context.Context, r slog.Record) error {
	if id := RequestID(ctx); id != "" {
		r = r.Clone()
		r.AddAttrs(slog.String("request_id", id))
	}
	return h.Handler.Handle(ctx, r)
}

// WithAttrs keeps the wrapper around the derived handler.
func (h requestIDHandler) WithAttrs(attrs []slog.Attr) slog.Handler {
	return requestIDHandler{h.Handler.WithAttrs(attrs)}
}

// WithGroup keeps the wrapper around the derived handler.
func (h requestIDHandler) WithGroup(name string) slog.Handler {
	return requestIDHandler{h.Handler.WithGroup(name)}
}
