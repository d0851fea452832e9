package server

import (
	"crypto/subtle"
	"net/http"

	"github.com/prometheus/client_golang/prometheus/promhttp"

	"github.com/authd-dev/authd/oauth"
)

// metricsHandler serves /metrics. By default it is open, like the rest of
// the admin listener's operational endpoints (the listener is loopback by
// default and the metrics hold no secret); with MetricsAuth it requires
// the admin token or, if set, the metrics token (RFC 6750 §2.1 bearer),
// both compared in constant time on their digests.
func (s *Server) metricsHandler() http.Handler {
	h := promhttp.HandlerFor(s.cfg.Registry, promhttp.HandlerOpts{})
	if !s.cfg.MetricsAuth && s.cfg.MetricsToken == "" {
		return h
	}
	accepted := [][32]byte{s.adminHash}
	if s.cfg.MetricsToken != "" {
		accepted = append(accepted, hashToken(s.cfg.MetricsToken))
	}
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		tok, ok := bearerToken(r)
		got := hashToken(tok)
		match := 0
		for _, want := range accepted {
			match |= subtle.ConstantTimeCompare(got[:], want[:]) // no early exit
		}
		if !ok || match != 1 {
			w.Header().Set("WWW-Authenticate", `Bearer realm="authd-metrics"`)
			writeJSON(w, http.StatusUnauthorized, errorBody{Error: oauth.InvalidToken, Description: "a valid bearer token is required for /metrics"})
			return
		}
		h.ServeHTTP(w, r)
	})
}
