package api

import (
	"context"
	"fmt"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/texml/texml/queue"
	"github.com/texml/texml/store"
	"github.com/texml/texml/store/memory"
)

// dequeued is one call of the fake Dequeue.
type dequeued struct{ queue, call, url, method string }

// queueFixture is a memory store with two queues, "support" (callA, then
// callB and callC, enqueued 30, 20 and 10 seconds ago; max size 10) and
// "sales" (empty after its one member left), and the API over it with a
// fake Dequeue that records its calls and knows only callA and callB.
type queueFixture struct {
	fixture
	st       store.Queues
	support  store.QueueInfo
	sales    store.QueueInfo
	dequeued []dequeued
}

// callB and callC are declared in conferences_test.go.
var (
	q1 = "/2010-04-01/Accounts/" + acct1.Sid + "/Queues"
	q2 = "/2010-04-01/Accounts/" + acct2.Sid + "/Queues"
)

func newQueueFixture(t *testing.T) *queueFixture {
	t.Helper()
	ctx := context.Background()
	f := &queueFixture{st: memory.New().Queues}
	now := time.Now()
	for i, c := range []string{callA, callB, callC} {
		m := store.Member{CallSid: c, Node: "NO1", Enqueued: now.Add(-time.Duration(30-10*i) * time.Second)}
		if _, err := f.st.Push(ctx, "support", m, 10); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := f.st.Push(ctx, "sales", store.Member{CallSid: callC}, 0); err != nil {
		t.Fatal(err)
	}
	if _, err := f.st.Remove(ctx, "sales", callC); err != nil {
		t.Fatal(err)
	}
	var err error
	if f.support, err = f.st.Info(ctx, "support"); err != nil {
		t.Fatal(err)
	}
	if f.sales, err = f.st.Info(ctx, "sales"); err != nil {
		t.Fatal(err)
	}
	f.h = New(Options{Accounts: []Account{acct1, acct2}, DefaultAccountSid: acct1.Sid, Queues: f.st,
		Dequeue: func(ctx context.Context, q, call, u, method string) error {
			if call != callA && call != callB {
				return fmt.Errorf("queue %q: call %s: %w", q, call, queue.ErrNotHere)
			}
			f.dequeued = append(f.dequeued, dequeued{q, call, u, method})
			return nil
		}})
	return f
}

// post sends a form as a.
func (f *fixture) post(t *testing.T, path string, form url.Values, a Account) *httptest.ResponseRecorder {
	t.Helper()
	r := httptest.NewRequest(http.MethodPost, path, strings.NewReader(form.Encode()))
	r.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	r.SetBasicAuth(a.Sid, a.AuthToken)
	w := httptest.NewRecorder()
	f.h.ServeHTTP(w, r)
	return w
}

func TestQueuesList(t *testing.T) {
	f := newQueueFixture(t)
	tests := []struct {
		name   string
		path   string
		as     Account
		status int
		code   int
		sids   []string
		next   bool
	}{
		{"all, by name", q1 + ".json", acct1, 200, 0, []string{f.sales.Sid, f.support.Sid}, false},
		{"without .json", q1, acct1, 200, 0, []string{f.sales.Sid, f.support.Sid}, false},
		{"first page", q1 + ".json?PageSize=1", acct1, 200, 0, []string{f.sales.Sid}, true},
		{"second page", q1 + ".json?PageSize=1&Page=1&PageToken=PA" + f.sales.Sid, acct1, 200, 0, []string{f.support.Sid}, false},
		{"another account owns none", q2 + ".json", acct2, 200, 0, []string{}, false},
		{"another account's path", q2 + ".json", acct1, 404, 20404, nil, false},
		{"bad PageSize", q1 + ".json?PageSize=0", acct1, 400, 20001, nil, false},
		{"no credentials", q1 + ".json", noAuth, 401, 20003, nil, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			w := f.do(t, "GET", tt.path, tt.as)
			if tt.code != 0 {
				wantError(t, w, tt.status, tt.code)
				return
			}
			if w.Code != tt.status {
				t.Fatalf("status %d: %s", w.Code, w.Body)
			}
			body := decode[struct {
				Queues []queueJSON `json:"queues"`
				Next   *string     `json:"next_page_uri"`
			}](t, w)
			var sids []string
			for _, q := range body.Queues {
				sids = append(sids, q.Sid)
			}
			if fmt.Sprint(sids) != fmt.Sprint(tt.sids) || body.Queues == nil {
				t.Errorf("sids %v, want %v", sids, tt.sids)
			}
			if (body.Next != nil) != tt.next {
				t.Errorf("next_page_uri %v, want one: %v", body.Next, tt.next)
			}
		})
	}
}

