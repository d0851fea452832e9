package authorize_test

import (
	"bytes"
	"context"
	"errors"
	"net/url"
	"testing"
	"time"

	"github.com/authd-dev/authd/authorize"
	"github.com/authd-dev/authd/oauth"
	"github.com/authd-dev/authd/store"
	"github.com/authd-dev/authd/tokens"
)

// fakeProofs answers every proof check with out/err and keeps the request.
type fakeProofs struct {
	got tokens.DPoPRequest
	out tokens.CheckedProof
	err error
}

func (f *fakeProofs) CheckProof(ctx context.Context, r tokens.DPoPRequest) (tokens.CheckedProof, error) {
	f.got = r
	return f.out, f.err
}

// TestPushWithDPoPProof: a DPoP proof on the pushed request (RFC 9449
// §10.1) binds the code as dpop_jkt does; a dpop_jkt of another key, or a
// proof the checker refuses, stores nothing.
func TestPushWithDPoPProof(t *testing.T) {
	ctx := context.Background()
	client := store.Client{ID: "web", RedirectURIs: []string{redirect}}
	parURL, _ := url.Parse("https://auth.example/oauth2/par")
	proof := tokens.DPoPRequest{Proofs: []string{"a.proof.jwt"}, Method: "POST", URL: parURL}
	newFlow := func(proofs *fakeProofs) (*authorize.Flow, *fakePushed) {
		pushed := &fakePushed{recs: map[string][]byte{}}
		f, err := authorize.New(authorize.Config{Requests: &fakeRequests{sealed: map[string]tokens.AuthRequest{}}, Users: fakeUsers{},
			Clients: fakeClients{"web": {ID: "web", Name: "Web", RedirectURIs: []string{redirect}}}, Consents: fakeConsents{},
			Now: func() time.Time { return time.Unix(1000, 0) }, Pushed: pushed, PushedLifetime: time.Minute, Proofs: proofs})
		if err != nil {
			t.Fatal(err)
		}
		return f, pushed
	}
	stored := func(t *testing.T, pushed *fakePushed) []byte {
		t.Helper()
		if len(pushed.recs) != 1 {
			t.Fatalf("%d records stored; want 1", len(pushed.recs))
		}
		for _, raw := range pushed.recs {
			return raw
		}
		return nil
	}

	t.Run("the proof's key becomes dpop_jkt", func(t *testing.T) {
		proofs := &fakeProofs{out: tokens.CheckedProof{JKT: "jkt-of-the-proof", Nonce: "fresh-nonce"}}
		f, pushed := newFlow(proofs)
		p, err := f.Push(ctx, client, query("web"), proof)
		if err != nil {
			t.Fatal(err)
		}
		if proofs.got.URL != parURL || proofs.got.Method != "POST" || len(proofs.got.Proofs) != 1 {
			t.Errorf("checker got %+v; want the PAR request's proof", proofs.got)
		}
		if raw := stored(t, pushed); !bytes.Contains(raw, []byte("dpop_jkt=jkt-of-the-proof")) {
			t.Errorf("stored %s; want dpop_jkt of the proof's key", raw)
		}
		if p.DPoPNonce != "fresh-nonce" {
			t.Errorf("DPoPNonce %q; want the checker's fresh nonce", p.DPoPNonce)
		}
	})
	t.Run("the same key twice", func(t *testing.T) {
		f, pushed := newFlow(&fakeProofs{out: tokens.CheckedProof{JKT: "k1"}})
		if _, err := f.Push(ctx, client, query("web", "dpop_jkt", "k1"), proof); err != nil {
			t.Fatal(err)
		}
		stored(t, pushed)
	})
	t.Run("dpop_jkt of another key", func(t *testing.T) {
		f, pushed := newFlow(&fakeProofs{out: tokens.CheckedProof{JKT: "k1"}})
		_, err := f.Push(ctx, client, query("web", "dpop_jkt", "k2"), proof)
		if e := oauth.As(err); e == nil || e.Code != oauth.InvalidDPoPProof {
			t.Fatalf("err %v; want invalid_dpop_proof", err)
		}
		if len(pushed.recs) != 0 {
			t.Error("a refused push was stored")
		}
	})
	t.Run("a refused proof", func(t *testing.T) {
		refused := oauth.New(oauth.InvalidDPoPProof, "bad")
		f, pushed := newFlow(&fakeProofs{err: refused})
		if _, err := f.Push(ctx, client, query("web"), proof); !errors.Is(err, refused) {
			t.Fatalf("err %v; want the checker's", err)
		}
		if len(pushed.recs) != 0 {
			t.Error("a refused push was stored")
		}
	})
	t.Run("no proof", func(t *testing.T) {
		f, pushed := newFlow(&fakeProofs{})
		if _, err := f.Push(ctx, client, query("web"), tokens.DPoPRequest{}); err != nil {
			t.Fatal(err)
		}
		if raw := stored(t, pushed); bytes.Contains(raw, []byte("dpop_jkt")) {
			t.Errorf("stored %s; want no dpop_jkt without a proof", raw)
		}
	})
}
