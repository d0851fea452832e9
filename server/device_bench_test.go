package server_test

import (
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"testing"

	"github.com/authd-dev/authd/oauth"
	"github.com/authd-dev/authd/server"
)

// BenchmarkDevicePollPending measures a device's poll of the token
// endpoint (RFC 8628 §3.4) while the user has not answered, through the
// whole public handler: client authentication (a public client), then one
// store round trip (PollDeviceAuth: on Redis one script, on bolt one
// write transaction, as the poll time is recorded for slow_down). The
// polls come faster than the interval, so after the first they answer
// slow_down; that is the same path (one round trip, the record updated).
// cpu-µs/op is the server process's CPU per poll (Redis's own is not
// counted). Unknown, a poll with a device_code that names nothing
// (invalid_grant), is the baseline of the same run.
func BenchmarkDevicePollPending(b *testing.B) {
	for _, storeName := range []string{"bolt", "redis"} {
		b.Run(storeName, func(b *testing.B) {
			ba := newBenchApp(b, storeName)
			var c struct {
				ID string `json:"client_id"`
			}
			ba.adminJSON(b, http.MethodPost, "/admin/clients", map[string]any{"client_name": "tv", "token_endpoint_auth_method": "none",
				"grant_types": []string{oauth.GrantDeviceCode}, "scope": "openid"}, &c)
			req := httptest.NewRequest(http.MethodPost, server.PathDeviceAuthorization, strings.NewReader(url.Values{"client_id": {c.ID}}.Encode()))
			req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
			rec := httptest.NewRecorder()
			ba.public.ServeHTTP(rec, req)
			var da struct {
				DeviceCode string `json:"device_code"`
			}
			if err := json.Unmarshal(rec.Body.Bytes(), &da); rec.Code != http.StatusOK || err != nil {
				b.Fatalf("device authorization: %d %s", rec.Code, rec.Body)
			}
			poll := func(code string) *replay {
				req := httptest.NewRequest(http.MethodPost, server.PathToken, strings.NewReader(url.Values{
					"grant_type": {oauth.GrantDeviceCode}, "device_code": {code}, "client_id": {c.ID}}.Encode()))
				req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
				return newReplay(req)
			}
			run := func(b *testing.B, code string, want ...string) {
				rp := poll(code)
				cpu := processCPU()
				for b.Loop() {
					code, ans, err := serveToken(ba.public, rp.next())
					if err != nil || code != http.StatusBadRequest || (ans.Error != want[0] && (len(want) < 2 || ans.Error != want[1])) {
						b.Fatalf("poll: %d %+v %v; want 400 %v", code, ans, err, want)
					}
				}
				reportCPU(b, cpu)
			}
			b.Run("Pending", func(b *testing.B) { run(b, da.DeviceCode, "authorization_pending", "slow_down") })
			b.Run("Unknown", func(b *testing.B) { run(b, "no-such-device-code", "invalid_grant") })
		})
	}
}
