package signaling

import (
	"crypto/rand"
	"errors"
	"fmt"
	"log/slog"
	"strconv"
	"strings"
	"time"

	"github.com/emiago/sipgo/sip"
)

// Client is an identity that may register with texml, be dialed with
// <Dial><Client>identity</Client></Dial> and place calls that reach the
// app From client:identity (the `clients:` of the config file;
// clientcall.go).
type Client struct {
	// Identity is the user part of the address of record: a softphone
	// registering sip:alice@<anything> is alice.
	Identity string `yaml:"identity"`
	// Password answers the digest challenge (RFC 3261 §22).
	Password string `yaml:"password"`
}

// Expiry bounds of a registration (RFC 3261 §10.2.1.1, §10.3 step 7).
const (
	// MinExpires is the shortest registration accepted; a shorter one
	// gets 423 Interval Too Brief with Min-Expires.
	MinExpires = 60 * time.Second
	// MaxExpires is the longest: a longer request is granted this, and
	// so is a request that names none.
	MaxExpires = 3600 * time.Second
)

// RegistrarConfig configures a Registrar.
type RegistrarConfig struct {
	// Realm is the digest realm of the challenge (texml serve uses the
	// public IP unless the config file sets `realm:`). Required.
	Realm   string
	Clients []Client
	// Bindings stores registrations; nil: NewBindings(0, 0).
	Bindings Bindings
	// Now is the clock expiry is measured on; nil: time.Now.
	Now func() time.Time
	// Secret keys the nonces; nil: 32 random bytes, so that nonces of a
	// restarted process are stale.
	Secret []byte
	Logger *slog.Logger // optional
}

// Registrar is texml's SIP registrar (RFC 3261 §10.3): clients of the
// config file REGISTER with digest authentication, and <Dial><Client>
// calls their contacts. Its state is in Bindings; it holds none itself,
// apart from the immutable client list.
type Registrar struct {
	realm    string
	clients  map[string]string // identity → password
	bindings Bindings
	now      func() time.Time
	nonces   nonces
	log      *slog.Logger
}

// NewRegistrar checks cfg and returns a registrar.
func NewRegistrar(cfg RegistrarConfig) (*Registrar, error) {
	if cfg.Realm == "" {
		return nil, errors.New("registrar: a realm is required")
	}
	r := &Registrar{realm: cfg.Realm, clients: map[string]string{}, bindings: cfg.Bindings, now: cfg.Now, log: cfg.Logger}
	for i, c := range cfg.Clients {
		switch {
		case c.Identity == "" || !isToken(c.Identity):
			return nil, fmt.Errorf("clients[%d]: identity %q must be a non-empty SIP user name (letters, digits, - _ . ! ~ * ' ( ) %%)", i, c.Identity)
		case c.Password == "":
			return nil, fmt.Errorf("clients[%d] (%s): a password is required", i, c.Identity)
		}
		if _, dup := r.clients[c.Identity]; dup {
			return nil, fmt.Errorf("clients[%d]: identity %q appears twice", i, c.Identity)
		}
		r.clients[c.Identity] = c.Password
	}
	if r.bindings == nil {
		r.bindings = NewBindings(0, 0)
	}
	if r.now == nil {
		r.now = time.Now
	}
	if r.log == nil {
		r.log = slog.New(slog.DiscardHandler)
	}
	secret := cfg.Secret
	if secret == nil {
		secret = make([]byte, 32)
		_, _ = rand.Read(secret)
	}
	r.nonces = nonces{secret: secret}
	return r, nil
}

// isToken reports whether s may be the user part of a SIP URI as is
// (RFC 3261 §25.1 "unreserved" plus "%", without escaping).
func isToken(s string) bool {
	for _, c := range s {
		switch {
		case c >= 'a' && c <= 'z', c >= 'A' && c <= 'Z', c >= '0' && c <= '9':
		case strings.ContainsRune("-_.!~*'()%+", c):
		default:
			return false
		}
	}
	return true
}

// Known reports whether identity is one of the configured clients.
func (r *Registrar) Known(identity string) bool {
	_, ok := r.clients[identity]
	return ok
}

// Contacts are identity's current bindings, the most recently updated
// first.
func (r *Registrar) Contacts(identity string) []Binding {
	return r.bindings.Lookup(identity, r.now())
}

