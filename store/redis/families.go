package redis

import (
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"math"
	"slices"
	"strconv"
	"time"

	goredis "github.com/redis/go-redis/v9"

	"github.com/authd-dev/authd/store"
)

// A family is one STRING at Pfam:{<id>} (hash-tagged by its ID, so a
// Cluster accepts the single-key scripts) holding a packed binary record.
// A HASH would be the obvious choice, but its compact listpack encoding
// only holds values of up to 64 bytes (hash-max-listpack-value), and the
// sealed successor was ~117 bytes when this was chosen: as a HASH a login
// took 1160 bytes (hashtable) or, chunked into a listpack, 536. As this
// record a login shaped as the token service writes it (16-byte digests,
// 60-byte sealed successor) takes 328 bytes of MEMORY USAGE without a
// reuse leeway and 424 with one (TestMemoryPerLogin).
//
// The record, little-endian. The head is what the Lua scripts read and
// rewrite (struct.unpack/pack format famHead); the tail only Go reads.
//
//	head: u8 version (1) · i64 ExpiresAt · i64 IdleExpiresAt (0: none) ·
//	      i64 RotatedAt (0: none) · i32 Retries · i32 Generation ·
//	      u8 flags (1: revoked, 2: rotation in flight, 4: its answer
//	      was a 503; see durable.go) · Current, Previous, SealedCurrent, each
//	      as u16 length + bytes
//	tail: i64 CreatedAt · i64 AuthTime · ClientID, Subject, Scope as
//	      uvarint length + bytes · uvarint count of Audience, each as
//	      uvarint length + bytes · optional SessionID, then optional JKT
//	      (the DPoP binding, RFC 9449 §5), each as uvarint length + bytes
//
// The tail never changes after CreateFamily except when a rotation binds
// the family to a DPoP key (store.Rotation.BindJKT): the rotation then
// replaces it with one Go encoded from the family it read, which is the
// same tail plus JKT.
//
// Instants are Unix microseconds, the precision records keep; Lua numbers
// are exact up to 2^53 µs (year 2255). In the head 0 means "none", so the
// Unix epoch itself cannot be an IdleExpiresAt or RotatedAt. The key
// expires (PX) at store.Family.LiveUntil, min(IdleExpiresAt, ExpiresAt),
// measured from the Now of the operation that sets it, so a test clock
// and Redis agree on what is left.
const (
	famVersion     = 1
	famFlagsOffset = 1 + 8 + 8 + 8 + 4 + 4 // byte offset of the flags
	famRevoked     = 1
	maxDigestLen   = 1<<16 - 1
)

// luaFamily is shared by the family scripts: the head format, and whether
// a family whose x and i (µs) were read is gone at now (µs), the rule of
// store.Family.ExpiredAt (x is never 0: encodeFamily requires ExpiresAt).
const luaFamily = `
local HEAD = '<Bi8i8i8i4i4BHc0Hc0Hc0'
local function expired(x, i, now)
	return now >= x or (i ~= 0 and now >= i)
end
local function head(v)
	local ver, x, i = struct.unpack('<Bi8i8', v)
	if ver ~= 1 then
		error('authd: unknown family record version ' .. ver)
	end
	return x, i
end
`

// createFamilyScript stores a family unless a live one has the ID. KEYS:
// family. ARGV: now (µs), TTL (ms), record. Returns 1 if stored (or
// already expired and so not kept), 0 if the ID is taken.
var createFamilyScript = goredis.NewScript(luaFamily + `
local v = redis.call('GET', KEYS[1])
if v then
	local x, i = head(v)
	if not expired(x, i, tonumber(ARGV[1])) then
		return 0
	end
end
if tonumber(ARGV[2]) <= 0 then
	redis.call('DEL', KEYS[1])
	return 1
end
redis.call('SET', KEYS[1], ARGV[3], 'PX', ARGV[2])
return 1
`)

// revokeFamilyScript marks a live family revoked; its TTL stays. KEYS:
// family. ARGV: now (µs). Returns 1 if revoked, 0 if missing or expired.
var revokeFamilyScript = goredis.NewScript(luaFamily + `
local v = redis.call('GET', KEYS[1])
if not v then
	return 0
end
local x, i = head(v)
if expired(x, i, tonumber(ARGV[1])) then
	return 0
end
redis.call('SETRANGE', KEYS[1], ` + strconv.Itoa(famFlagsOffset) + `, '\1')
return 1
`)