func TestQueueFetch(t *testing.T) {
	f := newQueueFixture(t)
	path := q1 + "/" + f.support.Sid
	tests := []struct {
		name   string
		method string
		path   string
		as     Account
		status int
		code   int
	}{
		{"fetch", "GET", path + ".json", acct1, 200, 0},
		{"fetch without .json", "GET", path, acct1, 200, 0},
		{"unknown sid", "GET", q1 + "/QU" + strings.Repeat("0", 32) + ".json", acct1, 404, 20404},
		{"another account", "GET", q2 + "/" + f.support.Sid + ".json", acct2, 404, 20404},
		{"create without a name", "POST", q1 + ".json", acct1, 400, 20001},
		{"delete a queue with members", "DELETE", path + ".json", acct1, 400, 20001},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			w := f.do(t, tt.method, tt.path, tt.as)
			if tt.code != 0 {
				wantError(t, w, tt.status, tt.code)
				return
			}
			if w.Code != tt.status {
				t.Fatalf("status %d: %s", w.Code, w.Body)
			}
			got := decode[map[string]any](t, w)
			want := map[string]any{
				"sid": f.support.Sid, "friendly_name": "support", "current_size": 3.0, "max_size": 10.0,
				"average_wait_time": 20.0, "account_sid": acct1.Sid, "uri": path + ".json",
				"date_created": rfc2822(f.support.Created), "date_updated": rfc2822(f.support.Created),
			}
			for k, v := range want {
				if got[k] != v {
					t.Errorf("%s = %v, want %v", k, got[k], v)
				}
			}
			if sub, _ := got["subresource_uris"].(map[string]any); sub["members"] != path+"/Members.json" {
				t.Errorf("subresource_uris %v", got["subresource_uris"])
			}
		})
	}
	// An empty queue waits for nothing.
	w := f.do(t, "GET", q1+"/"+f.sales.Sid+".json", acct1)
	if q := decode[queueJSON](t, w); q.CurrentSize != 0 || q.AverageWaitTime != 0 || q.MaxSize != store.DefaultQueueSize {
		t.Errorf("empty queue %+v", q)
	}
}

