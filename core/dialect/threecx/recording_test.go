package threecx_test

import (
	"bytes"
	"net/url"
	"os"
	"testing"
	"time"

	"github.com/callhook/callhook/core/callmodel"
	"github.com/callhook/callhook/core/dialect/threecx"
)

// The rendered recording body is the document's example byte for byte
// (fixtures/recording/3cx-recording-post.json, transcribed from the 3CX
// document's "Örnek HTTP İsteği"); the call id goes in the query.
func TestRecordingBodyMatchesDocument(t *testing.T) {
	want, err := os.ReadFile("../../../fixtures/recording/3cx-recording-post.json")
	if err != nil {
		t.Fatal(err)
	}
	id := callmodel.CallID{Start: time.Date(2021, 7, 1, 16, 56, 49, 0, time.UTC), Number: 629, Link: 1}
	target, _ := url.Parse("https://crm.example.com/hook?key=1")
	d := threecx.New("crm", target, threecx.WithLocation(time.UTC), threecx.WithRecordings(threecx.InQuery, false))
	ev := callmodel.Event{Kind: callmodel.RecordingReady, ID: id,
		Files: []callmodel.RecordingFile{{URL: "https://3CXFQDN:5001/webapi/recording/326552322343_629-1-1.mp3"}}}
	req, ok := d.Render(ev)
	if !ok {
		t.Fatal("recording not rendered")
	}
	if !bytes.Equal(req.Body, bytes.TrimSpace(want)) {
		t.Fatalf("body\n got %s\nwant %s", req.Body, want)
	}
	if req.Method != "POST" || req.URL != "https://crm.example.com/hook?key=1&id="+threecx.FormatID(id, time.UTC) ||
		req.Header.Get("Content-Type") != "application/json" || req.CallKey != id.Chain() {
		t.Fatalf("request %+v", req)
	}
	// A receiver that did not ask for recordings gets none.
	if _, ok := threecx.New("crm", target).Render(ev); ok {
		t.Error("recording POST rendered for a receiver without recordings")
	}
}

// With full fields, the link's call-end event's fields go with the
// recording, in its order: in the query by default, after FILES (links
// unescaped) in the body on request. Analytics carry TEXT and SUMMARY.
func TestRecordingFullFields(t *testing.T) {
	target, _ := url.Parse("https://crm.example.com/hook")
	id := callmodel.CallID{Start: time.Date(2022, 1, 6, 20, 59, 45, 0, time.UTC), Number: 323, Link: 1}
	ending := callmodel.Event{Kind: callmodel.Ended, ID: id, Direction: callmodel.Inbound, External: "425630434343",
		User: "120", DID: "CompanyDID", Finish: callmodel.FinishOK, Talk: 65 * time.Second}
	files := []callmodel.RecordingFile{
		{URL: "https://h:5001/webapi/recording/220106205945_323-1-1.mp3?token=1.a"},
		{URL: "https://h:5001/webapi/recording/220106205945_323-1-2.mp3?token=1.b"},
	}
	rec := callmodel.Event{Kind: callmodel.RecordingReady, ID: id, Files: files, Ending: &ending}
	end := "event=incoming&callerid=425630434343&user=120&did=CompanyDID&finishtype=Ok&transfer=false&duration=65&title=" +
		url.QueryEscape(threecx.Title(ending)) + "&id=220106205945_323-1"

	inQuery := threecx.New("crm", target, threecx.WithLocation(time.UTC), threecx.WithRecordings(threecx.InQuery, true))
	req, _ := inQuery.Render(rec)
	if u, _ := url.Parse(req.URL); u.RawQuery != end {
		t.Fatalf("query\n got %s\nwant %s", u.RawQuery, end)
	}

	inBody := threecx.New("crm", target, threecx.WithLocation(time.UTC), threecx.WithRecordings(threecx.InBody, true))
	req, _ = inBody.Render(rec)
	want := `{"FILES":["https://h:5001/webapi/recording/220106205945_323-1-1.mp3?token=1.a","https://h:5001/webapi/recording/220106205945_323-1-2.mp3?token=1.b"],` +
		`"event":"incoming","callerid":"425630434343","user":"120","did":"CompanyDID","finishtype":"Ok","transfer":"false","duration":"65","title":"` +
		threecx.Title(ending) + `","id":"220106205945_323-1"}`
	if string(req.Body) != want {
		t.Fatalf("body\n got %s\nwant %s", req.Body, want)
	}
	if req.URL != target.String() {
		t.Fatalf("id in body still in the query: %s", req.URL)
	}
	an := callmodel.Event{Kind: callmodel.TranscriptReady, ID: id, Transcript: "Hello \"there\".\nBye.", Summary: "Hello \"there\"."}
	idOnly := threecx.New("crm", target, threecx.WithLocation(time.UTC), threecx.WithRecordings(threecx.InBody, false))
	req, _ = idOnly.Render(an)
	if got := string(req.Body); got != `{"TEXT":"Hello \"there\".\nBye.","SUMMARY":"Hello \"there\".","id":"220106205945_323-1"}` {
		t.Fatalf("analytics body %s", got)
	}
	// Recording and analytics of one link are two webhooks, in the call's order.
	r1, _ := idOnly.Render(rec)
	if r1.ID == req.ID || r1.CallKey != req.CallKey || r1.CallKey != id.Chain() {
		t.Errorf("ids %s %s, order keys %s %s", r1.ID, req.ID, r1.CallKey, req.CallKey)
	}
}