// Outcomes of rotateScript.
const (
	rotOK = iota
	rotRetried
	rotNotFound
	rotRevoked
	rotReused
	rotInFlight
)

// rotateScript is RotateRefresh: every branch of the store contract in
// one EVALSHA. KEYS: family. ARGV:
//
//  1. Presented digest   2. Next digest   3. SealedNext
//  4. Now (µs, floor)    5. Now+IdleTTL (µs)
//  6. earliest RotatedAt that is still inside the leeway: ceil(Now-Leeway) µs
//  7. MaxRetries
//  8. "1" to store the rotation in flight (durable writes), else "0"
//  9. earliest RotatedAt of an unacknowledged rotation whose Previous may
//     rotate again: Now-pendingWindow (µs)
//  10. latest RotatedAt of an in-flight rotation that is taken as
//     abandoned although nobody marked it so: Now-inFlightBound (µs)
//  11. the new tail when the rotation binds a DPoP key, else ""
//
// Returns {outcome} or {outcome, the record afterwards}.
var rotateScript = goredis.NewScript(luaFamily + `
local k = KEYS[1]
local v = redis.call('GET', k)
if not v then
	return {2}
end
local ver, x, i, r, n, g, fl, cu, p, sl, pos = struct.unpack(HEAD, v)
if ver ~= 1 then
	error('authd: unknown family record version ' .. ver)
end
local now = tonumber(ARGV[4])
if expired(x, i, now) then
	return {2}
end
if fl % 2 == 1 then
	return {3, v}
end
local tail = string.sub(v, pos)
local pend = 0
if ARGV[8] == '1' then
	pend = 2
end
-- An unacknowledged rotation's successor was never delivered (its answer
-- was a 503, or never came): its Previous rotates again, replacing it
-- (durable.go).
local again = #p > 0 and ARGV[1] == p and math.floor(fl / 2) % 2 == 1 and
	(math.floor(fl / 4) % 2 == 1 or r <= tonumber(ARGV[10])) and r >= tonumber(ARGV[9])
if ARGV[1] == cu or again then
	local idle = tonumber(ARGV[5])
	if idle > x then
		idle = x
	end
	local prev, gen = cu, g + 1
	if again then
		prev, gen = p, g
	end
	if ARGV[11] and ARGV[11] ~= '' then
		tail = ARGV[11]
	end
	v = struct.pack(HEAD, 1, x, idle, now, 0, gen, pend,
		#ARGV[2], ARGV[2], #prev, prev, #ARGV[3], ARGV[3]) .. tail
	local ttl = math.ceil((idle - now) / 1000)
	if ttl > 0 then
		redis.call('SET', k, v, 'PX', string.format('%.0f', ttl))
	else
		redis.call('DEL', k)
	end
	return {0, v}
end
if #p > 0 and ARGV[1] == p and r >= tonumber(ARGV[6]) and n < tonumber(ARGV[7]) then
	if math.floor(fl / 2) % 2 == 1 then
		-- A retry inside the leeway while the rotation is still in
		-- flight: its successor is not durable yet; answer 503.
		return {5}
	end
	v = struct.pack(HEAD, 1, x, i, r, n + 1, g, fl, #cu, cu, #p, p, #sl, sl) .. tail
	redis.call('SET', k, v, 'KEEPTTL')
	return {1, v}
end
redis.call('SETRANGE', k, ` + strconv.Itoa(famFlagsOffset) + `, '\1')
return {4, redis.call('GET', k)}
`)

// CreateFamily stores a new family; ErrExists if a live one has the ID. A
// family already expired by the store's clock is accepted and not kept.
func (s *Store) CreateFamily(ctx context.Context, f store.Family) error {
	rec, err := encodeFamily(f)
	if err != nil {
		return fmt.Errorf("redis create family %q: %w", f.ID, err)
	}
	if err := s.indexUserFamily(ctx, f); err != nil { // consents.go
		return err
	}
	now := s.now()
	keys, args := []string{s.familyKey(f.ID)}, []any{micros(now), ttlMillis(f.LiveUntil(), now), rec}
	if s.durable() {
		reply, wait, err := s.runDurable(ctx, createFamilyScript, keys, args...)
		if err != nil {
			return s.fail("create family", err)
		}
		n, err := reply.Int()
		if err != nil {
			return s.fail("create family", err)
		}
		if n == 0 {
			return fmt.Errorf("redis create family %q: %w", f.ID, store.ErrExists)
		}
		// A login answered before a replica has it is lost by a failover.
		return s.replicated("create family", wait)
	}
	n, err := createFamilyScript.Run(ctx, s.rdb, keys, args...).Int()
	if err != nil {
		return s.fail("create family", err)
	}
	if n == 0 {
		return fmt.Errorf("redis create family %q: %w", f.ID, store.ErrExists)
	}
	return nil
}

