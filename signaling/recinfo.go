package signaling

import (
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"time"
)

// RecordingInfo is what is known about a recording beyond its audio: the
// REST API's Recordings resource (package api) reads it to answer with
// the call, the source and the times Twilio's resource has. It is stored
// as JSON beside the audio (RecordingInfoPath), written once the WAV file
// is complete, so a sidecar never names a half-written recording.
type RecordingInfo struct {
	Sid           string    `json:"sid"`
	AccountSid    string    `json:"account_sid,omitempty"`
	CallSid       string    `json:"call_sid,omitempty"`
	ConferenceSid string    `json:"conference_sid,omitempty"`
	Source        string    `json:"source,omitempty"` // RecordVerb, DialVerb, Conference (Twilio's names)
	Channels      int       `json:"channels"`
	StartTime     time.Time `json:"start_time"`
	DurationMS    int64     `json:"duration_ms"`
}

// RecordingInfoPath is where the RecordingInfo of the recording sid is
// stored: next to its audio, so that deleting both is two removes.
func RecordingInfoPath(dir, sid string) string { return filepath.Join(dir, sid+".json") }

// WriteRecordingInfo stores info beside its recording in dir. It writes a
// temporary file and renames it, so a reader sees all or nothing.
func WriteRecordingInfo(dir string, info RecordingInfo) error {
	data, err := json.Marshal(info)
	if err != nil {
		return fmt.Errorf("recording info %s: %w", info.Sid, err)
	}
	path := RecordingInfoPath(dir, info.Sid)
	tmp := path + ".tmp"
	if err := os.WriteFile(tmp, data, 0o644); err != nil {
		return fmt.Errorf("recording info: %w", err)
	}
	if err := os.Rename(tmp, path); err != nil {
		os.Remove(tmp)
		return fmt.Errorf("recording info: %w", err)
	}
	return nil
}

// ReadRecordingInfo reads the RecordingInfo of sid in dir; the error
// wraps fs.ErrNotExist when the recording has none (it was made before
// sidecars existed, or by something else).
func ReadRecordingInfo(dir, sid string) (RecordingInfo, error) {
	var info RecordingInfo
	data, err := os.ReadFile(RecordingInfoPath(dir, sid))
	if err != nil {
		return info, fmt.Errorf("recording info: %w", err)
	}
	if err := json.Unmarshal(data, &info); err != nil {
		return info, fmt.Errorf("recording info %s: %w", sid, err)
	}
	return info, nil
}
