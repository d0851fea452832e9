package server

import (
	"bytes"
	"crypto/sha256"
	"embed"
	"encoding/hex"
	"errors"
	"fmt"
	"html/template"
	"io"
	"io/fs"
	"net/http"
	"os"
	"path"
	"path/filepath"
	"strings"
	"time"

	"github.com/gorilla/mux"

	"github.com/authd-dev/authd/oauth"
)

// PathUI is where the pages' static files (stylesheets, images) are
// served, under the issuer: PathUI + "authd.css", or an operator's file
// from --ui-dir.
const PathUI = "/ui/"

// Limits on an operator's UI directory (--ui-dir): it is read once, at
// start, into memory.
const (
	maxUIFileBytes  = 1 << 20
	maxUITotalBytes = 16 << 20
	maxUIFiles      = 64
)

// pageTemplates are the templates a UI is made of: "layout" (the page
// around the content; it also defines "client" and "client-links") and
// one content template per page kind.
var pageTemplates = []string{"layout", "login", "consent", "error", "logout", "device", "device-done"}

// uiTypes are the static files an operator's UI directory may hold, by
// extension, with the Content-Type they are served with. No scripts: the
// only one is authd's own logout.js (logoutScript), never replaced.
var uiTypes = map[string]string{
	".css":  "text/css; charset=utf-8",
	".png":  "image/png",
	".svg":  "image/svg+xml",
	".jpg":  "image/jpeg",
	".jpeg": "image/jpeg",
	".gif":  "image/gif",
	".webp": "image/webp",
	".ico":  "image/x-icon",
}

// logoutScript is the signed-out page's bounded wait for front-channel
// logout iframes (Front-Channel Logout 1.0 §4), embedded only: the one
// script any page runs, and only that page (script-src 'self').
const logoutScript = "logout.js"

//go:embed ui
var embeddedUI embed.FS

// ErrUIDir is an operator UI directory that cannot be used: unreadable, a
// file of an unsupported type or too large, or a template that does not
// parse, does not render, or lost a contract input.
var ErrUIDir = errors.New("server: unusable UI directory")

// staticFile is one file served under PathUI.
type staticFile struct {
	body  []byte
	ctype string
	etag  string
}

// ui is the parsed page templates and the static files, fixed at start.
type ui struct {
	pages  map[string]*template.Template
	static map[string]staticFile
	// styles are the stylesheet URLs every page links: authd.css, then
	// the operator's custom.css when there is one.
	styles []string
	// logo is the operator's logo (logo.svg, logo.png or logo.webp), or "".
	logo string
	// script is the URL of logoutScript.
	script string
}

// loadUI builds the UI: the embedded templates and stylesheet, each
// replaced by the operator's file of the same name in dir (when dir is
// set), plus the operator's other static files. base is the path under
// which PathUI is served (the issuer's path). Every template is rendered
// once with sample data, so a broken one stops authd at start instead of
// failing a user's sign-in.
func loadUI(dir, base string) (*ui, error) {
	files := map[string][]byte{}
	err := fs.WalkDir(embeddedUI, "ui", func(p string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		b, err := embeddedUI.ReadFile(p)
		files[path.Base(p)] = b
		return err
	})
	if err != nil {
		return nil, fmt.Errorf("server: embedded UI: %w", err)
	}
	if dir != "" {
		if err := readUIDir(dir, files); err != nil {
			return nil, err
		}
	}
	u := &ui{pages: map[string]*template.Template{}, static: map[string]staticFile{}}
	for name, b := range files {
		ext := strings.ToLower(path.Ext(name))
		if ext == ".html" {
			continue
		}
		ctype := uiTypes[ext]
		if name == logoutScript {
			ctype = "text/javascript; charset=utf-8"
		}
		sum := sha256.Sum256(b)
		u.static[name] = staticFile{body: b, ctype: ctype, etag: `"` + hex.EncodeToString(sum[:12]) + `"`}
	}
	url := func(name string) string {
		// The version query changes with the content, so browsers may
		// keep the file for a year (see serveUI).
		return base + PathUI + name + "?v=" + strings.Trim(u.static[name].etag, `"`)
	}
	u.styles = []string{url("authd.css")}
	u.script = url(logoutScript)
	if _, ok := u.static["custom.css"]; ok {
		u.styles = append(u.styles, url("custom.css"))
	}
	for _, l := range []string{"logo.svg", "logo.png", "logo.webp"} {
		if _, ok := u.static[l]; ok {
			u.logo = url(l)
			break
		}
	}
	layout, err := template.New("layout").Parse(string(files["layout.html"]))
	if err != nil {
		return nil, fmt.Errorf("%w: layout.html: %w", ErrUIDir, err)
	}
	for _, kind := range pageTemplates[1:] {
		t, err := layout.Clone()
		if err == nil {
			_, err = t.New(kind).Parse(string(files[kind+".html"]))
		}
		if err != nil {
			return nil, fmt.Errorf("%w: %s.html: %w", ErrUIDir, kind, err)
		}
		if t.Lookup("content") == nil {
			return nil, fmt.Errorf("%w: %s.html must define the \"content\" template", ErrUIDir, kind)
		}
		u.pages[kind] = t
		if err := u.check(kind); err != nil {
			return nil, err
		}
	}
	return u, nil
}

