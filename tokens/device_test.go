package tokens

import (
	"strings"
	"testing"
)

// TestNormalizeUserCode: user codes compare without case, dashes and
// spaces (RFC 8628 §6.1); anything else is no code at all.
func TestNormalizeUserCode(t *testing.T) {
	for in, want := range map[string]string{
		"BCDF-GHJK":              "BCDFGHJK",
		"bcdfghjk":               "BCDFGHJK",
		" bcdf ghjk ":            "BCDFGHJK",
		"Bc-Df-Gh-Jk":            "BCDFGHJK",
		"BCDF-GHJ":               "", // too short
		"BCDF-GHJKL":             "", // too long
		"BCDA-GHJK":              "", // a vowel is not in the alphabet
		"BCD1-GHJK":              "", // nor a digit
		"":                       "", //
		strings.Repeat("B", 100): "", // bounded before any work
		"BCDF\u00a0GHJK":         "", // only ASCII space and dash are ignored
		"ＢCDF-GHJK":              "", // fullwidth letters are not letters of the code
	} {
		if got := NormalizeUserCode(in); got != want {
			t.Errorf("NormalizeUserCode(%q) = %q; want %q", in, got, want)
		}
	}
}

// TestNewUserCode: codes are UserCodeLen letters of the alphabet, shown
// as XXXX-XXXX, and read back by NormalizeUserCode.
func TestNewUserCode(t *testing.T) {
	seen := map[string]bool{}
	for range 1000 {
		c := newUserCode()
		if len(c) != UserCodeLen || strings.Trim(c, UserCodeAlphabet) != "" {
			t.Fatalf("user code %q", c)
		}
		if f := FormatUserCode(c); len(f) != 9 || f[4] != '-' || NormalizeUserCode(f) != c {
			t.Fatalf("FormatUserCode(%q) = %q", c, f)
		}
		seen[c] = true
	}
	if len(seen) < 999 { // 20^8 codes: a collision in 1000 draws is ~1e-5
		t.Errorf("%d distinct codes in 1000 draws", len(seen))
	}
}

// FuzzNormalizeUserCode: whatever is typed, the result is empty or a code
// of the alphabet, and normalising is idempotent.
func FuzzNormalizeUserCode(f *testing.F) {
	for _, s := range []string{"BCDF-GHJK", "bcdf ghjk", "x", ""} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, in string) {
		out := NormalizeUserCode(in)
		if out == "" {
			return
		}
		if len(out) != UserCodeLen || strings.Trim(out, UserCodeAlphabet) != "" || NormalizeUserCode(out) != out {
			t.Fatalf("NormalizeUserCode(%q) = %q", in, out)
		}
	})
}
