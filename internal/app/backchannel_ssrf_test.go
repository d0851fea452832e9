package app_test

import (
	"encoding/base64"
	"log/slog"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/authd-dev/authd/internal/app"
)

// TestBackchannelRefusedOutsideDev: backchannel_logout_uri is chosen by
// whoever registers the client (with --dynamic-registration open, anyone),
// and http is accepted on a loopback host. Outside --dev the logout-token
// POST must meet the same SSRF guard as a jwks_uri fetch (RFC 9700 §4.15
// spirit; OIDC Back-Channel Logout 1.0 §2.5 lets the OP refuse): authd
// must not be made to POST into its own host or network. Here the client
// points at a loopback receiver; after the admin ends the session the
// delivery is given up and the receiver was never reached.
func TestBackchannelRefusedOutsideDev(t *testing.T) {
	var logs syncBuffer
	token := base64.RawURLEncoding.EncodeToString([]byte("an admin token for this test only!"))
	in := startApp(t, "", slog.LevelWarn, app.Options{Argon2: testArgon2, Logger: slog.New(slog.NewTextHandler(&logs, &slog.HandlerOptions{Level: slog.LevelWarn}))},
		"--dev=false", "--admin-token", token, "--kek", newKEK(), "--dynamic-registration", "open")
	ra := newLogoutReceiver(t, 0, 0)
	// The same metadata passes dynamic registration (checkLogoutURIs);
	// the admin API is used here only for skip_consent.
	sc := newLogoutClient(t, in, "app-a", ra)
	u := in.createUser("ann", "password-of-ann")
	b := browser(t)
	ta := sc.exchange(t, sc.login(t, b, "ann", "password-of-ann"))
	sid := claimsOf(t, ta.IDToken).SID
	if st := in.admin(http.MethodDelete, "/admin/users/"+u.ID+"/sessions/"+sid, nil, nil); st != http.StatusNoContent {
		t.Fatalf("delete session: %d", st)
	}
	if !eventually(t, 15*time.Second, func() bool {
		return strings.Contains(logs.String(), "back-channel logout not delivered") || func() bool { _, n := ra.tokens(); return n > 0 }()
	}) {
		t.Fatalf("the back-channel delivery neither reached the receiver nor gave up; logs:\n%s", logs.String())
	}
	if _, hits := ra.tokens(); hits != 0 {
		t.Fatalf("authd POSTed %d times to a loopback backchannel_logout_uri outside --dev (SSRF)", hits)
	}
}