// Queues made, resized, renamed and deleted through the API.
func TestQueueAdmin(t *testing.T) {
	f := newQueueFixture(t)
	w := f.post(t, q1+".json", url.Values{"FriendlyName": {"billing"}, "MaxSize": {"20"}}, acct1)
	if w.Code != http.StatusCreated {
		t.Fatalf("create: %d %s", w.Code, w.Body)
	}
	made := decode[queueJSON](t, w)
	if made.FriendlyName != "billing" || made.MaxSize != 20 || made.CurrentSize != 0 || !strings.HasPrefix(made.Sid, "QU") {
		t.Errorf("created %+v", made)
	}
	for _, bad := range []url.Values{
		{"FriendlyName": {"billing"}},                 // taken
		{"FriendlyName": {strings.Repeat("x", 65)}},   // too long
		{"FriendlyName": {"ok"}, "MaxSize": {"5001"}}, // too big
		{"FriendlyName": {"ok"}, "MaxSize": {"0"}},    // too small
		{"FriendlyName": {"   "}},                     // blank
	} {
		wantError(t, f.post(t, q1+".json", bad, acct1), 400, codeInvalidParameter)
	}
	path := q1 + "/" + made.Sid + ".json"
	w = f.post(t, path, url.Values{"FriendlyName": {"accounts"}, "MaxSize": {"30"}}, acct1)
	if got := decode[queueJSON](t, w); w.Code != 200 || got.FriendlyName != "accounts" || got.MaxSize != 30 || got.Sid != made.Sid {
		t.Errorf("update: %d %+v", w.Code, got)
	}
	// The support queue has members: resized yes, renamed no.
	sup := q1 + "/" + f.support.Sid + ".json"
	if w := f.post(t, sup, url.Values{"MaxSize": {"50"}}, acct1); w.Code != 200 || decode[queueJSON](t, w).MaxSize != 50 {
		t.Errorf("resize a queue with members: %d %s", w.Code, w.Body)
	}
	wantError(t, f.post(t, sup, url.Values{"FriendlyName": {"help"}}, acct1), 400, codeInvalidParameter)
	if w := f.do(t, "DELETE", path, acct1); w.Code != http.StatusNoContent {
		t.Errorf("delete: %d %s", w.Code, w.Body)
	}
	wantError(t, f.do(t, "GET", path, acct1), 404, codeNotFound)
	wantError(t, f.post(t, "/2010-04-01/Accounts/"+acct2.Sid+"/Queues.json", url.Values{"FriendlyName": {"x"}}, acct2), 403, codeInvalidParameter)
}

func TestQueueMembers(t *testing.T) {
	f := newQueueFixture(t)
	members := q1 + "/" + f.support.Sid + "/Members"
	tests := []struct {
		name   string
		path   string
		as     Account
		status int
		code   int
		want   []memberJSON // call_sid, position, wait_time
	}{
		{"list", members + ".json", acct1, 200, 0, []memberJSON{{CallSid: callA, Position: 1, WaitTime: 30}, {CallSid: callB, Position: 2, WaitTime: 20}, {CallSid: callC, Position: 3, WaitTime: 10}}},
		{"list without .json", members, acct1, 200, 0, []memberJSON{{CallSid: callA, Position: 1, WaitTime: 30}, {CallSid: callB, Position: 2, WaitTime: 20}, {CallSid: callC, Position: 3, WaitTime: 10}}},
		{"second page", members + ".json?PageSize=2&Page=1&PageToken=PA" + callB, acct1, 200, 0, []memberJSON{{CallSid: callC, Position: 3, WaitTime: 10}}},
		{"empty queue", q1 + "/" + f.sales.Sid + "/Members.json", acct1, 200, 0, []memberJSON{}},
		{"fetch", members + "/" + callB + ".json", acct1, 200, 0, []memberJSON{{CallSid: callB, Position: 2, WaitTime: 20}}},
		{"fetch Front", members + "/Front.json", acct1, 200, 0, []memberJSON{{CallSid: callA, Position: 1, WaitTime: 30}}},
		{"fetch Front without .json", members + "/Front", acct1, 200, 0, []memberJSON{{CallSid: callA, Position: 1, WaitTime: 30}}},
		{"Front of an empty queue", q1 + "/" + f.sales.Sid + "/Members/Front.json", acct1, 404, 20404, nil},
		{"not a member", members + "/CA" + strings.Repeat("d", 32) + ".json", acct1, 404, 20404, nil},
		{"unknown queue", q1 + "/QU" + strings.Repeat("0", 32) + "/Members.json", acct1, 404, 20404, nil},
		{"another account", q2 + "/" + f.support.Sid + "/Members.json", acct2, 404, 20404, nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			w := f.do(t, "GET", tt.path, tt.as)
			if tt.code != 0 {
				wantError(t, w, tt.status, tt.code)
				return
			}
			if w.Code != tt.status {
				t.Fatalf("status %d: %s", w.Code, w.Body)
			}
			var got []memberJSON
			if strings.Contains(tt.path, "/Members/") {
				got = []memberJSON{decode[memberJSON](t, w)}
			} else {
				got = decode[struct {
					M []memberJSON `json:"queue_members"`
				}](t, w).M
			}
			if len(got) != len(tt.want) || got == nil {
				t.Fatalf("members %+v, want %+v", got, tt.want)
			}
			for i, m := range got {
				wm := tt.want[i]
				if m.CallSid != wm.CallSid || m.Position != wm.Position || m.WaitTime != wm.WaitTime ||
					m.QueueSid != f.support.Sid || m.URI != members+"/"+wm.CallSid+".json" || m.DateEnqueued == "" {
					t.Errorf("member %d %+v, want %+v", i, m, wm)
				}
			}
		})
	}
}

