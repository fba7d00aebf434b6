package api

import (
	"encoding/json"
	"net/http"
	"strconv"
	"time"
)

// apiError is Twilio's error body
// (https://www.twilio.com/docs/usage/twilios-response#response-formats-exceptions).
// The helper libraries turn it into their RestException: code, message,
// moreInfo and status.
type apiError struct {
	Code     int    `json:"code"`
	Message  string `json:"message"`
	MoreInfo string `json:"more_info"`
	Status   int    `json:"status"`
}

// Twilio's error codes used here (https://www.twilio.com/docs/api/errors).
const (
	codeInvalidParameter = 20001 // a parameter has a value we cannot use
	codeAuthenticate     = 20003 // missing or wrong credentials
	codeNotFound         = 20404 // no such resource
	codeInternal         = 20500 // our fault
)

// writeError answers with Twilio's error body.
func writeError(w http.ResponseWriter, status, code int, msg string) {
	writeJSON(w, status, apiError{Code: code, Message: msg, Status: status,
		MoreInfo: "https://www.twilio.com/docs/errors/" + strconv.Itoa(code)})
}

// unauthorized answers a request without valid credentials as Twilio does:
// 401, code 20003, and a Basic challenge so that curl and browsers ask.
func unauthorized(w http.ResponseWriter) {
	w.Header().Set("WWW-Authenticate", `Basic realm="Twilio API"`)
	writeError(w, http.StatusUnauthorized, codeAuthenticate, "Authenticate")
}

// notFound is Twilio's 20404, naming the path as Twilio's message does.
func notFound(w http.ResponseWriter, r *http.Request) {
	writeError(w, http.StatusNotFound, codeNotFound, "The requested resource "+r.URL.Path+" was not found")
}

// badParam is a 400 for a parameter whose value cannot be used.
func badParam(w http.ResponseWriter, name, why string) {
	writeError(w, http.StatusBadRequest, codeInvalidParameter, "Invalid "+name+": "+why)
}

// writeJSON writes v as the response body.
func writeJSON(w http.ResponseWriter, status int, v any) {
	data, err := json.Marshal(v)
	if err != nil {
		// Only a bug in this package's types gets here.
		status, data = http.StatusInternalServerError, []byte(`{"code":20500,"message":"Internal Server Error","more_info":"https://www.twilio.com/docs/errors/20500","status":500}`)
	}
	w.Header().Set("Content-Type", "application/json; charset=utf-8")
	w.Header().Set("Content-Length", strconv.Itoa(len(data)))
	w.WriteHeader(status)
	_, _ = w.Write(data)
}

// rfc2822 formats t as Twilio's dates are: RFC 2822 in UTC, "+0000"
// (https://www.twilio.com/docs/usage/twilios-response#response-formats-dates).
func rfc2822(t time.Time) string { return t.UTC().Format(time.RFC1123Z) }

// codeMethodNotAllowed is Twilio's 20004: the resource exists but does
// not take this method (here: texml cannot do it).
const codeMethodNotAllowed = 20004

// internal answers a failure of the store or a service with 500/20500
// and logs it; what says what was being done.
func (s *server) internal(w http.ResponseWriter, what string, err error) {
	s.log.Warn("API: "+what, "err", err)
	writeError(w, http.StatusInternalServerError, codeInternal, "Internal Server Error")
}

// parseForm reads the request's form-encoded parameters (r.PostForm);
// a body that is not one, or is over MaxBody, is answered 400/20001
// (false).
func parseForm(w http.ResponseWriter, r *http.Request) bool {
	if err := r.ParseForm(); err != nil {
		badParam(w, "body", "want form-encoded parameters of at most 64 KiB")
		return false
	}
	return true
}
