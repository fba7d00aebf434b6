package api

import (
	"cmp"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"math"
	"net/http"
	"os"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/texml/texml/signaling"
)

// The Recordings resource (https://www.twilio.com/docs/voice/api/recording)
// over the recordings directory: each recording is RE….wav, 8 kHz 16-bit
// PCM, with a signaling.RecordingInfo sidecar RE….json written when it
// ends. A recording without a sidecar (made by an older texml) is
// described from its WAV header and file time and belongs to
// Options.DefaultAccountSid; one whose header still has the writer's
// placeholder sizes is being recorded ("in-progress", duration "-1").

// recordingName is a recording's file in the directory.
var recordingName = regexp.MustCompile(`^RE[0-9a-f]{32}$`)

// recording is what the API knows of one recording.
type recording struct {
	signaling.RecordingInfo
	status  string    // completed, or in-progress
	updated time.Time // the audio file's modification time
}

// recordingJSON is Twilio's Recording resource
// (https://www.twilio.com/docs/voice/api/recording#recording-properties):
// strings where Twilio sends strings (duration), null where texml has
// nothing to say (price, error_code, encryption_details).
type recordingJSON struct {
	AccountSid        string            `json:"account_sid"`
	APIVersion        string            `json:"api_version"`
	CallSid           *string           `json:"call_sid"`
	ConferenceSid     *string           `json:"conference_sid"`
	DateCreated       string            `json:"date_created"`
	DateUpdated       string            `json:"date_updated"`
	StartTime         string            `json:"start_time"`
	Duration          string            `json:"duration"`
	Sid               string            `json:"sid"`
	Price             *string           `json:"price"`
	PriceUnit         string            `json:"price_unit"`
	Status            string            `json:"status"`
	Channels          int               `json:"channels"`
	Source            string            `json:"source"`
	ErrorCode         *int              `json:"error_code"`
	URI               string            `json:"uri"`
	EncryptionDetails any               `json:"encryption_details"`
	SubresourceURIs   map[string]string `json:"subresource_uris"`
	MediaURL          string            `json:"media_url"`
}

// json renders rec; base prefixes media_url.
func (rec recording) json(base string) recordingJSON {
	path := prefix + rec.AccountSid + "/Recordings/" + rec.Sid
	duration := "-1" // Twilio's value while a recording is in progress
	if rec.status == "completed" {
		duration = strconv.Itoa(int(math.Round(float64(rec.DurationMS) / 1000)))
	}
	source := rec.Source
	if source == "" {
		source = "RecordVerb"
	}
	return recordingJSON{
		AccountSid: rec.AccountSid, APIVersion: Version,
		CallSid: nullable(rec.CallSid), ConferenceSid: nullable(rec.ConferenceSid),
		DateCreated: rfc2822(rec.StartTime), DateUpdated: rfc2822(rec.updated), StartTime: rfc2822(rec.StartTime),
		Duration: duration, Sid: rec.Sid, PriceUnit: "USD", Status: rec.status,
		Channels: rec.Channels, Source: source, URI: path + ".json",
		SubresourceURIs: map[string]string{
			"add_on_results": path + "/AddOnResults.json",
			"transcriptions": path + "/Transcriptions.json",
		},
		MediaURL: strings.TrimRight(base, "/") + path,
	}
}

func nullable(s string) *string {
	if s == "" {
		return nil
	}
	return &s
}

// recordingSid splits a path's last segment, RE… with an optional
// extension, into the sid and the extension ("" when there is none).
func recordingSid(name string) (sid, ext string) {
	if i := strings.IndexByte(name, '.'); i >= 0 {
		return name[:i], name[i:]
	}
	return name, ""
}

