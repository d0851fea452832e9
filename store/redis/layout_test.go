package redis

import (
	"bytes"
	"context"
	"encoding/hex"
	"slices"
	"testing"
	"time"

	"github.com/authd-dev/authd/store"
	"github.com/authd-dev/authd/store/storetest"
)

// TestKeyLayout: every key carries the prefix, and the keys are exactly
// the documented ones (hash tags included, which Cluster relies on).
func TestKeyLayout(t *testing.T) {
	ctx := context.Background()
	s := openTest(t, Options{})
	now := storetest.Now()
	must := func(err error) {
		t.Helper()
		if err != nil {
			t.Fatal(err)
		}
	}
	must(s.CreateClient(ctx, storetest.NewClient("c1", now)))
	must(s.CreateUser(ctx, storetest.NewUser("u1", "alice", now)))
	_, err := s.SwapKeySet(ctx, 0, []store.Key{storetest.NewKey("k1", "RS256", store.KeyActive, now)})
	must(err)
	must(s.CreateFamily(ctx, storetest.NewFamily("f1", now, "t0")))
	must(s.Deny(ctx, store.Denial{Kind: store.DenyJTI, Value: "j1", At: now, ExpiresAt: now.Add(time.Hour)}))
	_, err = s.GrantConsent(ctx, "user-1", "c1", "openid", now, time.Time{})
	must(err)

	got, err := s.rdb.Keys(ctx, s.prefix+"*").Result() // a test on its own prefix
	must(err)
	p := s.prefix
	want := []string{
		p + "{clients}:c:c1", p + "{clients}:idx",
		p + "{users}:u:u1", p + "{users}:n:alice", p + "{users}:idx",
		p + "{keys}:set",
		p + "fam:{f1}",
		p + "{consent:user-1}:c", p + "{consent:user-1}:f:client-1", // consents.go
		p + "deny:jti:j1",
		p + "revocations", // the revocation feed stream
	}
	slices.Sort(got)
	slices.Sort(want)
	if !slices.Equal(got, want) {
		t.Fatalf("keys:\n got  %q\n want %q", got, want)
	}
}

// The golden family record (families.go documents the layout), written
// field by field in hex so that a change of the encoding, of the Lua
// scripts' pack format or of famFlagsOffset shows up here as bytes.
// Instants are Unix microseconds from 2030-01-01T00:00:00Z (goldenNow).
var (
	goldenNow = time.Date(2030, 1, 1, 0, 0, 0, 0, time.UTC)

	goldenCurrent  = "101112131415161718191a1b1c1d1e1f" // 16-byte digests, as tokens writes them
	goldenPrevious = "202122232425262728292a2b2c2d2e2f"
	goldenSealed   = "404142434445464748494a4b4c4d4e4f505152535455565758595a5b5c5d5e5f" +
		"606162636465666768696a6b6c6d6e6f707172737475767778797a7b" // 60 bytes: nonce, secret, GCM tag
	goldenNext       = "808182838485868788898a8b8c8d8e8f"
	goldenSealedNext = "c0c1c2c3c4c5c6c7c8c9cacbcccdcecfd0d1d2d3d4d5d6d7d8d9dadbdcdddedf" +
		"e0e1e2e3e4e5e6e7e8e9eaebecedeeeff0f1f2f3f4f5f6f7f8f9fafb"

	// goldenTail is read by Go only; no script rewrites it.
	goldenTail = "0020479416ba0600" + // CreatedAt   i64 = goldenNow
		"0020479416ba0600" + // AuthTime          i64 = goldenNow
		"08" + "636c69656e742d31" + // ClientID uvarint 8, "client-1"
		"06" + "757365722d31" + // Subject uvarint 6, "user-1"
		"15" + "6f70656e6964206f66666c696e655f616363657373" + // Scope uvarint 21, "openid offline_access"
		"02" + // Audience count uvarint 2
		"13" + "68747470733a2f2f6170692e6578616d706c65" + // uvarint 19, "https://api.example"
		"05" + "75726e3a62" // uvarint 5, "urn:b"
)

// goldenHead is the part the Lua scripts read and rewrite (famHead).
func goldenHead(idle, rotated, retries, generation, flags, current, previous, sealed string) string {
	return "01" + // version u8
		"0060841372bc0600" + // ExpiresAt i64 = goldenNow + 720h
		idle + rotated + retries + generation + flags +
		"1000" + current + // u16 16 + Current
		"1000" + previous + // u16 16 + Previous
		"3c00" + sealed // u16 60 + SealedCurrent
}

