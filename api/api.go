// Package api serves the part of Twilio's REST API, version 2010-04-01,
// that texml implements, so that Twilio's helper libraries work against
// `texml serve` with only their base URL changed
// (https://www.twilio.com/docs/usage/api). Every path is under
// /2010-04-01/Accounts/{AccountSid}/, with or without a .json extension;
// requests authenticate with HTTP Basic AccountSid:AuthToken, and an
// account sees only its own resources.
//
// Implemented: authentication, Twilio's error bodies, list paging and
// the Call, Recording, Queue, Member, Conference and Participant
// resources.
//
// The Call resource is served in Telnyx's TeXML shape too, under
// /v2/texml/Accounts/{account_sid}/ with Bearer API keys (telnyx.go,
// texmlcalls.go); its calls run in the TeXML dialect.
package api

import (
	"crypto/subtle"
	"log/slog"
	"net/http"
	"strings"

	"github.com/texml/texml/interpreter"
	"github.com/texml/texml/store"
)

// Version is the API version every path starts with.
const Version = "2010-04-01"

// prefix starts every path this package serves.
const prefix = "/" + Version + "/Accounts/"

// MaxBody caps a request body: form-encoded parameters are small, and an
// unauthenticated client must not make the server buffer much.
const MaxBody = 64 << 10

// Account is one set of API credentials and the resources it owns.
type Account struct {
	Sid       string `yaml:"sid"`        // AC… (any id for Telnyx's API)
	AuthToken string `yaml:"auth_token"` // the Basic-auth password of Twilio's API
	// APIKey is the Bearer token of Telnyx's TeXML API ("Authorization:
	// Bearer <API key>",
	// https://developers.telnyx.com/api-reference/texml-rest-commands/initiate-an-outbound-call);
	// empty: the account cannot use it.
	APIKey string `yaml:"api_key"`
}

// Options configure New.
type Options struct {
	// Accounts may use the API. An account with an empty AuthToken can
	// never authenticate: with no token there is no API.
	Accounts []Account
	// DefaultAccountSid owns the recordings that carry no account (made
	// before recordings had sidecars); usually the first account.
	DefaultAccountSid string
	// RecordingsDir holds the recordings, RE….wav, each with its
	// signaling.RecordingInfo sidecar RE….json.
	RecordingsDir string
	// MediaAuth asks for Basic auth on recording media too. Twilio serves
	// media without it unless the account enables "HTTP Basic
	// Authentication for media" (https://www.twilio.com/docs/usage/security#http-authentication),
	// and apps fetch RecordingUrl that way; a recording sid is 128
	// random bits, which is what protects it then.
	MediaAuth bool
	// BaseURL prefixes the absolute URLs in responses (a recording's
	// media_url), e.g. "https://texml.example.com": --public-url. Empty:
	// the scheme and Host of each request.
	BaseURL string
	// Queues serve the Queues and Members resources (queues.go); nil:
	// not served. Dequeue, (*queue.Service).Dequeue, updates a member.
	Queues  store.Queues
	Dequeue DequeueFunc
	// Conferences and ConferenceControl serve the Conference and
	// Participant resources (conferences.go); both nil: not served.
	Conferences       store.Conferences
	ConferenceControl ConferenceController
	// Calls serves the Call resource (calls.go); nil: not served.
	Calls CallService
	// Applications finds the TeXML application that Telnyx's call create
	// names by ApplicationSid: the call configuration of its route
	// (signaling.Routes.Application). With Calls, it serves Telnyx's
	// Call resource under TexmlPrefix (texmlcalls.go); nil: not served.
	Applications func(applicationSid string) (interpreter.Config, bool)
	// Logger receives failures the client cannot act on; nil: discarded.
	Logger *slog.Logger
}

// server is the handler New returns.
type server struct {
	o        Options
	accounts map[string]Account
	mux      *http.ServeMux
	tmux     *http.ServeMux // Telnyx's paths (telnyx.go)
	log      *slog.Logger
}

