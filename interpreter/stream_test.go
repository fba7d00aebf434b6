package interpreter

import (
	"slices"
	"testing"

	"github.com/texml/texml/stream"
)

func TestStreamURL(t *testing.T) {
	for _, tc := range []struct {
		base, ref, want string
		bad             bool
	}{
		{"https://app.test/voice", "wss://media.test/s", "wss://media.test/s", false},
		{"https://app.test/voice", "ws://127.0.0.1:9000/s?x=1", "ws://127.0.0.1:9000/s?x=1", false},
		{"https://app.test/dir/voice", "/media", "wss://app.test/media", false},
		{"http://app.test/dir/voice", "media", "ws://app.test/dir/media", false},
		{"https://app.test/voice", "https://other.test/m", "wss://other.test/m", false},
		{"https://app.test/voice", "", "", true},
		{"file:///srv/app/voice.xml", "media", "", true},
		{"https://app.test/voice", "ftp://x.test/m", "", true},
	} {
		got, err := streamURL(tc.base, tc.ref)
		if (err != nil) != tc.bad || (!tc.bad && got != tc.want) {
			t.Errorf("streamURL(%q, %q) = %q, %v; want %q (error: %v)", tc.base, tc.ref, got, err, tc.want, tc.bad)
		}
	}
}

func TestStreamTracks(t *testing.T) {
	for _, tc := range []struct {
		attr    string
		in, out bool
		names   []stream.Track
	}{
		{"", true, false, []stream.Track{stream.Inbound}},
		{"inbound_track", true, false, []stream.Track{stream.Inbound}},
		{"outbound_track", false, true, []stream.Track{stream.Outbound}},
		{"both_tracks", true, true, []stream.Track{stream.Inbound, stream.Outbound}},
	} {
		spec, names := tracks(tc.attr)
		if spec.Inbound != tc.in || spec.Outbound != tc.out || !slices.Equal(names, tc.names) {
			t.Errorf("tracks(%q) = %+v, %v", tc.attr, spec, names)
		}
	}
}
