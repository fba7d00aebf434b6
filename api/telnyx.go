package api

import (
	"crypto/subtle"
	"encoding/json"
	"fmt"
	"mime"
	"net/http"
	"net/url"
	"strconv"
	"strings"

	"github.com/texml/texml/calls"
)

// Telnyx's TeXML REST API (https://developers.telnyx.com/api-reference/texml-rest-commands/initiate-an-outbound-call):
// the Twilio-shaped resources under /v2/texml/Accounts/{account_sid}/,
// authenticated with "Authorization: Bearer <API key>" and answering
// errors in Telnyx's shape. Only the Call resource is served there; it
// acts through the same CallService as Twilio's, so a call is one record
// whichever API created it.

// TexmlPrefix starts every path of Telnyx's TeXML API this package serves.
const TexmlPrefix = "/v2/texml/Accounts/"

// telnyxError is one entry of Telnyx's error body
// (https://developers.telnyx.com/development/api-fundamentals/api-errors).
type telnyxError struct {
	Code   string        `json:"code"`
	Title  string        `json:"title"`
	Detail string        `json:"detail"`
	Source *telnyxSource `json:"source,omitempty"`
	Meta   telnyxMeta    `json:"meta"`
}

type telnyxSource struct {
	Pointer string `json:"pointer"`
}

type telnyxMeta struct {
	URL string `json:"url"`
}

// Telnyx's error codes used here, with their titles
// (https://developers.telnyx.com/development/api-fundamentals/api-errors).
const (
	telnyxBadPhone      = "10002"
	telnyxBadURL        = "10003"
	telnyxMissing       = "10004"
	telnyxNotFound      = "10005"
	telnyxUnexpected    = "10007"
	telnyxUnauthorized  = "10009"
	telnyxForbidden     = "10010"
	telnyxTooMany       = "10011"
	telnyxNoAssociation = "10013"
	telnyxBadRequest    = "10015"
)

var telnyxTitles = map[string]string{
	telnyxBadPhone:      "Invalid phone number",
	telnyxBadURL:        "Invalid URL",
	telnyxMissing:       "Missing required parameter",
	telnyxNotFound:      "Resource not found",
	telnyxUnexpected:    "Unexpected error",
	telnyxUnauthorized:  "Authentication failed",
	telnyxForbidden:     "Authorization failed",
	telnyxTooMany:       "Too many requests",
	telnyxNoAssociation: "Missing association",
	telnyxBadRequest:    "Bad Request",
}

// telnyxStatus maps a problem, checked with Twilio's codes, to Telnyx's
// HTTP status and code: Telnyx answers a parameter it cannot use with 422.
func telnyxStatus(p *problem) (int, string) {
	switch p.code {
	case codeNoTo, codeNoFrom:
		return http.StatusUnprocessableEntity, telnyxMissing
	case codeBadTo, codeBadFrom:
		return http.StatusUnprocessableEntity, telnyxBadPhone
	case codeInvalidURL:
		return http.StatusUnprocessableEntity, telnyxBadURL
	case codeBadMethod, codeInvalidParameter, calls.CodeNotInProgress:
		return http.StatusUnprocessableEntity, telnyxBadRequest
	case codeNotFound:
		return http.StatusNotFound, telnyxNotFound
	case codeAuthenticate:
		return http.StatusUnauthorized, telnyxUnauthorized
	case calls.CodeNotAuthorized:
		return http.StatusForbidden, telnyxForbidden
	case calls.CodeTooMany:
		return http.StatusTooManyRequests, telnyxTooMany
	}
	if p.status >= 500 {
		return p.status, telnyxUnexpected
	}
	return p.status, telnyxBadRequest
}

// writeTelnyx answers with Telnyx's error body.
func writeTelnyx(w http.ResponseWriter, status int, code, detail, param string) {
	e := telnyxError{Code: code, Title: telnyxTitles[code], Detail: detail,
		Meta: telnyxMeta{URL: "https://developers.telnyx.com/docs/overview/errors/" + code}}
	if param != "" {
		e.Source = &telnyxSource{Pointer: "/" + param}
	}
	writeJSON(w, status, map[string][]telnyxError{"errors": {e}})
}

