package server

import (
	"html/template"
	"net/http"
	"strconv"

	"github.com/authd-dev/authd/authorize"
)

var pages = template.Must(template.New("page").Parse(`<!doctype html>
<html lang="en"><head><meta charset="utf-8"><meta name="viewport" content="width=device-width">
<title>{{.Title}}</title>
<style>body{font-family:system-ui,sans-serif;max-width:22rem;margin:4rem auto;padding:0 1rem;color:#222}
h1{font-size:1.3rem}label{display:block;margin:.8rem 0 .2rem}input[type=text],input[type=password]{width:100%;padding:.5rem;box-sizing:border-box}
button{margin-top:1rem;padding:.5rem 1rem}.error{color:#a00}.scopes{background:#f4f4f4;padding:.5rem}</style></head><body>
<h1>{{.Title}}</h1>
{{if .Error}}<p class="error" role="alert">{{.Error}}</p>{{end}}
{{if eq .Kind "login"}}
<p>Sign in to continue to <strong>{{.Client}}</strong>.</p>
<form method="post" action="{{.Action}}">
<input type="hidden" name="request" value="{{.Request}}">
<label for="username">Username</label><input id="username" type="text" name="username" autocomplete="username" autofocus required value="{{.Username}}">
<label for="password">Password</label><input id="password" type="password" name="password" autocomplete="current-password" required>
<button type="submit">Sign in</button>
</form>
{{else if eq .Kind "consent"}}
<p><strong>{{.Client}}</strong> asks for access to your account{{if .Scopes}} with these permissions:{{end}}</p>
{{if .Scopes}}<p class="scopes">{{range .Scopes}}{{.}} {{end}}</p>{{end}}
<form method="post" action="{{.Action}}">
<input type="hidden" name="request" value="{{.Request}}">
<button type="submit" name="decision" value="allow">Allow</button>
<button type="submit" name="decision" value="deny">Deny</button>
</form>
{{end}}
</body></html>
`))

// page is the template's data.
type page struct {
	Kind, Title, Error, Client, Action, Request, Username string
	Scopes                                                []string
}

// titles of the flow's pages.
var titles = map[authorize.PageKind]string{
	authorize.PageLogin:   "Sign in",
	authorize.PageConsent: "Allow access?",
}

// showPage renders a page of the browser flow.
func (s *Server) showPage(w http.ResponseWriter, r *http.Request, p *authorize.Page) {
	if p.RetryAfter > 0 {
		w.Header().Set("Retry-After", strconv.Itoa(p.RetryAfter))
	}
	s.renderPage(w, r, p.Status, page{Kind: string(p.Kind), Title: titles[p.Kind], Error: p.Error, Client: p.Client,
		Action: s.loginAction(), Request: p.Request, Username: p.Username, Scopes: p.Scopes})
}

// renderPage writes an HTML page that must never be cached or framed.
func (s *Server) renderPage(w http.ResponseWriter, r *http.Request, status int, p page) {
	h := w.Header()
	h.Set("Content-Type", "text/html; charset=utf-8")
	h.Set("Cache-Control", "no-store")
	h.Set("X-Frame-Options", "DENY")
	h.Set("Content-Security-Policy", "default-src 'none'; style-src 'unsafe-inline'; frame-ancestors 'none'")
	h.Set("Referrer-Policy", "no-referrer")
	w.WriteHeader(status)
	if err := pages.Execute(w, p); err != nil {
		s.log.WarnContext(r.Context(), "render page", "kind", p.Kind, "err", err)
	}
}
