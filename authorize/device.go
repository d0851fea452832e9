package authorize

import (
	"context"
	"crypto/subtle"
	"errors"
	"fmt"
	"net/http"
	"net/netip"
	"time"

	"github.com/authd-dev/authd/oauth"
	"github.com/authd-dev/authd/store"
	"github.com/authd-dev/authd/tokens"
)

// The device verification page (RFC 8628 §3.3): the user enters the user
// code the device shows, then the usual prompts run — login (an SSO
// session counts), then consent, which for a device is always asked
// unless the client is first-party (skip_consent): RFC 8628 §5.4 warns of
// remote phishing, where an attacker makes a victim enter the attacker's
// code, so the page names the client and the code and the user confirms.
// Allowing approves the device; denying answers it access_denied (§3.5).
// Neither is sent anywhere: the browser is shown a page to return to the
// device.
//
// Wrong codes are throttled per client address (§5.1: the user code's
// entropy is only enough with a limit on guesses): every submitted code
// takes an attempt from the address's bucket before it is looked up, and
// a code that names a pending authorization gives it back; an empty
// bucket shows the page again with 429 and Retry-After.

// Devices reads and decides device authorizations (the tokens service).
type Devices interface {
	PendingDevice(ctx context.Context, userCode string) (tokens.DeviceRequest, error)
	DecideDevice(ctx context.Context, userCode string, d tokens.DeviceApproval) error
}

// DeviceConfig enables the device verification page.
type DeviceConfig struct {
	Devices Devices
	// Throttle keeps the wrong-code buckets (the store's, shared by every
	// replica); Every and Burst shape one address's bucket
	// (--device-verify-ip-per-minute, --device-verify-ip-burst).
	Throttle store.ThrottleStore
	Every    time.Duration
	Burst    int
}

// deviceFormTTL bounds how long the verification form (and an interaction
// begun from it) may be posted.
const deviceFormTTL = 10 * time.Minute

// Errors of the device page.
var (
	// ErrNoDevice: the server runs without the device grant.
	ErrNoDevice = oauth.New(oauth.InvalidRequest, "device verification is not enabled")
)

// DeviceInput is a post of the verification page's form.
type DeviceInput struct {
	// Request is the sealed form the page carried; CSRF the browser's
	// CSRF value.
	Request, CSRF string
	UserCode      string
	RemoteIP      string
	// Session is the browser's session cookie value ("" for none).
	Session string
}

// DevicePage is the verification page (GET verification_uri, with the
// user_code of verification_uri_complete when there is one, §3.3.1): a
// form bound to this browser's CSRF value. The code is only prefilled;
// the user submits it.
func (f *Flow) DevicePage(_ context.Context, userCode, csrf string) Outcome {
	if f.cfg.Device == nil {
		return fail(ErrNoDevice)
	}
	if len(userCode) > 32 {
		userCode = ""
	}
	return f.deviceForm(userCode, csrf, http.StatusOK, "", 0)
}

func (f *Flow) deviceForm(userCode, csrf string, status int, msg string, retryAfter int) Outcome {
	sealed, err := f.cfg.Requests.SealRequest(tokens.AuthRequest{DeviceForm: true, CSRF: csrf, Expires: f.cfg.Now().Add(deviceFormTTL).Unix()})
	if err != nil {
		return fail(fmt.Errorf("authorize: seal device form: %w", err))
	}
	return show(Page{Kind: PageDevice, Status: status, Request: sealed, UserCode: userCode, Error: msg, RetryAfter: retryAfter, Device: true})
}

