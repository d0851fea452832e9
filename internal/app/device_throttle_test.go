package app_test

import (
	"net/http"
	"net/url"
	"strconv"
	"testing"
	"time"
)

// deviceAuthFrom posts a device authorization request as if from addr
// (X-Forwarded-For, believed from a trusted proxy), with Basic
// authentication when secret is set.
func deviceAuthFrom(t *testing.T, in *instance, addr, clientID, secret string) (int, http.Header, map[string]any) {
	t.Helper()
	form := url.Values{"scope": {"openid"}}
	id := clientID
	if secret == "" {
		form.Set("client_id", clientID)
		id = ""
	}
	req := in.formPost("/oauth2/device_authorization", form, id, secret)
	req.Header.Set("X-Forwarded-For", addr)
	var out map[string]any
	status, h := doJSON(t, req, "device authorization", &out)
	return status, h, out
}

// TestDeviceAuthorizationThrottle: the device authorization endpoint
// (RFC 8628 §3.1) takes one attempt per request from the client's bucket,
// and for a public client from the address's bucket too; past them it
// answers 429 slow_down with Retry-After and creates nothing. A
// confidential client is not limited by address.
func TestDeviceAuthorizationThrottle(t *testing.T) {
	forEachStore(t, func(t *testing.T, storeArgs []string) {
		clock := newFakeClock(time.Now())
		in := startWith(t, clock.Now, "", append(storeArgs, "--trusted-proxies", "127.0.0.0/8",
			"--device-authorization-ip-per-minute", "1", "--device-authorization-ip-burst", "2",
			"--device-authorization-client-per-minute", "1", "--device-authorization-client-burst", "4")...)
		public := newDeviceClient(t, in, "Public TV", "openid", nil).c
		confidential := in.createClient(map[string]any{"client_name": "Confidential box", "scope": "openid",
			"grant_types": []string{"urn:ietf:params:oauth:grant-type:device_code"}})
		const a, b, c = "203.0.113.1", "203.0.113.2", "2001:db8::1"

		ok := func(addr, id, secret, what string) {
			t.Helper()
			if st, _, body := deviceAuthFrom(t, in, addr, id, secret); st != http.StatusOK || body["device_code"] == nil {
				t.Fatalf("%s: %d %v, want 200 with a device_code", what, st, body)
			}
		}
		refused := func(addr, id, secret, what string) {
			t.Helper()
			st, h, body := deviceAuthFrom(t, in, addr, id, secret)
			secs, _ := strconv.Atoi(h.Get("Retry-After"))
			if st != http.StatusTooManyRequests || body["error"] != "slow_down" || secs < 1 || body["device_code"] != nil ||
				h.Get("Cache-Control") != "no-store" {
				t.Fatalf("%s: %d %v Retry-After %q, want 429 slow_down with Retry-After", what, st, body, h.Get("Retry-After"))
			}
		}

		ok(a, public.ClientID, "", "public client, 1st from a")
		ok(a, public.ClientID, "", "public client, 2nd from a")
		refused(a, public.ClientID, "", "public client, 3rd from a (address burst 2)")
		// A request the endpoint refuses before the throttle costs nothing
		// and is answered as usual.
		if st, _, body := rawDeviceAuth(t, in, url.Values{"client_id": {public.ClientID}, "scope": {"admin"}}); st != 400 || body["error"] != "invalid_scope" {
			t.Fatalf("invalid scope while throttled: %d %v", st, body)
		}
		ok(b, public.ClientID, "", "public client, 1st from b")
		ok(b, public.ClientID, "", "public client, 2nd from b")
		refused(c, public.ClientID, "", "public client from a fresh address c (client burst 4 used up)")

		// The confidential client: its own bucket, whatever the address.
		for i := range 4 {
			ok(a, confidential.ClientID, confidential.ClientSecret, "confidential client, request "+strconv.Itoa(i+1)+" from a")
		}
		refused(b, confidential.ClientID, confidential.ClientSecret, "confidential client, 5th (client burst 4)")

		// Refilled: one a minute.
		clock.Add(time.Minute)
		ok(a, public.ClientID, "", "public client from a a minute later")
		refused(b, public.ClientID, "", "public client from b, the refill taken")
	})
}
