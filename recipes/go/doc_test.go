package recipes

import (
	"os"
	"regexp"
	"strings"
	"testing"
)

// TestDocQuotesRecipes: docs/verifying-tokens.md quotes, verbatim in a
// ```go block, the code between "recipe:begin" and "recipe:end" of each
// recipe file, so the page shows exactly the code TestRecipes runs.
func TestDocQuotesRecipes(t *testing.T) {
	doc, err := os.ReadFile("../../docs/verifying-tokens.md")
	if err != nil {
		t.Fatal(err)
	}
	for file, name := range map[string]string{"verifier.go": "verifier", "gooidc.go": "go-oidc", "jwx.go": "jwx"} {
		src, err := os.ReadFile(file)
		if err != nil {
			t.Fatal(err)
		}
		re := regexp.MustCompile(`(?s)// recipe:begin ` + regexp.QuoteMeta(name) + "\n(.*?)// recipe:end " + regexp.QuoteMeta(name) + "\n")
		m := re.FindSubmatch(src)
		if m == nil {
			t.Fatalf("%s: no recipe:begin/end %s", file, name)
		}
		code := strings.Trim(string(m[1]), "\n") + "\n"
		if !strings.Contains(string(doc), "```go\n"+code+"```\n") {
			t.Errorf("docs/verifying-tokens.md does not quote the %s recipe of %s as it is now: copy it again", name, file)
		}
	}
}