// DeviceSubmit takes the verification form: a user code that names a
// pending device authorization starts its interaction (the login or
// consent page, or straight to the approval for a skip_consent client in
// a session); a wrong or expired one shows the form again (400); too many
// wrong ones from the address, 429 with Retry-After.
func (f *Flow) DeviceSubmit(ctx context.Context, in DeviceInput) Outcome {
	if f.cfg.Device == nil {
		return fail(ErrNoDevice)
	}
	form, ok := f.cfg.Requests.OpenRequest(in.Request)
	if !ok || !form.DeviceForm {
		return fail(ErrExpired)
	}
	if in.CSRF == "" || subtle.ConstantTimeCompare([]byte(in.CSRF), []byte(form.CSRF)) != 1 {
		return fail(ErrOtherBrowser)
	}
	typed := in.UserCode
	if len(typed) > 32 {
		typed = typed[:32]
	}
	buckets := f.deviceBuckets(in.RemoteIP)
	now := f.cfg.Now()
	if len(buckets) > 0 {
		wait, err := f.cfg.Device.Throttle.TakeAttempt(ctx, now, buckets)
		if err != nil {
			return fail(fmt.Errorf("authorize: device throttle: %w", err))
		}
		if wait > 0 {
			secs := int((wait + time.Second - 1) / time.Second)
			return f.deviceForm(typed, in.CSRF, http.StatusTooManyRequests, "Too many wrong codes. Wait a minute and try again.", secs)
		}
	}
	dev, err := f.cfg.Device.Devices.PendingDevice(ctx, in.UserCode)
	if errors.Is(err, tokens.ErrUnknownUserCode) {
		return f.deviceForm(typed, in.CSRF, http.StatusBadRequest, "That code is wrong or has expired. Check the code on your device and try again.", 0)
	} else if err != nil {
		return fail(err)
	}
	if len(buckets) > 0 { // a right code is not a guess
		if err := f.cfg.Device.Throttle.ReturnAttempt(context.WithoutCancel(ctx), now, buckets); err != nil {
			return fail(fmt.Errorf("authorize: device throttle: %w", err))
		}
	}
	client, err := f.client(ctx, dev.ClientID)
	if err != nil {
		return fail(err)
	}
	expires := min(dev.ExpiresAt.Unix(), now.Add(deviceFormTTL).Unix())
	it := &interaction{client: client, req: tokens.AuthRequest{ClientID: client.ID, Scope: dev.Scope, Device: dev.UserCode, Expires: expires}}
	if err := f.resume(ctx, it, authParams{maxAge: -1}, in.Session); err != nil {
		return fail(err)
	}
	it.req.CSRF = in.CSRF
	return it.withCookie(f.next(ctx, it, false))
}

// approveDevice records the approval once every prompt is resolved: the
// login's family id goes into the SSO session first (so that logging out
// ends the device's login, as for a code), then into the device
// authorization with who signed in, when, and in which session.
func (f *Flow) approveDevice(ctx context.Context, it *interaction) Outcome {
	if f.cfg.Device == nil {
		return fail(ErrNoDevice)
	}
	if it.req.FamilyID == "" {
		it.req.FamilyID = tokens.NewFamilyID()
	}
	if ok, err := f.enterSession(ctx, it); err != nil {
		return fail(err)
	} else if !ok { // the session ended since it signed the request in
		it.req.Subject, it.req.AuthTime, it.req.SessionID = "", 0, ""
		return f.next(ctx, it, false)
	}
	var amr []string
	if it.req.SessionID != "" {
		amr = []string{"pwd"}
	}
	err := f.cfg.Device.Devices.DecideDevice(ctx, it.req.Device, tokens.DeviceApproval{Approve: true, Subject: it.req.Subject,
		AuthTime: time.Unix(it.req.AuthTime, 0), SessionID: it.req.SessionID, FamilyID: it.req.FamilyID, AMR: amr})
	if errors.Is(err, tokens.ErrUnknownUserCode) {
		return fail(ErrDeviceGone.WithCause(err))
	} else if err != nil {
		return fail(err)
	}
	return show(Page{Kind: PageDeviceDone, Status: http.StatusOK, Client: clientName(it.client), Device: true,
		UserCode: tokens.FormatUserCode(it.req.Device)})
}

// ErrDeviceGone: the device authorization expired or was decided (in
// another tab) while the user signed in.
var ErrDeviceGone = oauth.New(oauth.InvalidRequest, "this device code has expired or was already used; start again on your device")

// denyDevice answers the device access_denied.
func (f *Flow) denyDevice(ctx context.Context, it *interaction) Outcome {
	err := f.cfg.Device.Devices.DecideDevice(ctx, it.req.Device, tokens.DeviceApproval{Approve: false})
	if errors.Is(err, tokens.ErrUnknownUserCode) {
		return fail(ErrDeviceGone.WithCause(err))
	} else if err != nil {
		return fail(err)
	}
	return show(Page{Kind: PageDeviceDone, Status: http.StatusOK, Client: clientName(it.client), Device: true, Denied: true,
		UserCode: tokens.FormatUserCode(it.req.Device)})
}

// deviceBuckets is the address's wrong-code bucket (IPv6 by /64), none
// for an address that cannot be parsed.
func (f *Flow) deviceBuckets(ip string) []store.Bucket {
	a, err := netip.ParseAddr(ip)
	if err != nil {
		return nil
	}
	a = a.Unmap()
	key := "dv:ip:" + a.String()
	if a.Is6() {
		p, _ := a.Prefix(64)
		key = "dv:ip:" + p.String()
	}
	return []store.Bucket{{Key: key, Every: f.cfg.Device.Every, Burst: f.cfg.Device.Burst}}
}
