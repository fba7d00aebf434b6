package verbs

import (
	"strings"
	"testing"
	"time"
)

func TestZZPathological(t *testing.T) {
	const n = MaxDocumentSize - 100
	cases := map[string]string{
		"lt":       strings.Repeat("<", n),
		"attrs":    "<Response><Say " + strings.Repeat("a"+"=\"1\" ", 1)[:0] + genAttrs(n/12) + ">x</Say></Response>",
		"flat":     "<Response>" + strings.Repeat("<Pause/>", n/8-3) + "</Response>",
		"badflat":  "<Response>" + strings.Repeat("<Foo x=\"1\"/>", n/13-3) + "</Response>",
		"deep":     "<Response>" + strings.Repeat("<a><b/></a>", n/12-3) + "</Response>",
		"comments": "<Response>" + strings.Repeat("<!--x-->", n/8-3) + "</Response>",
		"text":     "<Response><Say>" + strings.Repeat("a  b ", n/5-5) + "</Say></Response>",
		"ssml":     "<Response><Say>" + strings.Repeat("<s>a</s>", n/8-5) + "</Say></Response>",
		"gatherbad": "<Response><Gather>" + strings.Repeat("<Dial>1</Dial>", n/14-5) + "</Gather></Response>",
		"dialnums": "<Response><Dial>" + strings.Repeat("<Number>1</Number>", n/18-5) + "</Dial></Response>",
		"doctype":  "<!DOCTYPE " + strings.Repeat("<", n-20) + ">",
		"unclosed": "<Response>" + strings.Repeat("<Say>", n/5-5),
	}
	for name, doc := range cases {
		start := time.Now()
		d, err := Parse([]byte(doc), Main)
		nd := 0
		if d != nil {
			nd = len(d.Diagnostics)
		}
		t.Logf("%-10s %8d bytes %v err=%v diags=%d", name, len(doc), time.Since(start), err != nil, nd)
	}
}

func genAttrs(k int) string {
	var b strings.Builder
	for i := 0; i < k; i++ {
		b.WriteString(" a")
		b.WriteString(itoa(i))
		b.WriteString("=\"1\"")
	}
	return b.String()
}
