package verifier_test

import (
	"errors"
	"os/exec"
	"slices"
	"strings"
	"testing"
)

// allowedModules is the whole dependency list of the verifier module: a
// resource server that imports the verifier pulls in nothing else.
var allowedModules = []string{
	"github.com/authd-dev/authd/verifier",
	"github.com/go-jose/go-jose/v4",
	"golang.org/x/sync",
}

// TestDependencyListStaysShort fails when the verifier module gains a
// dependency beyond the standard library, go-jose v4 and x/sync, in its
// module graph (go.mod, test dependencies included) or in what its
// packages and their tests actually import. It also catches an import of
// authd itself, which the replace in authd's go.mod would otherwise hide.
func TestDependencyListStaysShort(t *testing.T) {
	mods := goList(t, "list", "-m", "-f", "{{.Path}}", "all")
	for _, m := range mods {
		if !slices.Contains(allowedModules, m) {
			t.Errorf("module graph has %s; the verifier may depend only on %v", m, allowedModules)
		}
	}
	pkgs := goList(t, "list", "-deps", "-test", "-f", "{{if not .Standard}}{{.ImportPath}}{{end}}", "./...")
	for _, p := range pkgs {
		p, _, _ = strings.Cut(p, " ") // "pkg [pkg.test]"
		if p == "" {
			continue
		}
		if strings.HasPrefix(p, "github.com/authd-dev/authd/") && !strings.HasPrefix(p, "github.com/authd-dev/authd/verifier") {
			t.Errorf("the verifier imports %s: it must import nothing of authd", p)
			continue
		}
		if !slices.ContainsFunc(allowedModules, func(m string) bool {
			return p == m || strings.HasPrefix(p, m+"/") || strings.HasPrefix(p, m+".") || strings.HasPrefix(p, m+"_")
		}) {
			t.Errorf("the verifier's packages import %s, outside %v", p, allowedModules)
		}
	}
}

// goList runs the go command in the module's directory and returns its
// non-empty output lines.
func goList(t *testing.T, args ...string) []string {
	t.Helper()
	cmd := exec.Command("go", args...)
	cmd.Env = append(cmd.Environ(), "GOWORK=off")
	out, err := cmd.Output()
	if err != nil {
		var ee *exec.ExitError
		if errors.As(err, &ee) {
			t.Fatalf("go %s: %v: %s", strings.Join(args, " "), err, ee.Stderr)
		}
		t.Fatalf("go %s: %v", strings.Join(args, " "), err)
	}
	var lines []string
	for l := range strings.SplitSeq(strings.TrimSpace(string(out)), "\n") {
		if l = strings.TrimSpace(l); l != "" {
			lines = append(lines, l)
		}
	}
	if len(lines) == 0 {
		t.Fatalf("go %s printed nothing", strings.Join(args, " "))
	}
	return lines
}
