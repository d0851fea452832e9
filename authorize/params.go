package authorize

import (
	"github.com/authd-dev/authd/oauth"
	"github.com/authd-dev/authd/tokens"
)

// checkParams applies the rules of the authorization request's
// parameters that the tokens service does not judge, once the client and
// redirect_uri are known good (so the error goes back to the client):
//
//   - request and request_uri (OIDC Core §6): authd takes neither (its
//     discovery says request_parameter_supported and
//     request_uri_parameter_supported false), so a request carrying one is
//     answered request_not_supported / request_uri_not_supported (§6.1,
//     §6.2; OpenID Foundation modules
//     oidcc-ensure-request-object-with-redirect-uri, oidcc-request-uri-unsigned);
//   - response_mode (OAuth 2.0 Multiple Response Types §2.1): query (the
//     default of the code flow) or form_post (OAuth 2.0 Form Post Response
//     Mode §2); anything else, or a repeated value, is invalid_request;
//   - claims (OIDC Core §5.5): parsed into req.Claims (tokens.ParseClaimsRequest).
func checkParams(q map[string][]string, req *tokens.AuthRequest) error {
	if len(q["request"]) > 0 {
		return oauth.New(oauth.RequestNotSupported, "the request parameter (a request object) is not supported")
	}
	if len(q["request_uri"]) > 0 {
		return oauth.New(oauth.RequestURINotSupported, "the request_uri parameter is not supported")
	}
	switch modes := q["response_mode"]; {
	case len(modes) > 1:
		return oauth.New(oauth.InvalidRequest, `parameter "response_mode" is repeated`)
	case len(modes) == 1 && modes[0] != oauth.ResponseModeQuery && modes[0] != oauth.ResponseModeFormPost:
		return oauth.New(oauth.InvalidRequest, "unsupported response_mode %q (query or form_post)", modes[0])
	}
	if len(q["claims"]) > 1 {
		return oauth.New(oauth.InvalidRequest, `parameter "claims" is repeated`)
	}
	var claims string
	if len(q["claims"]) == 1 {
		claims = q["claims"][0]
	}
	c, err := tokens.ParseClaimsRequest(claims)
	if err != nil {
		return err
	}
	req.Claims = c
	return nil
}

// formPost reports whether the request asked for response_mode=form_post
// (exactly once): then every answer to the client, errors included, is
// an auto-submitting form (Form Post Response Mode §2).
func formPost(q map[string][]string) bool {
	m := q["response_mode"]
	return len(m) == 1 && m[0] == oauth.ResponseModeFormPost
}