// writeTelnyxProblem answers p in Telnyx's shape.
func writeTelnyxProblem(w http.ResponseWriter, p *problem) {
	status, code := telnyxStatus(p)
	writeTelnyx(w, status, code, p.msg, p.param)
}

// serveTelnyx authenticates a request under TexmlPrefix with its Bearer
// API key, checks that its path names that key's account, and routes it.
func (s *server) serveTelnyx(w http.ResponseWriter, r *http.Request) {
	acct, ok := s.bearer(r)
	if !ok {
		w.Header().Set("WWW-Authenticate", `Bearer realm="Telnyx API"`)
		writeTelnyx(w, http.StatusUnauthorized, telnyxUnauthorized,
			"The required authentication headers were either invalid or not included in the request.", "")
		return
	}
	rest, _ := strings.CutPrefix(r.URL.Path, TexmlPrefix)
	if sid, _, _ := strings.Cut(rest, "/"); sid != acct.Sid {
		// Another account's path says nothing about whether it exists.
		telnyxNotFoundAt(w, r)
		return
	}
	s.tmux.ServeHTTP(w, r)
}

// telnyxNotFoundAt is Telnyx's 404 for a path.
func telnyxNotFoundAt(w http.ResponseWriter, r *http.Request) {
	writeTelnyx(w, http.StatusNotFound, telnyxNotFound, "The requested resource "+r.URL.Path+" was not found.", "")
}

// bearer finds the account whose APIKey the request's Bearer token is.
// Every account's key is compared, in constant time, whichever matches,
// so that the time taken says nothing about the keys.
func (s *server) bearer(r *http.Request) (Account, bool) {
	token, ok := strings.CutPrefix(r.Header.Get("Authorization"), "Bearer ")
	token = strings.TrimSpace(token)
	if !ok || token == "" {
		return Account{}, false
	}
	var found Account
	matched := false
	for _, a := range s.o.Accounts {
		want := a.APIKey
		if want == "" {
			want = "\x00no key: this never matches a token of printable characters"
		}
		if subtle.ConstantTimeCompare([]byte(token), []byte(want)) == 1 && a.APIKey != "" && !matched {
			found, matched = a, true
		}
	}
	return found, matched
}

// telnyxForm reads a request's parameters: a JSON object, as Telnyx's
// libraries send them, or a form. JSON values become the text a form
// would carry (true, 3000); a list becomes one value per element, so that
// StatusCallbackEvent may be a list or a space-separated string; an
// object (CustomHeaders' entries) is kept as present, so that a
// parameter texml refuses is seen.
func telnyxForm(r *http.Request) (url.Values, *problem) {
	mt, _, _ := mime.ParseMediaType(r.Header.Get("Content-Type"))
	if mt != "application/json" {
		if err := r.ParseForm(); err != nil {
			return nil, invalid(codeInvalidParameter, "", "Invalid body: want JSON or form-encoded parameters of at most 64 KiB")
		}
		return r.PostForm, nil
	}
	dec := json.NewDecoder(r.Body)
	dec.UseNumber()
	var m map[string]any
	if err := dec.Decode(&m); err != nil {
		return nil, invalid(codeInvalidParameter, "", "Invalid body: want a JSON object of at most 64 KiB: "+err.Error())
	}
	f := url.Values{}
	for k, v := range m {
		switch v := v.(type) {
		case nil:
		case string:
			f.Set(k, v)
		case bool:
			f.Set(k, strconv.FormatBool(v))
		case json.Number:
			f.Set(k, v.String())
		case []any:
			for _, e := range v {
				f.Add(k, fmt.Sprint(e))
			}
		default:
			f.Set(k, fmt.Sprint(v))
		}
	}
	return f, nil
}
