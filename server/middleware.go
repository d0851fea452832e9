package server

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"log/slog"
	"net/http"
	"strconv"
	"sync/atomic"
	"time"

	"github.com/prometheus/client_golang/prometheus"
)

type ctxKey int

const requestIDKey ctxKey = 0

// RequestID returns the request id that the middleware put in ctx.
func RequestID(ctx context.Context) string {
	if st, _ := ctx.Value(requestIDKey).(*requestState); st != nil {
		return st.id
	}
	return ""
}

// requestState is what the middleware keeps per request, in one
// allocation: the status-recording writer, the request id (the context
// value behind RequestID) and the backing array of the X-Request-Id
// header value.
type requestState struct {
	statusWriter
	id       string
	idHeader [1]string
}

// requestIDs makes ids cheaply: a random per-process prefix and a counter.
type requestIDs struct {
	prefix string
	n      atomic.Uint64
}

func newRequestIDs() *requestIDs {
	b := make([]byte, 4)
	rand.Read(b)
	return &requestIDs{prefix: hex.EncodeToString(b) + "-"}
}

func (g *requestIDs) next() string {
	var buf [32]byte
	b := append(buf[:0], g.prefix...)
	return string(strconv.AppendUint(b, g.n.Add(1), 36)) // one allocation
}

// statusWriter records the status code written.
type statusWriter struct {
	http.ResponseWriter
	status int
}

func (w *statusWriter) WriteHeader(code int) {
	if w.status == 0 {
		w.status = code
	}
	w.ResponseWriter.WriteHeader(code)
}

func (w *statusWriter) Write(b []byte) (int, error) {
	if w.status == 0 {
		w.status = http.StatusOK
	}
	return w.ResponseWriter.Write(b)
}

// Unwrap lets http.ResponseController reach the underlying writer.
func (w *statusWriter) Unwrap() http.ResponseWriter { return w.ResponseWriter }

// httpMetrics are the request metrics of one listener.
type httpMetrics struct {
	requests *prometheus.CounterVec
	duration *prometheus.HistogramVec
}

func newHTTPMetrics(reg prometheus.Registerer) *httpMetrics {
	m := &httpMetrics{
		requests: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "authd_http_requests_total", Help: "HTTP requests by listener, route and status code.",
		}, []string{"listener", "route", "code"}),
		duration: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name:    "authd_http_request_duration_seconds",
			Help:    "HTTP request latency by listener and route.",
			Buckets: []float64{.0005, .001, .0025, .005, .01, .025, .05, .1, .25, .5, 1, 2.5},
		}, []string{"listener", "route"}),
	}
	if reg != nil {
		reg.MustRegister(m.requests, m.duration)
	}
	return m
}

// instrument wraps one route's handler: request id, panic recovery,
// metrics and one structured log line per request. The route name is fixed
// at registration, so no per-request route lookup is needed.
func (s *Server) instrument(listener, route string, h http.Handler) http.Handler {
	observe := s.metrics.duration.WithLabelValues(listener, route)
	var codes [600]atomic.Pointer[prometheus.Counter] // per-status counters, resolved once
	counter := func(code int) prometheus.Counter {
		if code < 100 || code >= len(codes) {
			return s.metrics.requests.WithLabelValues(listener, route, strconv.Itoa(code))
		}
		if c := codes[code].Load(); c != nil {
			return *c
		}
		c := s.metrics.requests.WithLabelValues(listener, route, strconv.Itoa(code))
		codes[code].Store(&c)
		return c
	}
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		start := time.Now()
		st := &requestState{statusWriter: statusWriter{ResponseWriter: w}}
		st.id = r.Header.Get("X-Request-Id")
		if st.id == "" || len(st.id) > 64 {
			st.id = s.ids.next()
		}
		st.idHeader[0] = st.id
		w.Header()["X-Request-Id"] = st.idHeader[:] // canonical key; no slice allocated
		ctx := context.WithValue(r.Context(), requestIDKey, st)
		sw := &st.statusWriter
		defer func() {
			if p := recover(); p != nil {
				if p == http.ErrAbortHandler {
					panic(p)
				}
				s.log.ErrorContext(ctx, "panic serving request", "route", route, "panic", fmt.Sprint(p))
				if sw.status == 0 {
					s.writeError(sw, r.WithContext(ctx), fmt.Errorf("panic: %v", p))
				}
			}
			if sw.status == 0 {
				sw.status = http.StatusOK
			}
			elapsed := time.Since(start)
			observe.Observe(elapsed.Seconds())
			counter(sw.status).Inc()
			s.logRequest(ctx, listener, route, r, sw.status, elapsed, st.id)
		}()
		h.ServeHTTP(sw, r.WithContext(ctx))
	})
}

// logRequest writes the one info line of a request, with every field an
// audit needs: listener, method, route, status, duration, remote and
// request_id. It builds the record itself and hands it to the handler
// under the request-id wrapper (Server.logBase), so the record is never
// cloned to add request_id, and no caller PC is captured (the line has one
// source, this function): with seven attributes, formatting is the only
// cost besides one small slice.
func (s *Server) logRequest(ctx context.Context, listener, route string, r *http.Request, status int, elapsed time.Duration, id string) {
	if !s.logBase.Enabled(ctx, slog.LevelInfo) {
		return
	}
	rec := slog.NewRecord(time.Now(), slog.LevelInfo, "request", 0)
	rec.AddAttrs(
		slog.String("listener", listener),
		slog.String("method", r.Method),
		slog.String("route", route),
		slog.Int("status", status),
		slog.Duration("duration", elapsed),
		slog.String("remote", s.clientIP(r)),
		slog.String("request_id", id),
	)
	_ = s.logBase.Handle(ctx, rec) // a handler's write error has nowhere better to go
}
