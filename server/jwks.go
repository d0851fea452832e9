package server

import (
	"net/http"
	"strconv"
	"strings"
	"time"
)

// handleJWKS serves the pre-serialised key set (RFC 7517 §5) with a strong
// ETag and a max-age no longer than the time until the next key starts
// signing, so a cached copy always holds every key in use.
func (s *Server) handleJWKS(w http.ResponseWriter, r *http.Request) {
	doc := s.cfg.Keys.JWKS()
	h := w.Header()
	h.Set("ETag", doc.ETag)
	h.Set("Cache-Control", "public, max-age="+strconv.Itoa(int(doc.MaxAge/time.Second))+
		", stale-if-error="+strconv.Itoa(int(s.cfg.JWKSStaleIfError/time.Second)))
	if etagMatches(r.Header.Get("If-None-Match"), doc.ETag) {
		w.WriteHeader(http.StatusNotModified)
		return
	}
	h.Set("Content-Type", "application/jwk-set+json")
	h.Set("Content-Length", strconv.Itoa(len(doc.Body)))
	if r.Method == http.MethodHead {
		return
	}
	w.Write(doc.Body)
}

// etagMatches implements If-None-Match (RFC 9110 §13.1.2): "*" or any
// listed tag, compared weakly.
func etagMatches(header, etag string) bool {
	if header == "" {
		return false
	}
	if strings.TrimSpace(header) == "*" {
		return true
	}
	for _, t := range strings.Split(header, ",") {
		t = strings.TrimPrefix(strings.TrimSpace(t), "W/")
		if t == etag {
			return true
		}
	}
	return false
}
