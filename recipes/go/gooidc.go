package recipes

// recipe:begin go-oidc
import (
	"context"
	"fmt"
	"strings"

	"github.com/coreos/go-oidc/v3/oidc"
	jose "github.com/go-jose/go-jose/v4"
)

// GoOIDC checks authd access tokens with coreos/go-oidc. go-oidc is made
// for ID tokens, but its IDTokenVerifier checks what an access token needs
// too: the signature with a key of the issuer's JWKS (by kid, refetched
// when unknown), the alg against SupportedSigningAlgs, iss, aud (ClientID
// is the audience to expect), exp and nbf. It does NOT check the "typ"
// header, so an ID token of the same issuer for this audience would pass:
// Verify checks typ itself (RFC 9068 §4). It does not check iat either, and
// puts no lower bound on JWKS refetches.
type GoOIDC struct {
	verifier *oidc.IDTokenVerifier
}

// algorithms is the allowlist: the algorithms authd signs with.
var algorithms = []string{"RS256", "ES256"}

// NewGoOIDC reads the issuer's discovery document and returns a GoOIDC
// for tokens meant for audience. go-oidc fetches the JWKS later with ctx,
// so ctx must live as long as the GoOIDC (not a request's context).
func NewGoOIDC(ctx context.Context, issuer, audience string) (*GoOIDC, error) {
	provider, err := oidc.NewProvider(ctx, issuer) // checks the document's issuer
	if err != nil {
		return nil, err
	}
	return &GoOIDC{verifier: provider.Verifier(&oidc.Config{
		ClientID:             audience,
		SupportedSigningAlgs: algorithms,
	})}, nil
}

// Verify returns the verified token; Claims(&v) decodes scope, client_id,
// roles, ….
func (g *GoOIDC) Verify(ctx context.Context, raw string) (*oidc.IDToken, error) {
	tok, err := g.verifier.Verify(ctx, raw)
	if err != nil {
		return nil, err
	}
	// The signature verified, so the header is the issuer's: check typ.
	jws, err := jose.ParseSigned(raw, []jose.SignatureAlgorithm{jose.RS256, jose.ES256})
	if err != nil {
		return nil, err
	}
	typ, _ := jws.Signatures[0].Protected.ExtraHeaders[jose.HeaderType].(string)
	if t := strings.ToLower(typ); t != "at+jwt" && t != "application/at+jwt" {
		return nil, fmt.Errorf("typ %q is not at+jwt", typ)
	}
	return tok, nil
}

// recipe:end go-oidc
