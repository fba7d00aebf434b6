package interpreter

import "testing"

func TestDialStatus(t *testing.T) {
	tests := []struct {
		code int
		want string
	}{
		{486, "busy"}, {600, "busy"},
		{408, "no-answer"}, {480, "no-answer"}, {487, "no-answer"},
		{404, "failed"}, {484, "failed"}, {403, "failed"}, {488, "failed"},
		{500, "failed"}, {503, "failed"}, {603, "failed"}, {604, "failed"},
		{0, "failed"},
	}
	for _, tc := range tests {
		if got := DialStatus(tc.code); got != tc.want {
			t.Errorf("DialStatus(%d) = %s, want %s", tc.code, got, tc.want)
		}
	}
}