// GetFamily returns a live family, revoked ones too; ErrNotFound if it is
// missing or expired by the store's clock.
func (s *Store) GetFamily(ctx context.Context, id string) (store.Family, error) {
	rec, err := s.rdb.Get(ctx, s.familyKey(id)).Bytes()
	if errors.Is(err, goredis.Nil) {
		return store.Family{}, fmt.Errorf("redis get family: %w", store.ErrNotFound)
	}
	if err != nil {
		return store.Family{}, s.fail("get family", err)
	}
	f, err := decodeFamily(id, rec)
	if err != nil {
		return store.Family{}, err
	}
	if f.ExpiredAt(s.now()) {
		return store.Family{}, fmt.Errorf("redis get family: %w", store.ErrNotFound)
	}
	return f, nil
}

// RotateRefresh rotates or detects reuse in one round trip (a Lua script
// run with EVALSHA), following the branches documented on
// store.FamilyStore. With ErrReused and ErrRevoked the result still holds
// the family as stored.
func (s *Store) RotateRefresh(ctx context.Context, r store.Rotation) (store.RotateResult, error) {
	if len(r.Next) > maxDigestLen || len(r.SealedNext) > maxDigestLen {
		return store.RotateResult{}, errors.New("redis rotate refresh: successor too long")
	}
	key := s.familyKey(r.FamilyID)
	pending := "0"
	if s.durable() {
		pending = "1"
	}
	var tail []byte
	if r.BindJKT != "" {
		// The tail is immutable but for this binding: re-encode it from
		// the family as stored, plus the thumbprint.
		rec, err := s.rdb.Get(ctx, key).Bytes()
		switch {
		case errors.Is(err, goredis.Nil):
			return store.RotateResult{}, fmt.Errorf("redis rotate refresh: %w", store.ErrNotFound)
		case err != nil:
			return store.RotateResult{}, s.fail("rotate refresh", err)
		}
		f, err := decodeFamily(r.FamilyID, rec)
		if err != nil {
			return store.RotateResult{}, err
		}
		f.JKT = r.BindJKT
		tail = appendTail(nil, f)
	}
	args := []any{r.Presented, r.Next, r.SealedNext,
		micros(r.Now), micros(r.Now.Add(r.IdleTTL)), leewayFloor(r),
		r.MaxRetries, pending, micros(r.Now.Add(-pendingWindow)), micros(r.Now.Add(-s.inFlightBound())), tail}
	var res []any
	var wait waitReply
	var err error
	if s.durable() {
		var reply *goredis.Cmd
		if reply, wait, err = s.runDurable(ctx, rotateScript, []string{key}, args...); err == nil {
			res, err = reply.Slice()
		}
	} else {
		res, err = rotateScript.Run(ctx, s.rdb, []string{key}, args...).Slice()
	}
	if err != nil {
		return store.RotateResult{}, s.fail("rotate refresh", err)
	}
	outcome, ok := res[0].(int64)
	if !ok {
		return store.RotateResult{}, fmt.Errorf("redis rotate refresh: unexpected reply %v", res)
	}
	var out store.RotateResult
	if len(res) > 1 {
		rec, _ := res[1].(string)
		if out.Family, err = decodeFamily(r.FamilyID, []byte(rec)); err != nil {
			return store.RotateResult{}, err
		}
	}
	switch outcome {
	case rotOK:
		if s.durable() {
			// Answered only once a replica holds it; a short WAIT marks
			// the rotation abandoned, so the client's retry of the same
			// token rotates again instead of counting as reuse.
			if err := s.finishRotation(ctx, key, r.Next, wait); err != nil {
				return store.RotateResult{}, err
			}
		}
		return out, nil
	case rotRetried:
		out.Retried = true
		return out, nil
	case rotNotFound:
		return out, fmt.Errorf("redis rotate refresh: %w", store.ErrNotFound)
	case rotRevoked:
		return out, fmt.Errorf("redis rotate refresh: %w", store.ErrRevoked)
	case rotReused:
		if s.durable() {
			// Answered invalid_grant at once; what must survive a
			// failover is the sid denylist entry the caller writes next,
			// itself durable. A short WAIT here is only logged.
			_ = s.replicated("revoke reused family", wait)
		}
		return out, fmt.Errorf("redis rotate refresh: %w", store.ErrReused)
	case rotInFlight:
		return out, fmt.Errorf("redis rotate refresh: %w: %w", store.ErrUnavailable, errInFlight)
	}
	return store.RotateResult{}, fmt.Errorf("redis rotate refresh: unexpected outcome %d", outcome)
}

