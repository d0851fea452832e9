package store

import (
	"strconv"
	"strings"
)

// Revocation-feed cursors are opaque to readers but ordered: every
// backend's cursor is one or more decimal numbers joined by "-" (bolt: the
// log's sequence number; Redis: the stream ID "<ms>-<seq>"), and a later
// entry of one feed always has a greater cursor. The conformance suite
// checks this, so that a reader (feed.Hub) can splice a catch-up read and
// a live stream without a gap or a duplicate.

// CompareCursors orders two cursors of one revocation feed: -1 if a comes
// before b, 0 if they are equal, +1 if a comes after b, comparing the
// numbers from the left (a missing number counts as 0). ok is false when
// either is not a well-formed cursor; the empty cursor (the start of the
// feed) comes before every other.
func CompareCursors(a, b string) (c int, ok bool) {
	if a == "" || b == "" {
		switch {
		case a == b:
			return 0, true
		case a == "":
			return -1, validCursor(b)
		default:
			return 1, validCursor(a)
		}
	}
	as, bs := strings.Split(a, "-"), strings.Split(b, "-")
	for i := range max(len(as), len(bs)) {
		x, okx := cursorPart(as, i)
		y, oky := cursorPart(bs, i)
		if !okx || !oky {
			return 0, false
		}
		if x != y && c == 0 {
			c = 1
			if x < y {
				c = -1
			}
		}
	}
	return c, true
}

func cursorPart(parts []string, i int) (uint64, bool) {
	if i >= len(parts) {
		return 0, true
	}
	if parts[i] == "" {
		return 0, false
	}
	n, err := strconv.ParseUint(parts[i], 10, 64)
	return n, err == nil
}

func validCursor(s string) bool {
	parts := strings.Split(s, "-")
	for i := range parts {
		if _, ok := cursorPart(parts, i); !ok {
			return false
		}
	}
	return true
}
