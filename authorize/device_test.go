package authorize_test

import (
	"context"
	"errors"
	"net/http"
	"testing"
	"time"

	"github.com/authd-dev/authd/authorize"
	"github.com/authd-dev/authd/store"
	"github.com/authd-dev/authd/tokens"
)

// fakeDevices holds one pending device authorization, code BCDFGHJK of
// client "tv", and records decisions.
type fakeDevices struct {
	decided []tokens.DeviceApproval
	err     error
}

func (f *fakeDevices) PendingDevice(ctx context.Context, userCode string) (tokens.DeviceRequest, error) {
	if f.err != nil {
		return tokens.DeviceRequest{}, f.err
	}
	if tokens.NormalizeUserCode(userCode) != "BCDFGHJK" || len(f.decided) > 0 {
		return tokens.DeviceRequest{}, tokens.ErrUnknownUserCode
	}
	return tokens.DeviceRequest{UserCode: "BCDFGHJK", ClientID: "tv", Scope: "openid", ExpiresAt: time.Unix(1600, 0)}, nil
}

func (f *fakeDevices) DecideDevice(ctx context.Context, userCode string, d tokens.DeviceApproval) error {
	if len(f.decided) > 0 {
		return tokens.ErrUnknownUserCode
	}
	f.decided = append(f.decided, d)
	return nil
}

// fakeThrottle counts attempts; wait > 0 refuses them; err fails them.
type fakeThrottle struct {
	taken, returned int
	wait            time.Duration
	err             error
}

func (f *fakeThrottle) TakeAttempt(ctx context.Context, now time.Time, b []store.Bucket) (time.Duration, error) {
	if f.err != nil || f.wait > 0 {
		return f.wait, f.err
	}
	f.taken++
	return 0, nil
}

func (f *fakeThrottle) ReturnAttempt(ctx context.Context, now time.Time, b []store.Bucket) error {
	f.returned++
	return nil
}

func deviceFixture(t *testing.T) (*authorize.Flow, *fakeDevices, *fakeThrottle) {
	t.Helper()
	reqs := &fakeRequests{sealed: map[string]tokens.AuthRequest{}}
	devices, throttle := &fakeDevices{}, &fakeThrottle{}
	f, err := authorize.New(authorize.Config{Requests: reqs, Users: fakeUsers{}, Clients: fakeClients{"tv": {ID: "tv", Name: "Living Room TV"}},
		Consents: fakeConsents{}, Now: func() time.Time { return time.Unix(1000, 0) },
		Device: &authorize.DeviceConfig{Devices: devices, Throttle: throttle, Every: time.Minute, Burst: 3}})
	if err != nil {
		t.Fatal(err)
	}
	return f, devices, throttle
}

// TestDeviceVerification walks the page's states: the form, a wrong code,
// the right one, login, consent naming the client and the code, allow.
func TestDeviceVerification(t *testing.T) {
	ctx := context.Background()
	f, devices, throttle := deviceFixture(t)
	out := f.DevicePage(ctx, "bcdf-ghjk", "csrf-1")
	if out.Page == nil || out.Page.Kind != authorize.PageDevice || out.Page.UserCode != "bcdf-ghjk" || !out.Page.Device {
		t.Fatalf("device page: %+v", out)
	}
	form := out.Page.Request
	if out := f.DeviceSubmit(ctx, authorize.DeviceInput{Request: form, CSRF: "other", UserCode: "BCDF-GHJK", RemoteIP: "192.0.2.1"}); out.Failure == nil || !errors.Is(out.Failure.Err, authorize.ErrOtherBrowser) {
		t.Fatalf("form of another browser: %+v", out)
	}
	out = f.DeviceSubmit(ctx, authorize.DeviceInput{Request: form, CSRF: "csrf-1", UserCode: "ZZZZ-ZZZZ", RemoteIP: "192.0.2.1"})
	if out.Page == nil || out.Page.Kind != authorize.PageDevice || out.Page.Status != http.StatusBadRequest || out.Page.Error == "" {
		t.Fatalf("wrong code: %+v", out)
	}
	out = f.DeviceSubmit(ctx, authorize.DeviceInput{Request: form, CSRF: "csrf-1", UserCode: "bcdfghjk", RemoteIP: "192.0.2.1"})
	if out.Page == nil || out.Page.Kind != authorize.PageLogin || !out.Page.Device || out.Page.Client != "Living Room TV" {
		t.Fatalf("right code: %+v", out)
	}
	if throttle.taken != 2 || throttle.returned != 1 {
		t.Errorf("throttle: %d taken, %d returned; want 2 and 1 (a right code is given back)", throttle.taken, throttle.returned)
	}
	out = f.Continue(ctx, authorize.Input{Request: out.Page.Request, CSRF: "csrf-1", Username: "ann", Password: "right"})
	if out.Page == nil || out.Page.Kind != authorize.PageConsent || out.Page.UserCode != "BCDF-GHJK" || !out.Page.Device {
		t.Fatalf("after login: %+v", out)
	}
	out = f.Continue(ctx, authorize.Input{Request: out.Page.Request, CSRF: "csrf-1", Decision: "allow"})
	if out.Page == nil || out.Page.Kind != authorize.PageDeviceDone || out.Page.Denied {
		t.Fatalf("after allow: %+v", out)
	}
	if len(devices.decided) != 1 || !devices.decided[0].Approve || devices.decided[0].Subject != "u-ann" || devices.decided[0].FamilyID == "" {
		t.Errorf("decision %+v", devices.decided)
	}
}

