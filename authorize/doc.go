// Package authorize is the browser side of the OpenID Connect
// authorization-code flow (RFC 6749 §4.1, OIDC Core §3.1.2) as a domain
// state machine: authorization request → login → consent → redirect with a
// code. It knows nothing of HTTP. Each step returns an Outcome:
//
//   - a Page to render, with its data (the login or consent form);
//   - a Redirect back to the client, with its parameters;
//   - a Failure, which says whether it may be sent to the client's
//     redirect_uri (RFC 6749 §4.1.2.1: only once the client and the
//     redirect_uri are validated) or must be shown to the user.
//
// The HTTP layer (package server) decodes the request, calls a step,
// classifies a Failure's error and renders the Outcome in its medium.
//
// # Prompts
//
// What the user has to do before a code is issued is a list of prompts,
// evaluated in order (the model of node-oidc-provider's interaction
// policy): the first prompt still needed is shown; when none is, the code
// is issued. Each prompt names the error that answers a request with
// prompt=none when it would have to be shown (OIDC Core §3.1.2.6:
// login_required, consent_required). Today the policy is
//
//	login   needed until the user has signed in in this interaction
//	consent needed unless the client skips consent or the user allowed it
//	        every requested scope before (remembered in the store), until
//	        the user allows; prompt=consent makes it needed in every case
//	        (consent.go)
//
// An SSO session (session.go) resolves login before the prompts are
// evaluated, unless the request asks to authenticate again (prompt=login
// or select_account, max_age exceeded, an id_token_hint of another user);
// a sign-in starts a new session, whose cookie the Outcome hands to the
// HTTP layer. Remembered consent (consent.go) resolves consent with one
// store read once the user is known, and a second factor is a prompt
// between the two.
//
// The pending interaction travels sealed in the page (tokens.SealRequest),
// bound to the browser by a CSRF value the HTTP layer keeps in a cookie.
package authorize