func TestQueueMemberUpdate(t *testing.T) {
	members := "/Members"
	tests := []struct {
		name   string
		member string
		form   url.Values
		status int
		code   int
		want   *dequeued // queue, call, url, method
		call   string    // the member answered
	}{
		{"by CallSid, POST by default", callB + ".json", url.Values{"Url": {"https://app.test/next"}}, 200, 0, &dequeued{"support", callB, "https://app.test/next", "POST"}, callB},
		{"Front, GET", "Front.json", url.Values{"Url": {"http://app.test/x"}, "Method": {"get"}}, 200, 0, &dequeued{"support", callA, "http://app.test/x", "GET"}, callA},
		{"without .json", callA, url.Values{"Url": {"http://app.test/x"}}, 200, 0, &dequeued{"support", callA, "http://app.test/x", "POST"}, callA},
		{"no Url", callA + ".json", url.Values{}, 400, 20001, nil, ""},
		{"relative Url", callA + ".json", url.Values{"Url": {"/next"}}, 400, 21205, nil, ""},
		{"bad Method", callA + ".json", url.Values{"Url": {"http://app.test/x"}, "Method": {"PUT"}}, 400, 20001, nil, ""},
		{"not a member", "CA" + strings.Repeat("d", 32) + ".json", url.Values{"Url": {"http://app.test/x"}}, 404, 20404, nil, ""},
		{"not waiting on this node", callC + ".json", url.Values{"Url": {"http://app.test/x"}}, 404, 20404, nil, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f := newQueueFixture(t)
			w := f.post(t, q1+"/"+f.support.Sid+members+"/"+tt.member, tt.form, acct1)
			if tt.code != 0 {
				wantError(t, w, tt.status, tt.code)
				if len(f.dequeued) != 0 {
					t.Errorf("dequeued %+v after an error", f.dequeued)
				}
				return
			}
			if w.Code != tt.status {
				t.Fatalf("status %d: %s", w.Code, w.Body)
			}
			if len(f.dequeued) != 1 || f.dequeued[0] != *tt.want {
				t.Errorf("dequeued %+v, want %+v", f.dequeued, *tt.want)
			}
			if m := decode[memberJSON](t, w); m.CallSid != tt.call || m.Position == 0 {
				t.Errorf("answered %+v, want the member %s as it was", m, tt.call)
			}
		})
	}
	// Another account cannot dequeue the main account's callers.
	f := newQueueFixture(t)
	w := f.post(t, q2+"/"+f.support.Sid+"/Members/"+callA+".json", url.Values{"Url": {"http://app.test/x"}}, acct2)
	wantError(t, w, 404, 20404)
	if len(f.dequeued) != 0 {
		t.Errorf("dequeued %+v", f.dequeued)
	}
}

// Without Options.Queues the resources are not served.
func TestQueuesOff(t *testing.T) {
	f := newFixture(t, Options{})
	wantError(t, f.do(t, "GET", q1+".json", acct1), 404, 20404)
}