// RevokeFamily marks the family revoked (its expiry stays); ErrNotFound if
// it is gone.
func (s *Store) RevokeFamily(ctx context.Context, id string) error {
	keys := []string{s.familyKey(id)}
	var n int
	var wait waitReply
	var err error
	if s.durable() {
		var reply *goredis.Cmd
		if reply, wait, err = s.runDurable(ctx, revokeFamilyScript, keys, micros(s.now())); err == nil {
			n, err = reply.Int()
		}
	} else {
		n, err = revokeFamilyScript.Run(ctx, s.rdb, keys, micros(s.now())).Int()
	}
	if err != nil {
		return s.fail("revoke family", err)
	}
	if n == 0 {
		return fmt.Errorf("redis revoke family %q: %w", id, store.ErrNotFound)
	}
	if s.durable() {
		return s.replicated("revoke family", wait)
	}
	return nil
}

// encodeFamily packs f into its record (see the layout above); the ID is
// in the key.
func encodeFamily(f store.Family) ([]byte, error) {
	if f.ExpiresAt.IsZero() {
		return nil, errors.New("no ExpiresAt")
	}
	if len(f.Current) > maxDigestLen || len(f.Previous) > maxDigestLen || len(f.SealedCurrent) > maxDigestLen {
		return nil, errors.New("digest or sealed token too long")
	}
	if int64(int32(f.Retries)) != int64(f.Retries) || int64(int32(f.Generation)) != int64(f.Generation) {
		return nil, errors.New("retries or generation out of range")
	}
	le := binary.LittleEndian
	b := make([]byte, 0, 64+len(f.Current)+len(f.Previous)+len(f.SealedCurrent)+
		len(f.ClientID)+len(f.Subject)+len(f.Scope)+16*len(f.Audience))
	b = append(b, famVersion)
	b = le.AppendUint64(b, uint64(micros(f.ExpiresAt)))
	b = le.AppendUint64(b, uint64(micros0(f.IdleExpiresAt)))
	b = le.AppendUint64(b, uint64(micros0(f.RotatedAt)))
	b = le.AppendUint32(b, uint32(int32(f.Retries)))
	b = le.AppendUint32(b, uint32(int32(f.Generation)))
	var flags byte
	if f.Revoked {
		flags |= famRevoked
	}
	b = append(b, flags)
	for _, d := range [][]byte{f.Current, f.Previous, f.SealedCurrent} {
		b = le.AppendUint16(b, uint16(len(d)))
		b = append(b, d...)
	}
	return appendTail(b, f), nil
}

// appendTail appends the tail of f's record (see the layout above).
func appendTail(b []byte, f store.Family) []byte {
	le := binary.LittleEndian
	b = le.AppendUint64(b, uint64(micros(f.CreatedAt)))
	b = le.AppendUint64(b, uint64(micros(f.AuthTime)))
	for _, str := range []string{f.ClientID, f.Subject, f.Scope} {
		b = appendString(b, str)
	}
	b = binary.AppendUvarint(b, uint64(len(f.Audience)))
	for _, a := range f.Audience {
		b = appendString(b, a)
	}
	// Optional last fields: older records end before them. JKT is
	// written only after a SessionID (empty if the login has none).
	if f.SessionID != "" || f.JKT != "" {
		b = appendString(b, f.SessionID)
	}
	if f.JKT != "" {
		b = appendString(b, f.JKT)
	}
	return b
}

func appendString(b []byte, s string) []byte {
	return append(binary.AppendUvarint(b, uint64(len(s))), s...)
}

