package voipex_test

import (
	"encoding/json"
	"fmt"
	"net/url"
	"testing"
	"time"

	"github.com/callhook/callhook/core/callmodel"
	"github.com/callhook/callhook/core/connector/esl"
	"github.com/callhook/callhook/core/dialect/voipex"
)

// A FreeSWITCH call is named by a UUID; its UniqueId keeps the document's
// <epoch>.<sequence> form: the call's start and number, the same on every
// event of the call.
func TestUniqueIDOfAFreeSWITCHCall(t *testing.T) {
	sigs, err := esl.DecodeFile("../../../fixtures/esl/pbxsim/blind-transfer.plain", time.UTC)
	if err != nil {
		t.Fatal(err)
	}
	u, _ := url.Parse("http://127.0.0.1:9000/voipex")
	d := voipex.New("crm", u, voipex.WithLocation(time.UTC))
	m := callmodel.New()
	want, n := "", 0
	for _, s := range sigs {
		for _, ev := range m.Handle(s) {
			r, ok := d.Render(ev)
			if !ok {
				continue
			}
			var p voipex.Payload
			if err := json.Unmarshal(r.Body, &p); err != nil {
				t.Fatal(err)
			}
			if want == "" {
				want = fmt.Sprintf("%d.%d", ev.ID.Start.Unix(), ev.ID.Number)
			}
			n++
			if p.UniqueID != want {
				t.Errorf("%s: UniqueId %q, want %q", p.EventName, p.UniqueID, want)
			}
		}
	}
	if n == 0 {
		t.Fatal("no requests")
	}
}
