package recording

import (
	"bytes"
	"net/url"
	"os"
	"testing"
)

// The rendered recording body is the document's example byte for byte
// (fixtures/recording/3cx-recording-post.json, transcribed from the 3CX
// document's "Örnek HTTP İsteği"); the call id goes in the query.
func TestRecordingBodyMatchesDocument(t *testing.T) {
	want, err := os.ReadFile("../../fixtures/recording/3cx-recording-post.json")
	if err != nil {
		t.Fatal(err)
	}
	ev := Event{Kind: KindRecording, Chain: "c", CallID: "326552322343_629-1",
		Files: []File{{URL: "https://3CXFQDN:5001/webapi/recording/326552322343_629-1-1.mp3"}}}
	if got := ev.Body(InQuery); !bytes.Equal(got, bytes.TrimSpace(want)) {
		t.Fatalf("body\n got %s\nwant %s", got, want)
	}
	if q := ev.Query(InQuery).Encode(); q != "id=326552322343_629-1" {
		t.Fatalf("query %s", q)
	}
	target, _ := url.Parse("https://crm.example.com/hook?key=1")
	req := ev.Request("crm", target, InQuery)
	if req.Method != "POST" || req.URL != "https://crm.example.com/hook?key=1&id=326552322343_629-1" ||
		req.Header.Get("Content-Type") != "application/json" || req.CallKey != "c" || !bytes.Equal(req.Body, ev.Body(InQuery)) {
		t.Fatalf("request %+v", req)
	}
}

func TestRecordingFullFields(t *testing.T) {
	end := "event=incoming&callerid=425630434343&user=120&did=CompanyDID&finishtype=Ok&transfer=false&duration=65&title=Incoming+call&id=220106205945_323-1"
	fields, err := FieldsFromQuery(end)
	if err != nil {
		t.Fatal(err)
	}
	ev := Event{Kind: KindRecording, CallID: "220106205945_323-1", Fields: fields, Files: []File{
		{URL: "https://h:5001/webapi/recording/220106205945_323-1-1.mp3?token=1.a"},
		{URL: "https://h:5001/webapi/recording/220106205945_323-1-2.mp3?token=1.b"},
	}}
	// In the query: exactly the call-end event's fields, in its order.
	if q := ev.Query(InQuery).Encode(); q != end {
		t.Fatalf("query\n got %s\nwant %s", q, end)
	}
	// In the body: FILES first (links unescaped), then the fields in order.
	want := `{"FILES":["https://h:5001/webapi/recording/220106205945_323-1-1.mp3?token=1.a","https://h:5001/webapi/recording/220106205945_323-1-2.mp3?token=1.b"],` +
		`"event":"incoming","callerid":"425630434343","user":"120","did":"CompanyDID","finishtype":"Ok","transfer":"false","duration":"65","title":"Incoming call","id":"220106205945_323-1"}`
	if got := string(ev.Body(InBody)); got != want {
		t.Fatalf("body\n got %s\nwant %s", got, want)
	}
	if ev.Query(InBody) != nil {
		t.Fatal("InBody still puts fields in the query")
	}
	an := Event{Kind: KindAnalytics, CallID: "220106205945_323-1", Transcript: "Hello \"there\".\nBye.", Summary: "Hello \"there\"."}
	if got := string(an.Body(InBody)); got != `{"TEXT":"Hello \"there\".\nBye.","SUMMARY":"Hello \"there\".","id":"220106205945_323-1"}` {
		t.Fatalf("analytics body %s", got)
	}
	if p, err := ParsePlacement("Body"); err != nil || p != InBody {
		t.Fatal(p, err)
	}
	if _, err := ParsePlacement("header"); err == nil {
		t.Fatal("bad placement accepted")
	}
}