// decodeFamily is the inverse of encodeFamily.
func decodeFamily(id string, rec []byte) (store.Family, error) {
	d := recordReader{b: rec}
	if v := d.byte(); v != famVersion {
		return store.Family{}, fmt.Errorf("redis: family %q: unknown record version %d", id, v)
	}
	f := store.Family{ID: id}
	f.ExpiresAt = fromMicros0(d.int64())
	f.IdleExpiresAt = fromMicros0(d.int64())
	f.RotatedAt = fromMicros0(d.int64())
	f.Retries = int(d.int32())
	f.Generation = int(d.int32())
	f.Revoked = d.byte()&famRevoked != 0
	f.Current, f.Previous, f.SealedCurrent = d.bytes16(), d.bytes16(), d.bytes16()
	f.CreatedAt = time.UnixMicro(d.int64()).UTC()
	f.AuthTime = time.UnixMicro(d.int64()).UTC()
	f.ClientID, f.Subject, f.Scope = d.string(), d.string(), d.string()
	if n := d.uvarint(); n > 0 && n <= uint64(len(rec)) {
		f.Audience = make([]string, n)
		for i := range f.Audience {
			f.Audience[i] = d.string()
		}
	} else if n > 0 {
		d.bad = true
	}
	if len(d.b) > 0 && !d.bad {
		f.SessionID = d.string()
	}
	if len(d.b) > 0 && !d.bad {
		f.JKT = d.string()
	}
	if d.bad || len(d.b) != 0 {
		return store.Family{}, fmt.Errorf("redis: family %q: malformed record", id)
	}
	return f, nil
}

// recordReader reads a family record front to back; a short record sets
// bad and yields zero values.
type recordReader struct {
	b   []byte
	bad bool
}

func (r *recordReader) take(n int) []byte {
	if r.bad || n < 0 || n > len(r.b) {
		r.bad = true
		return nil
	}
	p := r.b[:n:n]
	r.b = r.b[n:]
	return p
}

func (r *recordReader) byte() byte {
	if p := r.take(1); p != nil {
		return p[0]
	}
	return 0
}

func (r *recordReader) int32() int32 {
	if p := r.take(4); p != nil {
		return int32(binary.LittleEndian.Uint32(p))
	}
	return 0
}

func (r *recordReader) int64() int64 {
	if p := r.take(8); p != nil {
		return int64(binary.LittleEndian.Uint64(p))
	}
	return 0
}

func (r *recordReader) bytes16() []byte {
	p := r.take(2)
	if p == nil {
		return nil
	}
	n := int(binary.LittleEndian.Uint16(p))
	if n == 0 {
		return nil
	}
	return slices.Clone(r.take(n))
}

func (r *recordReader) uvarint() uint64 {
	if r.bad {
		return 0
	}
	v, n := binary.Uvarint(r.b)
	if n <= 0 {
		r.bad = true
		return 0
	}
	r.b = r.b[n:]
	return v
}

func (r *recordReader) string() string {
	n := r.uvarint()
	if n > uint64(len(r.b)) {
		r.bad = true
		return ""
	}
	return string(r.take(int(n)))
}

// micros0 is micros, with 0 for the zero time.
func micros0(t time.Time) int64 {
	if t.IsZero() {
		return 0
	}
	return micros(t)
}

// fromMicros0 is the inverse of micros0.
func fromMicros0(us int64) time.Time {
	if us == 0 {
		return time.Time{}
	}
	return time.UnixMicro(us).UTC()
}

// micros is t in Unix microseconds, rounded down.
func micros(t time.Time) int64 { return t.UnixMicro() }

// ceilMicros is t in Unix microseconds, rounded up.
func ceilMicros(t time.Time) int64 {
	m := t.UnixMicro()
	if t.Nanosecond()%1000 != 0 {
		m++
	}
	return m
}

// ttlMillis is the time from now until t in whole milliseconds, rounded
// up (so a key never outlives-by-less its record), ≤ 0 if t has passed.
func ttlMillis(t, now time.Time) int64 {
	d := t.Sub(now)
	if d <= 0 {
		return 0
	}
	return int64((d + time.Millisecond - 1) / time.Millisecond)
}

// leewayFloor is ARGV 6 of rotateScript: the earliest RotatedAt still
// inside the leeway; with no leeway, a bound no rotation can reach, so a
// replay is never a retry.
func leewayFloor(r store.Rotation) int64 {
	if r.Leeway <= 0 {
		return math.MaxInt64
	}
	return ceilMicros(r.Now.Add(-r.Leeway))
}
