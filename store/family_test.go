package store_test

import (
	"testing"
	"time"

	"github.com/authd-dev/authd/store"
)

func TestFamilyLiveUntil(t *testing.T) {
	t0 := time.Date(2030, 1, 1, 0, 0, 0, 0, time.UTC)
	hour := t0.Add(time.Hour)
	for _, tc := range []struct {
		name          string
		expires, idle time.Time
		want          time.Time
	}{
		{"idle first", t0.Add(2 * time.Hour), hour, hour},
		{"absolute first", hour, t0.Add(2 * time.Hour), hour},
		{"equal", hour, hour, hour},
		{"no idle window", hour, time.Time{}, hour},
		{"no absolute end", time.Time{}, hour, hour},
		{"neither: no end", time.Time{}, time.Time{}, time.Time{}},
	} {
		f := store.Family{ExpiresAt: tc.expires, IdleExpiresAt: tc.idle}
		if got := f.LiveUntil(); !got.Equal(tc.want) {
			t.Errorf("%s: LiveUntil = %v; want %v", tc.name, got, tc.want)
		}
		if tc.want.IsZero() {
			if f.ExpiredAt(t0.Add(1000 * time.Hour)) {
				t.Errorf("%s: a family without an end expired", tc.name)
			}
			continue
		}
		if f.ExpiredAt(tc.want.Add(-time.Nanosecond)) || !f.ExpiredAt(tc.want) || !f.ExpiredAt(tc.want.Add(time.Hour)) {
			t.Errorf("%s: ExpiredAt does not flip exactly at %v", tc.name, tc.want)
		}
	}
}
