package tokens

import (
	"errors"
	"fmt"
	"testing"
	"time"
)

// TestHintsAcceptOnlyIDTokens: id_token_hint (OIDC Core §3.1.2.1) and the
// logout hint (RP-Initiated Logout §2) name a past sign-in, so only an ID
// token (typ JWT) counts; a back-channel logout token or an access token,
// signed with the same keys and addressed to the same client, does not.
func TestHintsAcceptOnlyIDTokens(t *testing.T) {
	f := newExchangeFixture(t)
	now := f.clock.Now()
	payload := fmt.Sprintf(`{"iss":%q,"sub":"u1","aud":"svc","iat":%d,"exp":%d,"jti":"j","sid":"s",`+
		`"events":{"http://schemas.openid.net/event/backchannel-logout":{}}}`, testIssuer, now.Unix(), now.Add(time.Minute).Unix())
	logoutToken, _, err := f.signer.Sign("RS256", "logout+jwt", []byte(payload))
	if err != nil {
		t.Fatal(err)
	}
	idToken := f.idToken(f.svcC)

	if sub, err := f.svc.IDTokenHint("svc", idToken); err != nil || sub != "u1" {
		t.Fatalf("ID token as id_token_hint: %q, %v; want u1", sub, err)
	}
	if _, err := f.svc.IDTokenHint("svc", logoutToken); !errors.Is(err, ErrBadIDTokenHint) {
		t.Errorf("logout token as id_token_hint: %v; want ErrBadIDTokenHint", err)
	}
	if _, err := f.svc.LogoutHint(logoutToken); err == nil {
		t.Error("logout token accepted as a logout id_token_hint")
	}
	if _, err := f.svc.LogoutHint(idToken); err != nil {
		t.Errorf("ID token as logout hint: %v", err)
	}
}
