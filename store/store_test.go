package store

import (
	"testing"
	"time"
)

func TestCallExpires(t *testing.T) {
	created := time.Date(2025, 3, 1, 12, 0, 0, 0, time.UTC)
	now := created.Add(time.Hour)
	for _, tc := range []struct {
		status string
		end    time.Time
		want   time.Time
	}{
		{CallQueued, time.Time{}, created.Add(CallMaxAge + Retention)},
		{CallRinging, time.Time{}, created.Add(CallMaxAge + Retention)},
		// A live call's End, should one be set, does not count.
		{CallInProgress, created.Add(time.Minute), created.Add(CallMaxAge + Retention)},
		{CallCompleted, created.Add(time.Minute), created.Add(time.Minute + Retention)},
		{CallBusy, created.Add(time.Second), created.Add(time.Second + Retention)},
		{CallNoAnswer, created.Add(30 * time.Second), created.Add(30*time.Second + Retention)},
		{CallFailed, created, created.Add(Retention)},
		// An end without a time counts from the Put.
		{CallCanceled, time.Time{}, now.Add(Retention)},
	} {
		r := CallRecord{Sid: "CA1", Status: tc.status, Created: created, End: tc.end}
		if got := CallExpires(r, now); !got.Equal(tc.want) {
			t.Errorf("CallExpires(%s, end %v) = %v, want %v", tc.status, tc.end, got, tc.want)
		}
	}
}
