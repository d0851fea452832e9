package store

import "testing"

func TestCompareCursors(t *testing.T) {
	for _, tt := range []struct {
		a, b string
		want int
		ok   bool
	}{
		{"", "", 0, true},
		{"", "1", -1, true},
		{"1", "", 1, true},
		{"9", "10", -1, true},
		{"10", "10", 0, true},
		{"1700000000000-0", "1700000000000-1", -1, true},
		{"1700000000001-0", "1700000000000-9", 1, true},
		{"5-0", "5", 0, true},
		{"5", "5-1", -1, true},
		{"x", "1", 0, false},
		{"1", "1-", 0, false},
		{"", "-1", -1, false},
		{"18446744073709551616", "1", 0, false},
	} {
		got, ok := CompareCursors(tt.a, tt.b)
		if got != tt.want || ok != tt.ok {
			t.Errorf("CompareCursors(%q, %q) = %d, %v; want %d, %v", tt.a, tt.b, got, ok, tt.want, tt.ok)
		}
	}
}
