package signaling

import (
	"fmt"
	"path"
	"strings"

	"github.com/emiago/sipgo/sip"
)

// Trunk is an outbound route for <Dial><Number>: numbers that match one of
// its patterns are sent to its URI.
type Trunk struct {
	Name string `yaml:"name"`
	// Match are shell patterns (path.Match) tried against the number as
	// dialed, e.g. "+1*" or "+4420*"; none means every number.
	Match []string `yaml:"match"`
	// URI is where INVITEs go: sip:host[:port][;transport=udp|tcp]. The
	// request URI's user part is the number as dialed (E.164 kept).
	URI      string `yaml:"uri"`
	Username string `yaml:"username"` // digest credentials for 401/407
	Password string `yaml:"password"`
	// FromDomain is the host of our From URI (default: our public IP).
	FromDomain string `yaml:"from_domain"`
	// Deny are patterns this trunk refuses even when Match allows them.
	Deny []string `yaml:"deny"`

	uri sip.Uri
}

// Trunks is the outbound routing table: the first trunk whose Match allows
// a number and whose Deny does not forbid it carries the call. Deny
// patterns at this level apply to every trunk: a toll-fraud guard, e.g.
// premium-rate prefixes.
type Trunks struct {
	Trunks []Trunk `yaml:"trunks"`
	Deny   []string
}

// ExampleDeny is a starting point for a toll-fraud guard: premium-rate and
// high-cost prefixes that Dial apps rarely need (UK 09, US/Canada 900 and
// 976, international premium +881/+882/+883 satellite and shared-cost
// ranges). Operators should tailor it to their carrier's price list.
var ExampleDeny = []string{"+1900*", "+1976*", "+449*", "+4487*", "+881*", "+882*", "+883*"}

// Validate parses every trunk's URI and checks its patterns. A nil table
// (no trunks, as Config.Trunks allows) is valid.
func (t *Trunks) Validate() error {
	if t == nil {
		return nil
	}
	if err := checkPatterns("deny", t.Deny); err != nil {
		return err
	}
	for i := range t.Trunks {
		tr := &t.Trunks[i]
		if tr.Name == "" {
			tr.Name = fmt.Sprintf("trunk %d", i+1)
		}
		if err := sip.ParseUri(tr.URI, &tr.uri); err != nil || tr.uri.Host == "" {
			return fmt.Errorf("%s: bad uri %q (want sip:host[:port][;transport=udp|tcp])", tr.Name, tr.URI)
		}
		if tp := tr.uri.UriParams; tp != nil {
			if v, ok := tp.Get("transport"); ok && !strings.EqualFold(v, "udp") && !strings.EqualFold(v, "tcp") {
				return fmt.Errorf("%s: transport %q is not supported (udp or tcp; TLS may come later)", tr.Name, v)
			}
		}
		if err := checkPatterns(tr.Name+" match", tr.Match); err != nil {
			return err
		}
		if err := checkPatterns(tr.Name+" deny", tr.Deny); err != nil {
			return err
		}
	}
	return nil
}

func checkPatterns(what string, ps []string) error {
	for _, p := range ps {
		if _, err := path.Match(p, ""); err != nil || p == "" {
			return fmt.Errorf("%s: bad pattern %q", what, p)
		}
	}
	return nil
}

func matchAny(ps []string, s string) bool {
	for _, p := range ps {
		if ok, _ := path.Match(p, s); ok {
			return true
		}
	}
	return false
}

// Route picks the trunk for number, or says why there is none.
func (t *Trunks) Route(number string) (*Trunk, error) {
	if t == nil || len(t.Trunks) == 0 {
		return nil, fmt.Errorf("no trunk is configured for %s (set --sip-trunk or trunks: in the config file)", number)
	}
	if matchAny(t.Deny, number) {
		return nil, fmt.Errorf("%s is denied by the outbound deny list", number)
	}
	for i := range t.Trunks {
		tr := &t.Trunks[i]
		if len(tr.Match) > 0 && !matchAny(tr.Match, number) {
			continue
		}
		if matchAny(tr.Deny, number) {
			return nil, fmt.Errorf("%s is denied by %s", number, tr.Name)
		}
		return tr, nil
	}
	return nil, fmt.Errorf("no trunk matches %s", number)
}

// requestURI is where a call to number over this trunk goes.
func (tr *Trunk) requestURI(number string) sip.Uri {
	u := *tr.uri.Clone()
	u.User = number
	return u
}