// New returns the API's handler, for every path under /2010-04-01/ and
// under TexmlPrefix.
func New(o Options) http.Handler {
	s := &server{o: o, accounts: make(map[string]Account), mux: http.NewServeMux(), tmux: http.NewServeMux(), log: o.Logger}
	if s.log == nil {
		s.log = slog.New(slog.DiscardHandler)
	}
	for _, a := range o.Accounts {
		s.accounts[a.Sid] = a
	}
	const acct = prefix + "{AccountSid}/"
	for _, p := range []string{"Recordings", "Recordings.json"} {
		s.mux.HandleFunc("GET "+acct+p, s.listRecordings)
	}
	// {Sid} holds the extension too: RE….json is the resource, RE… and
	// RE….wav its audio (recordingSid splits them).
	s.mux.HandleFunc("GET "+acct+"Recordings/{Sid}", s.getRecording)
	s.mux.HandleFunc("DELETE "+acct+"Recordings/{Sid}", s.deleteRecording)
	if o.Queues != nil {
		s.registerQueues(acct)
	}
	if o.Calls != nil {
		s.registerCalls(acct)
		s.registerStreams(acct)
		s.registerSiprec(acct)
	}
	if o.Conferences != nil && o.ConferenceControl != nil {
		s.registerConferences(acct)
	}
	s.mux.HandleFunc("/", s.unrouted)
	if o.Calls != nil && o.Applications != nil {
		s.registerTexmlCalls()
		s.registerTexmlStreams()
		s.registerTexmlSiprec()
	}
	s.tmux.HandleFunc("/", telnyxNotFoundAt)
	return s
}

// ServeHTTP authenticates the request, checks that its path names the
// authenticated account, and routes it.
func (s *server) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	r.Body = http.MaxBytesReader(w, r.Body, MaxBody)
	if strings.HasPrefix(r.URL.Path, "/v2/texml/") {
		s.serveTelnyx(w, r)
		return
	}
	sid, ok := pathAccount(r.URL.Path)
	if !s.o.MediaAuth && ok && isMediaRequest(r) {
		// Public media, as Twilio's default; the recording must still be
		// the path's account's (serveMedia checks).
		s.mux.ServeHTTP(w, r)
		return
	}
	acct, authed := s.authenticate(r)
	if !authed {
		unauthorized(w)
		return
	}
	// Another account's path is answered as an unknown resource: it says
	// nothing about whether that account exists.
	if !ok || sid != acct.Sid {
		notFound(w, r)
		return
	}
	s.mux.ServeHTTP(w, r)
}

// authenticate checks HTTP Basic credentials against the accounts. The
// token comparison takes the same time whatever the token, and an unknown
// AccountSid costs one comparison too.
func (s *server) authenticate(r *http.Request) (Account, bool) {
	user, pass, ok := r.BasicAuth()
	if !ok {
		return Account{}, false
	}
	a, known := s.accounts[user]
	want := a.AuthToken
	if !known || want == "" {
		want = "\x00no account: this never matches a password of printable characters"
	}
	match := subtle.ConstantTimeCompare([]byte(pass), []byte(want)) == 1
	return a, match && known && a.AuthToken != ""
}

// pathAccount returns the AccountSid of a path under
// /2010-04-01/Accounts/{AccountSid}/; false for any other path (the
// Accounts resource itself is not served).
func pathAccount(p string) (string, bool) {
	rest, ok := strings.CutPrefix(p, prefix)
	if !ok {
		return "", false
	}
	sid, _, ok := strings.Cut(rest, "/")
	return sid, ok && sid != ""
}

// isMediaRequest reports whether r asks for a recording's audio: GET or
// HEAD of …/Recordings/RE… with no extension or an audio one.
func isMediaRequest(r *http.Request) bool {
	if r.Method != http.MethodGet && r.Method != http.MethodHead {
		return false
	}
	_, rest, _ := strings.Cut(strings.TrimPrefix(r.URL.Path, prefix), "/")
	name, ok := strings.CutPrefix(rest, "Recordings/")
	if !ok || strings.Contains(name, "/") {
		return false
	}
	_, ext := recordingSid(name)
	return ext != ".json"
}

// unrouted answers a request no route took: 405 with Twilio's 20004 and
// an Allow header when the path is a resource that takes other methods
// (as Twilio answers a DELETE of a queue member), 404/20404 otherwise.
func (s *server) unrouted(w http.ResponseWriter, r *http.Request) {
	var allow []string
	for _, m := range []string{http.MethodGet, http.MethodPost, http.MethodDelete} {
		if m == r.Method {
			continue
		}
		probe := r.Clone(r.Context())
		probe.Method = m
		if _, pattern := s.mux.Handler(probe); pattern != "/" {
			allow = append(allow, m)
		}
	}
	if len(allow) == 0 {
		notFound(w, r)
		return
	}
	w.Header().Set("Allow", strings.Join(allow, ", "))
	writeError(w, http.StatusMethodNotAllowed, codeMethodNotAllowed, "Method "+r.Method+" not allowed on "+r.URL.Path)
}
