package verifier

import (
	"errors"
	"io"
	"reflect"
	"strings"
	"testing"
	"testing/iotest"
	"time"
)

func readAll(t testing.TB, r io.Reader) ([]sseEvent, *sseReader, error) {
	t.Helper()
	sr := newSSEReader(r)
	var out []sseEvent
	for {
		ev, err := sr.Next()
		if errors.Is(err, io.EOF) {
			return out, sr, nil
		}
		if err != nil {
			return out, sr, err
		}
		out = append(out, ev)
	}
}

func TestSSE(t *testing.T) {
	tests := []struct {
		name  string
		in    string
		want  []sseEvent
		retry time.Duration
	}{
		{"authd snapshot and revocation",
			"event: snapshot\nid: 7\ndata: {\"entries\":[]}\n\n: ping\n\nevent: revocation\nid: 8\ndata: {\"kind\":\"jti\"}\n\n",
			[]sseEvent{{"snapshot", "7", `{"entries":[]}`}, {"revocation", "8", `{"kind":"jti"}`}}, 0},
		{"default type and multi-line data", "data: a\ndata\ndata:  b\n\n",
			[]sseEvent{{"message", "", "a\n\n b"}}, 0},
		{"CRLF and CR line ends", "event: x\r\ndata: 1\r\n\r\nevent: y\rdata: 2\r\r",
			[]sseEvent{{"x", "", "1"}, {"y", "", "2"}}, 0},
		{"id persists; an event without data is not dispatched but sets the id",
			"id: 1\ndata: a\n\nid: 2\nevent: skip\n\ndata: b\n\n",
			[]sseEvent{{"message", "1", "a"}, {"message", "2", "b"}}, 0},
		{"event type resets after each event", "event: x\ndata: 1\n\ndata: 2\n\n",
			[]sseEvent{{"x", "", "1"}, {"message", "", "2"}}, 0},
		{"id with NUL ignored", "id: 1\ndata: a\n\nid: 2\x00\ndata: b\n\n",
			[]sseEvent{{"message", "1", "a"}, {"message", "1", "b"}}, 0},
		{"empty id clears", "id: 1\ndata: a\n\nid\ndata: b\n\n",
			[]sseEvent{{"message", "1", "a"}, {"message", "", "b"}}, 0},
		{"unterminated event discarded", "data: a\n\ndata: b\n",
			[]sseEvent{{"message", "", "a"}}, 0},
		{"unterminated line discarded", "data: a\n\ndata: b", []sseEvent{{"message", "", "a"}}, 0},
		{"leading BOM", "\uFEFFdata: a\n\n", []sseEvent{{"message", "", "a"}}, 0},
		{"retry", "retry: 1500\nretry: x\nretry: -1\n", nil, 1500 * time.Millisecond},
		{"unknown fields and comments", ":c\nfoo: bar\ndata:x\n\n", []sseEvent{{"message", "", "x"}}, 0},
		{"empty", "", nil, 0},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			for _, chunked := range []bool{false, true} {
				var r io.Reader = strings.NewReader(tt.in)
				if chunked {
					r = iotest.OneByteReader(r)
				}
				got, sr, err := readAll(t, r)
				if err != nil {
					t.Fatal(err)
				}
				if !reflect.DeepEqual(got, tt.want) || sr.retry != tt.retry {
					t.Fatalf("chunked=%v: events %q retry %v, want %q retry %v", chunked, got, sr.retry, tt.want, tt.retry)
				}
			}
		})
	}
}

func TestSSELineTooLong(t *testing.T) {
	in := io.MultiReader(strings.NewReader("data: "), strings.NewReader(strings.Repeat("x", maxSSELine+1)))
	if _, _, err := readAll(t, in); !errors.Is(err, errSSELineTooLong) {
		t.Fatalf("err = %v", err)
	}
}

// encodeSSE writes events in canonical form.
func encodeSSE(evs []sseEvent) string {
	var b strings.Builder
	for _, ev := range evs {
		b.WriteString("event: " + ev.Type + "\nid: " + ev.ID + "\n")
		for line := range strings.SplitSeq(ev.Data, "\n") {
			b.WriteString("data: " + line + "\n")
		}
		b.WriteString("\n")
	}
	return b.String()
}

// FuzzSSE checks that the parser never panics, that how the bytes are cut
// into reads does not matter (the CR/CRLF split logic), and that parsed
// events survive re-encoding.
func FuzzSSE(f *testing.F) {
	for _, s := range []string{
		"event: snapshot\nid: 1\ndata: {\"entries\":[]}\n\n",
		"data: a\r\ndata: b\r\r\n: ping\n\nid: 3\x00\nretry: 10\n\n",
		"\uFEFFevent:\rdata\r\n\n",
		"data: x\r",
	} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, in string) {
		whole, _, errWhole := readAll(t, strings.NewReader(in))
		bytewise, _, errBytes := readAll(t, iotest.OneByteReader(strings.NewReader(in)))
		if (errWhole == nil) != (errBytes == nil) || !reflect.DeepEqual(whole, bytewise) {
			t.Fatalf("whole %q (%v) != bytewise %q (%v)", whole, errWhole, bytewise, errBytes)
		}
		if errWhole != nil {
			return
		}
		for _, ev := range whole {
			if ev.Type == "" || strings.ContainsAny(ev.Type+ev.ID, "\r\n") || strings.ContainsRune(ev.ID, 0) ||
				strings.ContainsRune(ev.Data, '\r') {
				t.Fatalf("bad event %q", ev)
			}
		}
		// Canonical re-encoding round-trips.
		again, _, err := readAll(t, strings.NewReader(encodeSSE(whole)))
		if err != nil || !reflect.DeepEqual(again, whole) {
			t.Fatalf("re-encoded %q parsed as %q (%v)", whole, again, err)
		}
	})
}
