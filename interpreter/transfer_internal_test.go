package interpreter

import "testing"

func TestTransferCode(t *testing.T) {
	tests := []struct {
		res  dialResult
		want int
	}{
		{dialResult{status: "completed", bridged: true}, 200},
		{dialResult{status: "busy", fork: &fork{code: 486}}, 486},
		{dialResult{status: "failed", fork: &fork{code: 404}}, 404},
		{dialResult{status: "busy"}, 486},
		{dialResult{status: "no-answer"}, 480},
		{dialResult{status: "no-answer", fork: &fork{code: 0}}, 480},
		{dialResult{status: "canceled"}, 487},
		{dialResult{status: "failed"}, 503},
	}
	for _, tt := range tests {
		if got := transferCode(tt.res); got != tt.want {
			t.Errorf("transferCode(%+v) = %d, want %d", tt.res, got, tt.want)
		}
	}
}