// TestDeviceDenyAndFailures: deny decides the device; a full bucket is
// 429 with Retry-After; a throttle or store failure is the step's failure.
func TestDeviceDenyAndFailures(t *testing.T) {
	ctx := context.Background()
	f, devices, throttle := deviceFixture(t)
	form := f.DevicePage(ctx, "", "c").Page.Request
	out := f.DeviceSubmit(ctx, authorize.DeviceInput{Request: form, CSRF: "c", UserCode: "BCDF-GHJK", RemoteIP: "2001:db8::1"})
	out = f.Continue(ctx, authorize.Input{Request: out.Page.Request, CSRF: "c", Username: "ann", Password: "right"})
	out = f.Continue(ctx, authorize.Input{Request: out.Page.Request, CSRF: "c", Decision: "deny"})
	if out.Page == nil || out.Page.Kind != authorize.PageDeviceDone || !out.Page.Denied || len(devices.decided) != 1 || devices.decided[0].Approve {
		t.Fatalf("deny: %+v, decided %+v", out, devices.decided)
	}

	throttle.wait = 90 * time.Second
	out = f.DeviceSubmit(ctx, authorize.DeviceInput{Request: form, CSRF: "c", UserCode: "BCDF-GHJK", RemoteIP: "192.0.2.1"})
	if out.Page == nil || out.Page.Status != http.StatusTooManyRequests || out.Page.RetryAfter != 90 {
		t.Fatalf("throttled: %+v", out)
	}
	throttle.wait, throttle.err = 0, store.ErrUnavailable
	if out := f.DeviceSubmit(ctx, authorize.DeviceInput{Request: form, CSRF: "c", UserCode: "BCDF-GHJK", RemoteIP: "192.0.2.1"}); out.Failure == nil || !errors.Is(out.Failure.Err, store.ErrUnavailable) {
		t.Fatalf("throttle down: %+v", out)
	}
	throttle.err, devices.err = nil, store.ErrUnavailable
	if out := f.DeviceSubmit(ctx, authorize.DeviceInput{Request: form, CSRF: "c", UserCode: "BCDF-GHJK", RemoteIP: "192.0.2.1"}); out.Failure == nil || !errors.Is(out.Failure.Err, store.ErrUnavailable) {
		t.Fatalf("store down: %+v", out)
	}
	if out := f.DeviceSubmit(ctx, authorize.DeviceInput{Request: "tampered", CSRF: "c", UserCode: "BCDF-GHJK"}); out.Failure == nil || !errors.Is(out.Failure.Err, authorize.ErrExpired) {
		t.Fatalf("tampered form: %+v", out)
	}
}

// TestDeviceConfig: the page is off without a DeviceConfig, and an
// incomplete one is refused.
func TestDeviceConfig(t *testing.T) {
	reqs := &fakeRequests{sealed: map[string]tokens.AuthRequest{}}
	base := authorize.Config{Requests: reqs, Users: fakeUsers{}, Clients: fakeClients{}, Consents: fakeConsents{}, Now: time.Now}
	f, err := authorize.New(base)
	if err != nil {
		t.Fatal(err)
	}
	if out := f.DevicePage(context.Background(), "", "c"); out.Failure == nil || !errors.Is(out.Failure.Err, authorize.ErrNoDevice) {
		t.Errorf("device page without the grant: %+v", out)
	}
	base.Device = &authorize.DeviceConfig{Devices: &fakeDevices{}, Throttle: &fakeThrottle{}, Burst: 1}
	if _, err := authorize.New(base); err == nil {
		t.Error("a DeviceConfig without Every was accepted")
	}
}
