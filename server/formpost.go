package server

import (
	"crypto/sha256"
	"encoding/base64"
	"html/template"
	"net/http"
	"net/url"
	"slices"
	"strings"

	"github.com/authd-dev/authd/authorize"
)

// OAuth 2.0 Form Post Response Mode (response_mode=form_post): the
// authorization response — code or error, with state and iss — is sent
// as an HTML form that the browser POSTs to the redirect_uri
// (application/x-www-form-urlencoded, §2), submitted by a one-line script
// or, without JavaScript, by the user's click on a <noscript> button.
//
// The page's CSP allows that one script only (by its SHA-256 hash, CSP
// Level 2 §4.2.4), nothing else to load, and the form to go only to the
// redirect_uri (form-action).

// formPostScript submits the form; formPostCSP carries its hash.
const formPostScript = `document.forms[0].submit()`

var formPostScriptHash = func() string {
	sum := sha256.Sum256([]byte(formPostScript))
	return "'sha256-" + base64.StdEncoding.EncodeToString(sum[:]) + "'"
}()

var formPostPage = template.Must(template.New("form_post").Parse(`<!doctype html>
<html lang="en">
<head><meta charset="utf-8"><meta name="viewport" content="width=device-width, initial-scale=1"><title>Returning to the application</title></head>
<body>
<form method="post" action="{{.Action}}">
{{- range .Fields}}
<input type="hidden" name="{{.Name}}" value="{{.Value}}">
{{- end}}
<noscript><p>Continue to the application.</p><button type="submit">Continue</button></noscript>
</form>
<script>` + formPostScript + `</script>
</body>
</html>
`))

type formField struct{ Name, Value string }

// answerClient sends the flow's answer to the client: a redirect with the
// parameters in the query, or the form_post page.
func (s *Server) answerClient(w http.ResponseWriter, r *http.Request, back authorize.Redirect, params url.Values) {
	if !back.FormPost {
		s.redirect(w, r, back.URI, back.State, params)
		return
	}
	s.formPost(w, r, back.URI, back.State, params)
}

// answerClientError sends err back to the client's validated redirect_uri
// (RFC 6749 §4.1.2.1) in the request's response mode: errors of a
// form_post request are posted too (Form Post Response Mode §2).
func (s *Server) answerClientError(w http.ResponseWriter, r *http.Request, back authorize.Redirect, err error) {
	if !back.FormPost {
		s.redirectError(w, r, back.URI, back.State, err)
		return
	}
	f := s.classify(r, err)
	if f.gone {
		w.WriteHeader(StatusClientClosedRequest)
		return
	}
	p := url.Values{"error": {f.Code}}
	if f.Description != "" {
		p.Set("error_description", f.Description)
	}
	s.formPost(w, r, back.URI, back.State, p)
}

// formPost writes the auto-submitting form with params, state and iss
// (RFC 9207 §2).
func (s *Server) formPost(w http.ResponseWriter, r *http.Request, target, state string, params url.Values) {
	if state != "" {
		params.Set("state", state)
	}
	params.Set("iss", s.cfg.Issuer)
	names := make([]string, 0, len(params))
	for k := range params {
		names = append(names, k)
	}
	slices.Sort(names)
	var fields []formField
	for _, k := range names {
		for _, v := range params[k] {
			fields = append(fields, formField{k, v})
		}
	}
	h := w.Header()
	h.Set("Content-Type", "text/html; charset=utf-8")
	h.Set("Cache-Control", "no-store")
	h.Set("X-Frame-Options", "DENY")
	h.Set("Content-Security-Policy", "default-src 'none'; script-src "+formPostScriptHash+
		"; form-action "+formAction(target)+"; base-uri 'none'; frame-ancestors 'none'")
	h.Set("Referrer-Policy", "no-referrer")
	w.WriteHeader(http.StatusOK)
	if err := formPostPage.Execute(w, struct {
		Action string
		Fields []formField
	}{target, fields}); err != nil {
		s.log.WarnContext(r.Context(), "render form_post", "err", err)
	}
}

// formAction is the CSP source that allows posting to target: the URI
// itself (scheme, host, path) when it can be written as a CSP source
// expression (CSP Level 3 §2.3.1: no query, no spaces, semicolons or
// commas), else its origin.
func formAction(target string) string {
	u, err := url.Parse(target)
	if err != nil || u.Host == "" {
		return "'none'"
	}
	origin := u.Scheme + "://" + u.Host
	path := u.EscapedPath()
	if strings.ContainsAny(path, " ;,'") {
		return origin
	}
	return origin + path
}