// readUIDir reads the operator's files over the embedded ones: templates
// by name (layout.html, login.html, consent.html, error.html), static
// files of the types in uiTypes. Dotfiles are skipped; subdirectories and
// anything else are an error, so that a typo does not pass silently.
func readUIDir(dir string, files map[string][]byte) error {
	entries, err := os.ReadDir(dir)
	if err != nil {
		return fmt.Errorf("%w: %w", ErrUIDir, err)
	}
	total, n := 0, 0
	for _, e := range entries {
		name := e.Name()
		if strings.HasPrefix(name, ".") {
			continue
		}
		ext := strings.ToLower(path.Ext(name))
		switch {
		case !e.Type().IsRegular() && e.Type()&fs.ModeSymlink == 0:
			return fmt.Errorf("%w: %s: only files are read (no subdirectories)", ErrUIDir, name)
		case ext == ".html" && !isPageTemplate(strings.TrimSuffix(name, ".html")):
			return fmt.Errorf("%w: %s: templates are %s.html", ErrUIDir, name, strings.Join(pageTemplates, ".html, "))
		case ext != ".html" && uiTypes[ext] == "":
			return fmt.Errorf("%w: %s: unsupported file type (templates .html; static .css, .png, .svg, .jpg, .gif, .webp, .ico)", ErrUIDir, name)
		}
		if n++; n > maxUIFiles {
			return fmt.Errorf("%w: more than %d files", ErrUIDir, maxUIFiles)
		}
		f, err := os.Open(filepath.Join(dir, name))
		if err != nil {
			return fmt.Errorf("%w: %w", ErrUIDir, err)
		}
		b, err := io.ReadAll(io.LimitReader(f, maxUIFileBytes+1))
		f.Close()
		switch {
		case err != nil:
			return fmt.Errorf("%w: %s: %w", ErrUIDir, name, err)
		case len(b) > maxUIFileBytes:
			return fmt.Errorf("%w: %s is larger than %d bytes", ErrUIDir, name, maxUIFileBytes)
		}
		if total += len(b); total > maxUITotalBytes {
			return fmt.Errorf("%w: the files are larger than %d bytes in all", ErrUIDir, maxUITotalBytes)
		}
		files[name] = b
	}
	return nil
}

func isPageTemplate(name string) bool {
	for _, t := range pageTemplates {
		if t == name {
			return true
		}
	}
	return false
}

// contractInputs are what each page must keep, whoever wrote its
// template (CONTRACT.md: login inputs username and password, consent
// button decision=allow; every form posts the sealed request back).
var contractInputs = map[string][]string{
	"login":   {`name="request"`, `name="username"`, `name="password"`},
	"consent": {`name="request"`, `name="decision" value="allow"`, `name="decision" value="deny"`},
	"logout":  {`name="request"`, `name="decision" value="logout"`},
	"device":  {`name="request"`, `name="user_code"`},
}

// check renders the page kind with sample data and looks for its
// contract inputs.
func (u *ui) check(kind string) error {
	p := page{Kind: kind, Lang: "en", Title: "Sample", Client: clientView{Name: "Sample app", LogoURI: "https://app.example/logo.png",
		PolicyURI: "https://app.example/privacy", TOSURI: "https://app.example/terms"},
		Action: "/oauth2/authorize/login", Request: "sample", Username: "sample", Error: "Sample error",
		Scopes:  []scopeView{{Name: "openid", Text: "Confirm who you are", Described: true}, {Name: "custom", Text: "Use custom"}},
		Account: "sample", SwitchAccount: true, Code: "invalid_request", Detail: "sample", Hint: "sample",
		Frames: []string{"https://app.example/logout?iss=x&sid=y"}, Continue: "https://app.example/bye", Refresh: "0;url=https://app.example/bye",
		Script: u.script, WaitMS: frontchannelWait.Milliseconds(),
		Styles: u.styles, Logo: u.logo, UserCode: "BCDF-GHJK"}
	var buf bytes.Buffer
	if err := u.pages[kind].ExecuteTemplate(&buf, "layout", p); err != nil {
		return fmt.Errorf("%w: %s.html does not render: %w", ErrUIDir, kind, err)
	}
	for _, want := range contractInputs[kind] {
		if !bytes.Contains(buf.Bytes(), []byte(want)) {
			return fmt.Errorf("%w: the %s page has no %s (a contract input)", ErrUIDir, kind, want)
		}
	}
	return nil
}

// uiCSP is the CSP of the static files themselves: an SVG opened on its
// own runs nothing and loads nothing.
const uiCSP = "default-src 'none'; style-src 'unsafe-inline'; frame-ancestors 'none'; sandbox"

// serveUI serves a static file of the UI. A request naming the file's
// current version (?v=, as the pages link it) may be cached for a year;
// any other for five minutes. ETag and If-None-Match via ServeContent.
func (s *Server) serveUI(w http.ResponseWriter, r *http.Request) {
	f, ok := s.ui.static[mux.Vars(r)["file"]]
	if !ok {
		writeJSON(w, http.StatusNotFound, errorBody{Error: oauth.NotFound, Description: "no such file"})
		return
	}
	h := w.Header()
	h.Set("Content-Type", f.ctype)
	h.Set("ETag", f.etag)
	h.Set("X-Content-Type-Options", "nosniff")
	h.Set("Content-Security-Policy", uiCSP)
	if v := r.URL.Query().Get("v"); v != "" && `"`+v+`"` == f.etag {
		h.Set("Cache-Control", "public, max-age=31536000, immutable")
	} else {
		h.Set("Cache-Control", "public, max-age=300")
	}
	http.ServeContent(w, r, "", time.Time{}, bytes.NewReader(f.body))
}
