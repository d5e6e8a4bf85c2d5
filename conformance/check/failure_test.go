package check_test

import (
	"net/http"
	"strings"
	"testing"

	"github.com/callhook/callhook/conformance/check"
	"github.com/callhook/callhook/fixtures"
	fvoipex "github.com/callhook/callhook/fixtures/voipex"
)

// A broken rule names the field at fault, the fixture line that
// transcribes the rule, and the document's words for it: what
// `callhook inspect` highlights and quotes.
func TestFailuresPointAtFieldAndRule(t *testing.T) {
	cases := []struct {
		name, dialect string
		opts          map[string]string
		req           check.Request
		field         string
		ruleText      string // the fixture line starts with this
		docFile       string
		docLine       int
		docText       string // the quote starts with this
	}{
		{
			name: "3cx usertype", dialect: "3cx",
			req:   req(t, "http://x/?event=ringing&callerid=1&user=2&usertype=extension&did=3&id=211230100614_331-0"),
			field: "usertype", ruleText: "usertype: [ext, queue, other]",
			docFile: "3cx-webhooks-module.ru-en.txt", docLine: 33, docText: "usertype = ext / queue / other",
		},
		{
			name: "3cx missing did", dialect: "3cx",
			req:   req(t, "http://x/?event=hangupincoming&callerid=1&user=2&trtype=NotDef&id=211230100614_331-1"),
			field: "did", ruleText: "fields: [event, callerid, user, did, trtype, id]",
			docFile: "3cx-webhooks-module.ru-en.txt", docLine: 39, docText: "did = If the call is incoming",
		},
		{
			name: "3cx id", dialect: "3cx",
			req:   req(t, "http://x/?event=ringing&callerid=1&user=2&usertype=ext&did=3&id=211230100614_331"),
			field: "id", ruleText: "pattern: '^[0-9]{12}_[0-9]+-[0-9]+$'",
			docFile: "3cx-webhooks-module.ru-en.txt", docLine: 52, docText: "<date time>_<unique call number",
		},
		{
			name: "bulutfon direction", dialect: "bulutfon",
			req: check.Request{Method: "POST", Header: http.Header{"Content-Type": {"application/json"}},
				Body: []byte(`{"event_type":"call_init","domain_id":1,"account_id":2,"caller":905320000000,"callee":908508850000,` +
					`"uuid":"f615986c-2001-11e5-bdee-6599352d46ce","direction":"INBOUND","timestamp":1435762851086820}`)},
			field: "direction", ruleText: "direction: [IN, OUT]",
			docFile: "bulutfon-webhooks.tr.md", docLine: 42, docText: "* **direction**: Arama yönü",
		},
		{
			name: "bulutfon content type", dialect: "bulutfon", opts: map[string]string{"format": "form"},
			req:   check.Request{Method: "POST", Header: http.Header{"Content-Type": {"application/json"}}, Body: []byte("event_type=call_init")},
			field: "Content-Type", ruleText: "form: application/x-www-form-urlencoded",
			docFile: "bulutfon-webhooks.tr.md", docLine: 17, docText: "**Not**: Değerlerin POST",
		},
		{
			name: "voipex direction", dialect: "voipex",
			req:   check.Request{Method: "POST", Body: []byte(`{"EventName":"Ringing","From":"1","To":"2","Line":"101","UniqueId":"1412256225.1941","Direction":"inbound"}`)},
			field: "Direction", ruleText: "directions: [incoming, outgoing, incomingLocal, outgoingLocal, barge]",
			docFile: "voipex-webhooks.cs.txt", docLine: 26, docText: "Direction - směr hovoru",
		},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			d, err := check.Lookup(c.dialect)
			if err != nil {
				t.Fatal(err)
			}
			var got []*check.Failure
			for _, err := range d.Request(c.opts, c.req) {
				got = append(got, check.RuleFailures(err)...)
			}
			var f *check.Failure
			for _, g := range got {
				if g.Field == c.field {
					f = g
				}
			}
			if f == nil {
				t.Fatalf("no failure at field %q among %v", c.field, got)
			}
			r := f.Rule
			if !strings.HasPrefix(r.File, "fixtures/") || r.Line == 0 || !strings.HasPrefix(r.Text, c.ruleText) {
				t.Errorf("rule %s:%d %q, want the fixture line %q", r.File, r.Line, r.Text, c.ruleText)
			}
			if r.Doc.Document != c.docFile || r.Doc.Line != c.docLine || !strings.HasPrefix(r.Doc.Text, c.docText) {
				t.Errorf("quote %s:%d %q, want %s:%d %q...", r.Doc.Document, r.Doc.Line, r.Doc.Text, c.docFile, c.docLine, c.docText)
			}
		})
	}
}

