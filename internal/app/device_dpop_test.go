package app_test

import (
	"net/url"
	"testing"
	"time"
)

// TestDeviceDPoP: a device access token request with a DPoP proof (RFC
// 9449 §5 applies to every grant at the token endpoint) gets a DPoP-bound
// token (token_type DPoP, cnf.jkt), and the public device client's
// refresh token is bound to the key: a refresh without a proof of it is
// refused, with one it is bound again.
func TestDeviceDPoP(t *testing.T) {
	forEachStore(t, func(t *testing.T, storeArgs []string) {
		// Behind the real clock, so that the tokens' iat is never in the
		// future for jwx after the clock moves past the poll interval;
		// proofs are dated by it.
		clock := newFakeClock(time.Now().Add(-10 * time.Second))
		in := startWith(t, clock.Now, "", storeArgs...)
		in.createUser("dora", "password-of-dora")
		dc := newDeviceClient(t, in, "Living Room TV", "openid offline_access", nil)
		k, other := newDPoPKey(t), newDPoPKey(t)
		htu := in.tokenURL()

		da := dc.deviceAuth(t)
		poll := url.Values{"grant_type": {"urn:ietf:params:oauth:grant-type:device_code"},
			"device_code": {da.DeviceCode}, "client_id": {dc.c.ClientID}}
		if r := in.dpopToken(dc.c.ClientID, "", poll, k.proof(t, "POST", htu, proofOpts{iat: clock.Now()})); r.Status != 400 || r.Error != "authorization_pending" {
			t.Fatalf("pending poll with a proof: %d %s; want 400 authorization_pending", r.Status, r.Error)
		}
		approveDevice(t, in, browser(t), da.UserCode, "dora", "password-of-dora", "Living Room TV", "allow")

		clock.Add(6 * time.Second) // past the 5s interval
		r := in.dpopToken(dc.c.ClientID, "", poll, k.proof(t, "POST", htu, proofOpts{iat: clock.Now()}))
		wantDPoPBound(t, in, r, k, in.Issuer)
		if r.RefreshToken == "" {
			t.Fatal("no refresh token for offline_access")
		}

		ref := url.Values{"grant_type": {"refresh_token"}, "client_id": {dc.c.ClientID}, "refresh_token": {r.RefreshToken}}
		wantProofRefused(t, "device client's refresh without a proof", in.dpopToken(dc.c.ClientID, "", ref), "invalid_dpop_proof")
		wantProofRefused(t, "device client's refresh with another key", in.dpopToken(dc.c.ClientID, "", ref, other.proof(t, "POST", htu, proofOpts{iat: clock.Now()})), "invalid_dpop_proof")
		r2 := in.dpopToken(dc.c.ClientID, "", ref, k.proof(t, "POST", htu, proofOpts{iat: clock.Now()}))
		wantDPoPBound(t, in, r2, k, in.Issuer)
	})
}