// loadRecording reads what is known of the recording sid; the error wraps
// fs.ErrNotExist when there is no such recording.
func (s *server) loadRecording(sid string) (recording, error) {
	var rec recording
	if !recordingName.MatchString(sid) {
		return rec, fmt.Errorf("recording %q: %w", sid, fs.ErrNotExist)
	}
	wav := signaling.RecordingPath(s.o.RecordingsDir, sid)
	st, err := os.Stat(wav)
	if err != nil {
		return rec, fmt.Errorf("recording: %w", err)
	}
	rec.updated, rec.status = st.ModTime(), "completed"
	info, err := signaling.ReadRecordingInfo(s.o.RecordingsDir, sid)
	if err == nil {
		rec.RecordingInfo = info
		if rec.AccountSid == "" {
			rec.AccountSid = s.o.DefaultAccountSid
		}
		return rec, nil
	}
	if !errors.Is(err, fs.ErrNotExist) {
		s.log.Warn("recordings API: unreadable sidecar; described from the WAV", "sid", sid, "err", err)
	}
	// No sidecar: an older recording, or one still being written.
	rec.RecordingInfo = signaling.RecordingInfo{Sid: sid, AccountSid: s.o.DefaultAccountSid, Channels: 1}
	channels, size, err := wavHeader(wav)
	if err != nil {
		return rec, fmt.Errorf("recording %s: %w", sid, err)
	}
	rec.Channels = channels
	if size == math.MaxUint32 { // the writer's placeholder until it closes
		rec.status = "in-progress"
		rec.StartTime = st.ModTime()
		return rec, nil
	}
	d := time.Duration(size) * time.Second / time.Duration(8000*2*channels)
	rec.DurationMS, rec.StartTime = d.Milliseconds(), st.ModTime().Add(-d)
	return rec, nil
}

// wavHeader reads the channel count and data size of a WAV file that
// texml wrote (the canonical 44-byte header).
func wavHeader(path string) (channels int, size uint32, err error) {
	f, err := os.Open(path)
	if err != nil {
		return 0, 0, err
	}
	defer f.Close()
	var h [44]byte
	if _, err := io.ReadFull(f, h[:]); err != nil {
		// Created but not a byte written yet: being recorded.
		return 1, math.MaxUint32, nil
	}
	if string(h[:4]) != "RIFF" || string(h[36:40]) != "data" {
		return 0, 0, errors.New("not a WAV file texml wrote")
	}
	return max(1, int(binary.LittleEndian.Uint16(h[22:]))), binary.LittleEndian.Uint32(h[40:]), nil
}

// accountRecordings lists the account's recordings, newest first, as
// Twilio's list is ordered.
func (s *server) accountRecordings(account string) ([]recording, error) {
	entries, err := os.ReadDir(s.o.RecordingsDir)
	if err != nil {
		return nil, fmt.Errorf("recordings: %w", err)
	}
	var recs []recording
	for _, e := range entries {
		sid, ok := strings.CutSuffix(e.Name(), ".wav")
		if !ok || !recordingName.MatchString(sid) {
			continue
		}
		rec, err := s.loadRecording(sid)
		if err != nil {
			continue // deleted meanwhile, or not ours to describe
		}
		if rec.AccountSid == account {
			recs = append(recs, rec)
		}
	}
	slices.SortFunc(recs, func(a, b recording) int {
		return cmp.Or(b.StartTime.Compare(a.StartTime), strings.Compare(b.Sid, a.Sid))
	})
	return recs, nil
}

// listRecordings is GET …/Recordings.json
// (https://www.twilio.com/docs/voice/api/recording#read-multiple-recording-resources)
// with the filters CallSid, ConferenceSid, DateCreated, DateCreated< and
// DateCreated>.
func (s *server) listRecordings(w http.ResponseWriter, r *http.Request) {
	account := r.PathValue("AccountSid")
	q := r.URL.Query()
	p, ok := parsePage(w, q)
	if !ok {
		return
	}
	var filters [][2]string
	var keep []func(recording) bool
	for _, name := range []string{"CallSid", "ConferenceSid"} {
		if v := q.Get(name); v != "" {
			filters = append(filters, [2]string{name, v})
			keep = append(keep, func(rec recording) bool {
				if name == "CallSid" {
					return rec.CallSid == v
				}
				return rec.ConferenceSid == v
			})
		}
	}
	for _, name := range []string{"DateCreated", "DateCreated<", "DateCreated>"} {
		v := q.Get(name)
		if v == "" {
			continue
		}
		from, to, err := dateRange(v)
		if err != nil {
			badParam(w, name, err.Error())
			return
		}
		filters = append(filters, [2]string{name, v})
		keep = append(keep, func(rec recording) bool {
			t := rec.StartTime
			switch name {
			case "DateCreated<":
				return t.Before(to)
			case "DateCreated>":
				return !t.Before(from)
			}
			return !t.Before(from) && t.Before(to)
		})
	}
	recs, err := s.accountRecordings(account)
	if err != nil {
		s.log.Error("recordings API: list", "err", err)
		writeError(w, http.StatusInternalServerError, codeInternal, "Internal Server Error")
		return
	}
	recs = slices.DeleteFunc(recs, func(rec recording) bool {
		for _, k := range keep {
			if !k(rec) {
				return true
			}
		}
		return false
	})
	sid := func(rec recordingJSON) string { return rec.Sid }
	out := make([]recordingJSON, len(recs))
	for i, rec := range recs {
		out[i] = rec.json(s.baseURL(r))
	}
	page, more := paginate(out, sid, p)
	writeJSON(w, http.StatusOK, listPage(prefix+account+"/Recordings.json", filters, p, "recordings", page, more, sid))
}

