package storetest

import (
	"context"
	"errors"
	"fmt"
	"testing"
	"time"

	"github.com/authd-dev/authd/store"
)

// Prefiller is the bulk loader both backends offer beside store.Store
// (benchmarks of a full store, issue 13).
type Prefiller interface {
	Prefill(ctx context.Context, families []store.Family, denials []store.Denial) error
}

// RunPrefill checks that records bulk-loaded into st (a fresh store) by p
// behave as the ones CreateFamily and Deny write: families are read,
// rotated and detect reuse; denylist entries are found; records already
// expired are not loaded.
func RunPrefill(t *testing.T, st store.Store, p Prefiller) {
	t.Helper()
	ctx := context.Background()
	now := time.Now().Truncate(time.Microsecond)
	var fams []store.Family
	var dens []store.Denial
	for i := range 250 {
		fams = append(fams, store.Family{ID: fmt.Sprintf("pf%03d", i), ClientID: "c", Subject: "u", Scope: "read",
			AuthTime: now, CreatedAt: now, ExpiresAt: now.Add(time.Hour), IdleExpiresAt: now.Add(time.Hour),
			Current: Digest(fmt.Sprintf("tok%d", i))})
		dens = append(dens, store.Denial{Kind: store.DenyJTI, Value: fmt.Sprintf("jti%03d", i), At: now, ExpiresAt: now.Add(time.Hour)})
	}
	fams = append(fams, store.Family{ID: "pf-dead", ClientID: "c", Subject: "u", AuthTime: now.Add(-2 * time.Hour),
		CreatedAt: now.Add(-2 * time.Hour), ExpiresAt: now.Add(-time.Hour), Current: Digest("dead")})
	dens = append(dens, store.Denial{Kind: store.DenySID, Value: "sid-dead", At: now.Add(-time.Hour), ExpiresAt: now.Add(-time.Minute)})
	if err := p.Prefill(ctx, fams, dens); err != nil {
		t.Fatalf("Prefill: %v", err)
	}
	got, err := st.GetFamily(ctx, "pf007")
	if err != nil || got.Subject != "u" || !got.ExpiresAt.Equal(fams[7].ExpiresAt) {
		t.Fatalf("GetFamily of a prefilled family: %+v %v", got, err)
	}
	if _, err := st.GetFamily(ctx, "pf-dead"); !errors.Is(err, store.ErrNotFound) {
		t.Fatalf("GetFamily of a prefilled expired family: %v; want ErrNotFound", err)
	}
	rot := store.Rotation{FamilyID: "pf007", Presented: Digest("tok7"), Next: Digest("tok7b"), Now: now, IdleTTL: time.Hour}
	if res, err := st.RotateRefresh(ctx, rot); err != nil || res.Family.Generation != 1 {
		t.Fatalf("rotating a prefilled family: %+v %v", res, err)
	}
	if _, err := st.RotateRefresh(ctx, rot); !errors.Is(err, store.ErrReused) {
		t.Fatalf("replaying a prefilled family's rotated token: %v; want ErrReused", err)
	}
	ds, err := st.DenyState(ctx, store.DenyQuery{JTI: "jti249", SID: "sid-dead"})
	if err != nil || !ds.JTI.Equal(now) || !ds.SID.IsZero() {
		t.Fatalf("DenyState of prefilled entries: %+v %v; want the jti at %v and no expired sid", ds, err, now)
	}
}
