package check_test

import (
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/callhook/callhook/conformance/check"
	"github.com/callhook/callhook/pbxsim/scenario"
)

func req(t *testing.T, raw string) check.Request {
	t.Helper()
	u, err := url.Parse(raw)
	if err != nil {
		t.Fatal(err)
	}
	return check.Request{Method: "GET", Path: u.Path, RawQuery: u.RawQuery}
}

// The document's own example requests pass every per-request rule, and
// requests that break a rule fail it: the checks can fail.
func TestRulesOnDocumentExamples(t *testing.T) {
	c, err := check.NewThreeCX()
	if err != nil {
		t.Fatal(err)
	}
	for _, ex := range c.Rules.Examples {
		r := req(t, ex)
		for name, f := range map[string]func(check.Request) error{"transport": c.Transport, "fields": c.Fields, "values": c.Values, "id": c.ID} {
			if err := f(r); err != nil {
				t.Errorf("%s rule rejects the document's example: %v", name, err)
			}
		}
	}
	bad := []struct {
		rule string
		f    func(check.Request) error
		url  string
	}{
		{"fields: unknown event", c.Fields, "http://x/?event=ring&callerid=1&user=2&usertype=ext&did=3&id=211230100614_331-0"},
		{"fields: missing did", c.Fields, "http://x/?event=ringing&callerid=1&user=2&usertype=ext&id=211230100614_331-0"},
		{"fields: extra field", c.Fields, "http://x/?event=ringing&callerid=1&user=2&usertype=ext&did=3&id=211230100614_331-0&extra=1"},
		{"values: usertype", c.Values, "http://x/?event=ringing&usertype=extension"},
		{"values: finishtype", c.Values, "http://x/?event=incoming&finishtype=OK"},
		{"values: trtype", c.Values, "http://x/?event=hangupincoming&trtype=Attended"},
		{"id: no link", c.ID, "http://x/?id=211230100614_331"},
		{"id: bad date", c.ID, "http://x/?id=211399100614_331-0"},
	}
	for _, b := range bad {
		if err := b.f(req(t, b.url)); err == nil {
			t.Errorf("%s: %s passed", b.rule, b.url)
		}
	}
	post := req(t, c.Rules.Examples[0])
	post.Method = "POST"
	if c.Transport(post) == nil {
		t.Error("a POST passed the transport rule")
	}
}

func TestChainAndExpected(t *testing.T) {
	c, err := check.NewThreeCX()
	if err != nil {
		t.Fatal(err)
	}
	sc, err := scenario.Parse("t.yaml", strings.NewReader(`
name: t
steps: []
expect:
  - {event: ringing, user: "101", link: 0}
  - {event: answered, user: "101", link: 1}
  - {event: ended, user: "101", link: 1, finish: ok, talk: 8s}
`))
	if err != nil {
		t.Fatal(err)
	}
	good := []check.Request{
		req(t, "http://x/?event=ringing&callerid=1&user=101&usertype=ext&did=2&id=261124010057_0-0"),
		req(t, "http://x/?callerid=1&event=hangupincoming&user=101&did=2&trtype=NotDef&id=261124010057_0-1"),
		req(t, "http://x/?event=incoming&callerid=1&user=101&did=2&finishtype=Ok&transfer=false&duration=8&title=t&id=261124010057_0-1"),
	}
	if err := c.Chain(good); err != nil {
		t.Error(err)
	}
	if err := c.Expected(sc, good, time.Second); err != nil {
		t.Error(err)
	}
	other := append([]check.Request{}, good...)
	other[2] = req(t, "http://x/?event=incoming&callerid=1&user=101&did=2&finishtype=Ok&transfer=false&duration=8&title=t&id=261124010057_7-1")
	if c.Chain(other) == nil {
		t.Error("a changed call number passed the chain rule")
	}
	long := append([]check.Request{}, good...)
	long[2] = req(t, "http://x/?event=incoming&callerid=1&user=101&did=2&finishtype=Ok&transfer=false&duration=12&title=t&id=261124010057_0-1")
	if c.Expected(sc, long, time.Second) == nil {
		t.Error("duration 12 s passed for a talk time of 8 s")
	}
	if c.Expected(sc, good[:2], time.Second) == nil {
		t.Error("a missing event passed")
	}
}
