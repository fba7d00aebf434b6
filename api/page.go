package api

import (
	"net/http"
	"net/url"
	"strconv"
	"strings"
)

// Paging as Twilio's 2010-04-01 lists do it
// (https://www.twilio.com/docs/usage/twilios-response#response-formats-list-paging-information).
// The helper libraries send PageSize on the first request, then follow
// next_page_uri as it is, with no parameters of their own (twilio-node's
// Page.getNextPageUrl and nextPage), so that URI carries the filters,
// PageSize, Page and PageToken. They take the records from the one key
// of the body that is not paging metadata (Page.loadPage), so a list
// body has exactly one other key.
const (
	defaultPageSize = 50   // Twilio's default
	maxPageSize     = 1000 // Twilio's maximum
)

// pageRequest is a list request's paging parameters.
type pageRequest struct {
	size  int    // PageSize
	page  int    // Page, from 0
	token string // PageToken: "PA"+sid starts after that item, "PB"+sid ends before it
}

// parsePage reads PageSize, Page and PageToken; a bad value is answered
// with a 400 and false.
func parsePage(w http.ResponseWriter, q url.Values) (pageRequest, bool) {
	p, bad := readPage(q)
	if bad != nil {
		writeProblem(w, bad)
		return p, false
	}
	return p, true
}

// readPage reads PageSize, Page and PageToken.
func readPage(q url.Values) (pageRequest, *problem) {
	p := pageRequest{size: defaultPageSize, token: q.Get("PageToken")}
	if v := q.Get("PageSize"); v != "" {
		n, err := strconv.Atoi(v)
		if err != nil || n < 1 || n > maxPageSize {
			return p, invalid(codeInvalidParameter, "PageSize", "Invalid PageSize: want a whole number from 1 to 1000")
		}
		p.size = n
	}
	if v := q.Get("Page"); v != "" {
		n, err := strconv.Atoi(v)
		if err != nil || n < 0 {
			return p, invalid(codeInvalidParameter, "Page", "Invalid Page: want a whole number from 0")
		}
		p.page = n
	}
	return p, nil
}

// paginate cuts the page p asks for out of items, in their order; sid
// names an item for page tokens. A token whose item is gone (deleted
// since) falls back to the page number.
func paginate[T any](items []T, sid func(T) string, p pageRequest) (page []T, more bool) {
	find := func(s string) int {
		for i, it := range items {
			if sid(it) == s {
				return i
			}
		}
		return -1
	}
	from := -1
	if s, ok := strings.CutPrefix(p.token, "PA"); ok {
		if i := find(s); i >= 0 {
			from = i + 1
		}
	} else if s, ok := strings.CutPrefix(p.token, "PB"); ok {
		if i := find(s); i >= 0 {
			from = max(0, i-p.size)
		}
	}
	if from < 0 {
		from = min(p.page*p.size, len(items))
	}
	to := min(from+p.size, len(items))
	return items[from:to], to < len(items)
}

// listPage is the body of a list response: the paging metadata and the
// records under key.
func listPage[T any](path string, filters [][2]string, p pageRequest, key string, page []T, more bool, sid func(T) string) map[string]any {
	uri := func(pageNo int, token string) string {
		var b strings.Builder
		b.WriteString(path)
		sep := byte('?')
		add := func(k, v string) {
			b.WriteByte(sep)
			sep = '&'
			b.WriteString(url.QueryEscape(k) + "=" + url.QueryEscape(v))
		}
		for _, f := range filters {
			add(f[0], f[1])
		}
		add("PageSize", strconv.Itoa(p.size))
		add("Page", strconv.Itoa(pageNo))
		if token != "" {
			add("PageToken", token)
		}
		return b.String()
	}
	start := p.page * p.size
	end := start
	if len(page) > 0 {
		end = start + len(page) - 1
	}
	var next, prev any // JSON null unless there is such a page
	if more && len(page) > 0 {
		next = uri(p.page+1, "PA"+sid(page[len(page)-1]))
	}
	if p.page > 0 {
		tok := ""
		if len(page) > 0 {
			tok = "PB" + sid(page[0])
		}
		prev = uri(p.page-1, tok)
	}
	if page == nil {
		page = []T{} // [], never null: the libraries iterate it
	}
	return map[string]any{
		"first_page_uri":    uri(0, ""),
		"next_page_uri":     next,
		"previous_page_uri": prev,
		"uri":               uri(p.page, p.token),
		"page":              p.page,
		"page_size":         p.size,
		"start":             start,
		"end":               end,
		key:                 page,
	}
}
