package sim

import (
	"testing"
	"time"
)

func TestParseInput(t *testing.T) {
	tests := []struct {
		in      string
		want    Input
		wantErr bool
	}{
		{in: "dtmf:12#", want: Input{Action: DTMF, Keys: "12#"}},
		{in: "dtmf:1@1500", want: Input{Action: DTMF, Keys: "1", At: 1500 * time.Millisecond, Timed: true}},
		{in: "DTMF:a", want: Input{Action: DTMF, Keys: "A"}},
		{in: "speech:book a flight", want: Input{Action: Speak, Text: "book a flight"}},
		{in: "speech:mail me@home", want: Input{Action: Speak, Text: "mail me@home"}},
		{in: "silence", want: Input{Action: Silence}},
		{in: "hangup@20000", want: Input{Action: Hangup, At: 20 * time.Second, Timed: true}},
		{in: "audio:5", want: Input{Action: Talk, Seconds: 5}},
		{in: "audio:2.5:#", want: Input{Action: Talk, Seconds: 2.5, Key: "#"}},
		{in: "audio:3:hangup", want: Input{Action: Talk, Seconds: 3, Key: "hangup"}},
		{in: "dtmf:", wantErr: true},
		{in: "dtmf:12x", wantErr: true},
		{in: "speech:", wantErr: true},
		{in: "audio:0", wantErr: true},
		{in: "audio:3:xy", wantErr: true},
		{in: "keys:1", wantErr: true},
		{in: "refer:sip:sales@pbx.example.com@3000", want: Input{Action: Refer, Target: "sip:sales@pbx.example.com", At: 3 * time.Second, Timed: true}},
		{in: "refer:sip:sales@pbx.example.com", wantErr: true}, // no time
		{in: "refer:+15551230000@3000", wantErr: true},         // not a SIP URI
	}
	for _, tt := range tests {
		got, err := ParseInput(tt.in)
		if (err != nil) != tt.wantErr {
			t.Errorf("ParseInput(%q) error = %v, wantErr %v", tt.in, err, tt.wantErr)
			continue
		}
		if !tt.wantErr && got != tt.want {
			t.Errorf("ParseInput(%q) = %+v, want %+v", tt.in, got, tt.want)
		}
		if !tt.wantErr {
			again, err := ParseInput(got.String())
			if err != nil || again != got {
				t.Errorf("round trip of %q through %q = %+v, %v", tt.in, got.String(), again, err)
			}
		}
	}
}

func TestParseOutcome(t *testing.T) {
	tests := []struct {
		in      string
		want    Outcome
		wantErr bool
	}{
		{in: "completed:30", want: Outcome{Status: "completed", Seconds: 30}},
		{in: "busy", want: Outcome{Status: "busy"}},
		{in: "No-Answer", want: Outcome{Status: "no-answer"}},
		{in: "completed:12:{\"a\":1}", want: Outcome{Status: "completed", Seconds: 12, Data: `{"a":1}`}},
		{in: "bridged:5", want: Outcome{Status: "bridged", Seconds: 5}},
		{in: "ringing", wantErr: true},
		{in: "completed:-1", wantErr: true},
		{in: "completed:x", wantErr: true},
	}
	for _, tt := range tests {
		got, err := ParseOutcome(tt.in)
		if (err != nil) != tt.wantErr {
			t.Errorf("ParseOutcome(%q) error = %v, wantErr %v", tt.in, err, tt.wantErr)
			continue
		}
		if !tt.wantErr && got != tt.want {
			t.Errorf("ParseOutcome(%q) = %+v, want %+v", tt.in, got, tt.want)
		}
	}
}