func unhex(t *testing.T, s string) []byte {
	t.Helper()
	b, err := hex.DecodeString(s)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// goldenFamily is the record above as a store.Family: rotated 7 times,
// the last at goldenNow+10m, retried twice since.
func goldenFamily(t *testing.T) store.Family {
	return store.Family{
		ID:            "golden",
		ClientID:      "client-1",
		Subject:       "user-1",
		Scope:         "openid offline_access",
		Audience:      []string{"https://api.example", "urn:b"},
		AuthTime:      goldenNow,
		CreatedAt:     goldenNow,
		ExpiresAt:     goldenNow.Add(720 * time.Hour),
		IdleExpiresAt: goldenNow.Add(72 * time.Hour),
		RotatedAt:     goldenNow.Add(10 * time.Minute),
		Retries:       2,
		Generation:    7,
		Current:       unhex(t, goldenCurrent),
		Previous:      unhex(t, goldenPrevious),
		SealedCurrent: unhex(t, goldenSealed),
	}
}

// TestFamilyRecordGolden pins the packed family record byte for byte: Go
// encodes and decodes exactly the golden bytes, and each Lua write path
// (rotate, retry inside the leeway, revoke) leaves exactly the bytes the
// layout says, so Go and the scripts cannot drift apart.
func TestFamilyRecordGolden(t *testing.T) {
	const (
		idle0    = "0040cded52ba0600" // IdleExpiresAt = goldenNow + 72h
		rotated0 = "00660ab816ba0600" // RotatedAt = goldenNow + 10m
		idle1    = "00e460c453ba0600" // goldenNow + 1h + 72h (after the rotation below)
		rotated1 = "00c4da6a17ba0600" // goldenNow + 1h
		two      = "02000000"
		seven    = "07000000"
		eight    = "08000000"
		zero32   = "00000000"
		one32    = "01000000"
		live     = "00"
		revoked  = "01"
	)
	golden := unhex(t, goldenHead(idle0, rotated0, two, seven, live, goldenCurrent, goldenPrevious, goldenSealed)+goldenTail)
	f := goldenFamily(t)

	got, err := encodeFamily(f)
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(got, golden) {
		t.Fatalf("encodeFamily:\n got  %x\n want %x", got, golden)
	}
	back, err := decodeFamily(f.ID, golden)
	if err != nil {
		t.Fatal(err)
	}
	if !storetest.Equal(back, f) {
		t.Fatalf("decodeFamily:\n got  %+v\n want %+v", back, f)
	}
	if golden[famFlagsOffset-1] != 0 || golden[famFlagsOffset+1] != 0x10 {
		t.Fatalf("famFlagsOffset %d does not point at the flags byte", famFlagsOffset)
	}
	for _, n := range []int{1, famFlagsOffset, len(golden) - 1} {
		if _, err := decodeFamily(f.ID, golden[:n]); err == nil {
			t.Errorf("a record cut to %d bytes decoded", n)
		}
	}

	ctx := context.Background()
	s := openTest(t, Options{Now: func() time.Time { return goldenNow.Add(time.Hour) }})
	raw := func(what string, want string) {
		t.Helper()
		b, err := s.rdb.Get(ctx, s.familyKey(f.ID)).Bytes()
		if err != nil {
			t.Fatalf("%s: GET: %v", what, err)
		}
		if w := unhex(t, want); !bytes.Equal(b, w) {
			t.Fatalf("%s: stored record\n got  %x\n want %x", what, b, w)
		}
	}
	if err := s.CreateFamily(ctx, f); err != nil {
		t.Fatal(err)
	}
	raw("CreateFamily", goldenHead(idle0, rotated0, two, seven, live, goldenCurrent, goldenPrevious, goldenSealed)+goldenTail)

	at := goldenNow.Add(time.Hour)
	r := store.Rotation{FamilyID: f.ID, Presented: f.Current, Next: unhex(t, goldenNext), SealedNext: unhex(t, goldenSealedNext),
		Now: at, IdleTTL: 72 * time.Hour, Leeway: 10 * time.Second, MaxRetries: 3}
	if _, err := s.RotateRefresh(ctx, r); err != nil {
		t.Fatal(err)
	}
	rotatedHead := func(retries, flags string) string {
		return goldenHead(idle1, rotated1, retries, eight, flags, goldenNext, goldenCurrent, goldenSealedNext)
	}
	raw("rotation (Lua)", rotatedHead(zero32, live)+goldenTail)

	r.Presented, r.Next, r.SealedNext, r.Now = f.Current, unhex(t, goldenPrevious), unhex(t, goldenSealed), at.Add(time.Second)
	if res, err := s.RotateRefresh(ctx, r); err != nil || !res.Retried {
		t.Fatalf("retry inside the leeway: %+v, %v", res, err)
	}
	raw("retry (Lua)", rotatedHead(one32, live)+goldenTail)

	if err := s.RevokeFamily(ctx, f.ID); err != nil {
		t.Fatal(err)
	}
	raw("revoke (Lua SETRANGE at famFlagsOffset)", rotatedHead(one32, revoked)+goldenTail)

	// The key lives until LiveUntil by the store's clock: IdleExpiresAt
	// (goldenNow+1h+72h) minus now (goldenNow+1h) is 72h.
	ttl, err := s.rdb.PTTL(ctx, s.familyKey(f.ID)).Result()
	if err != nil {
		t.Fatal(err)
	}
	if ttl <= 72*time.Hour-time.Minute || ttl > 72*time.Hour {
		t.Errorf("PTTL %v; want 72h (LiveUntil - now)", ttl)
	}
}
