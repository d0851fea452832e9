package verifier

import (
	"testing"
	"time"
)

func TestDenylistCoverage(t *testing.T) {
	now := time.Unix(1_000_000, 0)
	tok := &Claims{ID: "j", SID: "s", Subject: "u", ClientID: "c", IssuedAt: now.Add(-10 * time.Second)}
	iat := tok.IssuedAt.Unix()
	live := now.Add(time.Hour).Unix()
	tests := []struct {
		name  string
		entry feedEntry
		want  string // kind that revokes, "" for none
	}{
		{"jti", feedEntry{"jti", "j", 0, live}, "jti"},
		{"other jti", feedEntry{"jti", "k", 0, live}, ""},
		{"sid covers regardless of at", feedEntry{"sid", "s", iat - 100, live}, "sid"},
		{"sub at after iat", feedEntry{"sub", "u", iat + 1, live}, "sub"},
		{"sub at equal to iat", feedEntry{"sub", "u", iat, live}, "sub"},
		{"sub at before iat", feedEntry{"sub", "u", iat - 1, live}, ""},
		{"client at after iat", feedEntry{"client", "c", iat + 5, live}, "client"},
		{"client at before iat", feedEntry{"client", "c", iat - 5, live}, ""},
		{"entry expires after its exp", feedEntry{"jti", "j", 0, now.Unix() - 1}, ""},
		{"entry lives through its exp second", feedEntry{"jti", "j", 0, now.Unix()}, "jti"},
		{"unknown kind ignored", feedEntry{"email", "u", iat + 1, live}, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			for _, via := range []string{"snapshot", "event"} {
				d := newDenylist()
				if via == "snapshot" {
					d.replace([]feedEntry{tt.entry}, now)
				} else {
					d.add(tt.entry, now)
				}
				kind, ok := d.revoked(tok, now)
				if kind != tt.want || ok != (tt.want != "") {
					t.Fatalf("%s: revoked = %q, %v; want %q", via, kind, ok, tt.want)
				}
			}
		})
	}
}

func TestDenylistSnapshotReplacesAndPrunes(t *testing.T) {
	now := time.Unix(1_000_000, 0)
	d := newDenylist()
	d.add(feedEntry{"jti", "gone", 0, now.Unix() + 60}, now)
	d.replace([]feedEntry{{"jti", "kept", 0, now.Unix() + 60}}, now)
	if _, ok := d.revoked(&Claims{ID: "gone"}, now); ok {
		t.Fatal("an entry missing from the snapshot survived it")
	}
	if _, ok := d.revoked(&Claims{ID: "kept"}, now); !ok {
		t.Fatal("snapshot entry not applied")
	}
	// Entries twice over are harmless; a later add prunes expired ones.
	d.add(feedEntry{"jti", "kept", 0, now.Unix() + 60}, now)
	if n := len(d.byKind["jti"]["kept"]); n != 1 {
		t.Fatalf("duplicate entry stored %d times", n)
	}
	later := now.Add(2 * time.Minute)
	d.add(feedEntry{"sid", "x", 0, later.Unix() + 60}, later)
	if _, ok := d.byKind["jti"]["kept"]; ok {
		t.Fatal("expired entry not pruned")
	}
}