// dateRange parses a DateCreated filter: a day (YYYY-MM-DD, the whole
// UTC day) or an RFC 3339 time (that instant; twilio-node sends these).
// It returns [from, to).
func dateRange(v string) (from, to time.Time, err error) {
	if t, err := time.Parse(time.DateOnly, v); err == nil {
		return t, t.AddDate(0, 0, 1), nil
	}
	t, err := time.Parse(time.RFC3339, v)
	if err != nil {
		return t, t, errors.New("want YYYY-MM-DD or an RFC 3339 date and time")
	}
	return t, t.Add(time.Nanosecond), nil
}

// getRecording is GET …/Recordings/RE….json (the resource,
// https://www.twilio.com/docs/voice/api/recording#fetch-a-recording-resource)
// and …/Recordings/RE…[.wav] (its audio).
func (s *server) getRecording(w http.ResponseWriter, r *http.Request) {
	sid, ext := recordingSid(r.PathValue("Sid"))
	rec, err := s.loadRecording(sid)
	if err != nil || rec.AccountSid != r.PathValue("AccountSid") {
		notFound(w, r)
		return
	}
	switch ext {
	case ".json":
		writeJSON(w, http.StatusOK, rec.json(s.baseURL(r)))
	case "", ".wav":
		s.serveMedia(w, r, rec)
	case ".mp3":
		// Twilio transcodes to MP3 on request; texml keeps WAV only and
		// has no MP3 encoder.
		writeError(w, http.StatusNotFound, codeNotFound, "Recording "+sid+" is stored as WAV only; texml has no MP3: request "+sid+".wav or "+sid)
	default:
		notFound(w, r)
	}
}

// serveMedia sends a recording's WAV file, with ranges and conditional
// requests (http.ServeContent).
func (s *server) serveMedia(w http.ResponseWriter, r *http.Request, rec recording) {
	if rec.status != "completed" {
		notFound(w, r) // Twilio has no media until the recording is done
		return
	}
	f, err := os.Open(signaling.RecordingPath(s.o.RecordingsDir, rec.Sid))
	if err != nil {
		notFound(w, r)
		return
	}
	defer f.Close()
	w.Header().Set("Content-Type", "audio/x-wav")
	http.ServeContent(w, r, "", rec.updated, f)
}

// deleteRecording is DELETE …/Recordings/RE…[.json]
// (https://www.twilio.com/docs/voice/api/recording#delete-a-recording-resource):
// the audio and its sidecar are removed; 204 No Content.
func (s *server) deleteRecording(w http.ResponseWriter, r *http.Request) {
	sid, ext := recordingSid(r.PathValue("Sid"))
	if ext != "" && ext != ".json" {
		notFound(w, r)
		return
	}
	rec, err := s.loadRecording(sid)
	if err != nil || rec.AccountSid != r.PathValue("AccountSid") {
		notFound(w, r)
		return
	}
	if err := os.Remove(signaling.RecordingPath(s.o.RecordingsDir, sid)); err != nil && !errors.Is(err, fs.ErrNotExist) {
		s.log.Error("recordings API: delete", "sid", sid, "err", err)
		writeError(w, http.StatusInternalServerError, codeInternal, "Internal Server Error")
		return
	}
	if err := os.Remove(signaling.RecordingInfoPath(s.o.RecordingsDir, sid)); err != nil && !errors.Is(err, fs.ErrNotExist) {
		s.log.Warn("recordings API: delete sidecar", "sid", sid, "err", err)
	}
	w.WriteHeader(http.StatusNoContent)
}

// baseURL prefixes media_url: Options.BaseURL, else where this request
// reached us.
func (s *server) baseURL(r *http.Request) string {
	if s.o.BaseURL != "" {
		return s.o.BaseURL
	}
	scheme := "http"
	if r.TLS != nil {
		scheme = "https"
	}
	return scheme + "://" + r.Host
}
