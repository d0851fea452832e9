package server_test

import (
	"net/http"
	"net/http/httptest"
	"net/url"
	"regexp"
	"strings"
	"syscall"
	"testing"
	"time"
)

var benchSealed = regexp.MustCompile(`name="request" value="([^"]+)"`)

// BenchmarkSilentSSOAuthorize measures a silent authorization in an SSO
// session (cookie present, consent skipped, prompt=none): one session
// read, the session touch and the code's family write, through the whole
// public handler. LoginPage, the same request without a session (the
// login page rendered, nothing written), is the baseline of the same run.
func BenchmarkSilentSSOAuthorize(b *testing.B) {
	for _, storeName := range []string{"bolt", "redis"} {
		b.Run(storeName, func(b *testing.B) {
			ba := newBenchApp(b, storeName)
			const redirect = "https://app.example/cb"
			c := ba.createClient(b, map[string]any{"grant_types": []string{"authorization_code"}, "redirect_uris": []string{redirect},
				"scope": "openid", "skip_consent": true})
			ba.adminJSON(b, http.MethodPost, "/admin/users", map[string]any{"username": "ann", "password": "password-of-ann"}, nil)
			q := url.Values{"client_id": {c.ID}, "response_type": {"code"}, "redirect_uri": {redirect}, "scope": {"openid"}, "state": {"s"}}
			authorize := server0(q)

			// Sign in once: the login page, then the posted form.
			rec := httptest.NewRecorder()
			ba.public.ServeHTTP(rec, httptest.NewRequest(http.MethodGet, authorize, nil))
			m := benchSealed.FindStringSubmatch(rec.Body.String())
			if rec.Code != http.StatusOK || m == nil {
				b.Fatalf("login page: %d", rec.Code)
			}
			csrf := rec.Result().Cookies()
			form := url.Values{"request": {strings.ReplaceAll(m[1], "&#43;", "+")}, "username": {"ann"}, "password": {"password-of-ann"}}
			req := httptest.NewRequest(http.MethodPost, "/oauth2/authorize/login", strings.NewReader(form.Encode()))
			req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
			for _, ck := range csrf {
				req.AddCookie(ck)
			}
			rec = httptest.NewRecorder()
			ba.public.ServeHTTP(rec, req)
			var session *http.Cookie
			for _, ck := range rec.Result().Cookies() {
				if ck.Name == "authd_session" {
					session = ck
				}
			}
			if rec.Code != http.StatusSeeOther || session == nil {
				b.Fatalf("sign-in: %d, session cookie %v", rec.Code, session)
			}

			b.Run("LoginPage", func(b *testing.B) {
				for b.Loop() {
					rec := httptest.NewRecorder()
					ba.public.ServeHTTP(rec, httptest.NewRequest(http.MethodGet, authorize, nil))
					if rec.Code != http.StatusOK {
						b.Fatalf("login page: %d", rec.Code)
					}
				}
			})
			silent := authorize + "&prompt=none"
			once := func(b *testing.B) {
				req := httptest.NewRequest(http.MethodGet, silent, nil)
				req.AddCookie(session)
				rec := httptest.NewRecorder()
				ba.public.ServeHTTP(rec, req)
				if rec.Code != http.StatusSeeOther || !strings.Contains(rec.Header().Get("Location"), "code=") {
					b.Fatalf("silent authorization: %d %s", rec.Code, rec.Header().Get("Location"))
				}
			}
			b.Run("Silent", func(b *testing.B) {
				cpu := processCPU()
				for b.Loop() {
					once(b)
				}
				reportCPU(b, cpu)
			})
			// Concurrent browsers: bolt coalesces the touches (and the
			// code's family creates) of concurrent requests into shared
			// transactions, one fsync each.
			b.Run("SilentParallel", func(b *testing.B) {
				cpu := processCPU()
				b.RunParallel(func(pb *testing.PB) {
					for pb.Next() {
						once(b)
					}
				})
				reportCPU(b, cpu)
			})
		})
	}
}

func server0(q url.Values) string { return "/oauth2/authorize?" + q.Encode() }

// processCPU is the user and system CPU time this process has used.
func processCPU() time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		return 0
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

// reportCPU reports the process CPU time (user+system: the server's
// work, fsync included; Redis's own is not counted) per operation since
// start, as cpu-µs/op.
func reportCPU(b *testing.B, start time.Duration) {
	b.ReportMetric(float64((processCPU()-start).Microseconds())/float64(b.N), "cpu-µs/op")
}