// The documents' own examples break no rule a request keeps by itself.
func TestRequestRulesPassDocumentExamples(t *testing.T) {
	tcx, err := check.NewThreeCX()
	if err != nil {
		t.Fatal(err)
	}
	examples, err := fixtures.BulutfonExamples("current")
	if err != nil {
		t.Fatal(err)
	}
	type ex struct {
		dialect string
		r       check.Request
	}
	var all []ex
	for _, u := range tcx.Rules.Examples {
		all = append(all, ex{"3cx", req(t, u)})
	}
	// (VOIPEX's example has no Direction, which the rules ask of every
	// call event, so it is left out.)
	for name, b := range examples {
		if name == "call_hangup" {
			continue // its timestamp is from 2021, far from now
		}
		all = append(all, ex{"bulutfon", check.Request{Method: "POST", Header: http.Header{"Content-Type": {"application/json"}}, Body: b}})
	}
	for _, e := range all {
		d, err := check.Lookup(e.dialect)
		if err != nil {
			t.Fatal(err)
		}
		for _, err := range d.Request(nil, e.r) {
			for _, f := range check.RuleFailures(err) {
				if !strings.Contains(f.Error(), "timestamp") { // examples date from 2015
					t.Errorf("%s example %s: %v", e.dialect, e.r, f)
				}
			}
		}
	}
}

// Every quote the fixtures load names its line and has words.
func TestFixtureQuotes(t *testing.T) {
	tcx, err := fixtures.LoadThreeCX()
	if err != nil {
		t.Fatal(err)
	}
	bf, err := fixtures.LoadBulutfon()
	if err != nil {
		t.Fatal(err)
	}
	vpx, err := fvoipex.Load()
	if err != nil {
		t.Fatal(err)
	}
	quotes := map[string]fixtures.Quote{"3cx transport": tcx.Transport.Doc, "3cx id": tcx.ID.Doc, "3cx events": tcx.EventsDoc}
	for name, ev := range tcx.Events {
		if len(ev.Doc) == 0 {
			t.Errorf("3cx %s: no quotes", name)
		}
		for _, f := range ev.Fields {
			if _, ok := ev.Doc[f]; !ok {
				t.Errorf("3cx %s: no quote for field %s", name, f)
			}
		}
		for k, q := range ev.Doc {
			quotes["3cx "+name+" "+k] = q
		}
	}
	for k, q := range bf.Doc {
		quotes["bulutfon "+k] = q
	}
	for k := range vpx.Fields {
		if _, ok := vpx.Doc[k]; !ok {
			t.Errorf("voipex: no quote for field %s", k)
		}
	}
	for k, q := range vpx.Doc {
		quotes["voipex "+k] = q
	}
	for name, q := range quotes {
		if q.Line <= 0 || q.Text == "" {
			t.Errorf("%s: quote %+v has no line or no words", name, q)
		}
	}
	if tcx.Document == "" || bf.Document == "" || vpx.Document == "" {
		t.Errorf("default documents %q %q %q", tcx.Document, bf.Document, vpx.Document)
	}
}