// Register handles one REGISTER (RFC 3261 §10.3) and returns the
// response to send: 401 with a challenge, 403, 400, 423, 503 or 200 with
// the identity's bindings.
func (r *Registrar) Register(req *sip.Request) *sip.Response {
	now := r.now()
	to := req.To()
	if to == nil || req.CallID() == nil || req.CSeq() == nil {
		return sip.NewResponseFromRequest(req, 400, "Bad Request", nil)
	}
	// Step 5: the address of record is the To header's; its user part
	// is the identity, whatever the host (texml is the only domain).
	aor := to.Address.User
	if res := r.authenticate(req, aor, now, registrarAuth); res != nil {
		return res
	}
	u, res := r.update(req, now)
	if res != nil {
		return res
	}
	bs, err := r.bindings.Update(aor, u)
	switch {
	case errors.Is(err, ErrOutOfOrder):
		return sip.NewResponseFromRequest(req, 400, "Out Of Order CSeq", nil)
	case errors.Is(err, ErrTooManyBindings), errors.Is(err, ErrRegistrarFull):
		// As Kamailio's registrar does (max_contacts): 503 with the
		// reason; the client keeps its other registrations.
		r.log.Warn("REGISTER refused", "identity", aor, "err", err)
		res := sip.NewResponseFromRequest(req, 503, "Too Many Registered Contacts", nil)
		res.AppendHeader(sip.NewHeader("Retry-After", "60"))
		return res
	case err != nil:
		return sip.NewResponseFromRequest(req, 500, "Server Internal Error", nil)
	}
	r.log.Debug("REGISTER", "identity", aor, "source", req.Source(), "bindings", len(bs))
	// Step 8: 200 OK with every current binding and its remaining time.
	res = sip.NewResponseFromRequest(req, 200, "OK", nil)
	for _, b := range bs {
		var uri sip.Uri
		if err := sip.ParseUri(b.Contact, &uri); err != nil {
			continue
		}
		c := &sip.ContactHeader{Address: uri, Params: sip.NewParams()}
		c.Params.Add("expires", strconv.Itoa(int(b.Expires.Sub(now).Round(time.Second)/time.Second)))
		res.AppendHeader(c)
	}
	res.AppendHeader(sip.NewHeader("Date", now.UTC().Format(time.RFC1123)))
	return res
}

// update turns the REGISTER's Contact and Expires headers into an Update
// (RFC 3261 §10.3 step 6 and 7), or the error response.
func (r *Registrar) update(req *sip.Request, now time.Time) (Update, *sip.Response) {
	u := Update{Now: now, CallID: req.CallID().Value(), CSeq: req.CSeq().SeqNo}
	def := MaxExpires
	if h := req.GetHeader("Expires"); h != nil {
		n, err := strconv.ParseUint(strings.TrimSpace(h.Value()), 10, 32)
		if err != nil {
			return u, sip.NewResponseFromRequest(req, 400, "Bad Expires", nil)
		}
		def = time.Duration(n) * time.Second
	}
	contacts := req.GetHeaders("Contact")
	for _, h := range contacts {
		c, ok := h.(*sip.ContactHeader)
		if !ok {
			return u, sip.NewResponseFromRequest(req, 400, "Bad Contact", nil)
		}
		if c.Address.Wildcard {
			// "Contact: *" only alone and with Expires: 0 (step 6).
			if len(contacts) != 1 || def != 0 {
				return u, sip.NewResponseFromRequest(req, 400, "Contact * Needs Expires 0", nil)
			}
			u.RemoveAll = true
			return u, nil
		}
		exp := def
		if v, ok := c.Params.Get("expires"); ok {
			n, err := strconv.ParseUint(strings.TrimSpace(v), 10, 32)
			if err != nil {
				return u, sip.NewResponseFromRequest(req, 400, "Bad Contact Expires", nil)
			}
			exp = time.Duration(n) * time.Second
		}
		switch {
		case exp > 0 && exp < MinExpires:
			res := sip.NewResponseFromRequest(req, 423, "Interval Too Brief", nil)
			res.AppendHeader(sip.NewHeader("Min-Expires", strconv.Itoa(int(MinExpires/time.Second))))
			return u, res
		case exp > MaxExpires:
			exp = MaxExpires
		}
		u.Contacts = append(u.Contacts, Binding{Contact: c.Address.String(), Source: req.Source(),
			Transport: strings.ToUpper(req.Transport()), Expires: now.Add(exp)})
	}
	return u, nil
}

// contactKey is the form of a Contact URI under which bindings match
// (RFC 3261 §10.3 step 6, with the comparison rules of §19.1.4 reduced
// to what identifies a contact: scheme, user, host, port, transport).
func contactKey(s string) string {
	var u sip.Uri
	if err := sip.ParseUri(s, &u); err != nil {
		return s
	}
	tp, _ := u.UriParams.Get("transport")
	return fmt.Sprintf("%s:%s@%s:%d;%s", strings.ToLower(u.Scheme), u.User, strings.ToLower(u.Host), u.Port, strings.ToLower(tp))
}
