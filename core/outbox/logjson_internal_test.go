package outbox

import (
	"encoding/json"
	"net/http"
	"reflect"
	"testing"
	"time"

	"github.com/callhook/callhook/core/delivery"
)

// TestAppendRecord: a record written by hand reads back as encoding/json
// reads its own output.
func TestAppendRecord(t *testing.T) {
	req := &delivery.Request{ID: "crm-1", Receiver: "crm", CallKey: "c\"1", Method: "POST",
		URL:    "https://crm.example/hook?a=1&b=<2>",
		Header: http.Header{"Content-Type": {"application/json"}, "X-Multi": {"a\tb", "ü\x01"}, "X-Nil": nil},
		Body:   []byte{0, '{', 255, '\n'}, Timeout: 3 * time.Second}
	recs := []Record{
		{Kind: KindDelivered, ID: "crm-1", Receiver: "crm", CallKey: "c1", Time: time.Now(), N: 1, Status: 200,
			Latency: 1234567, Request: req},
		{Kind: KindDead, ID: "x\\y", Receiver: "r\u2028", Time: time.Date(2026, 1, 2, 3, 4, 5, 6, time.FixedZone("X", 3600)),
			N: 5, Err: "send POST https://crm.example/hook: receiver answered 500 \"Internal\"\x7f\xff", Request: &delivery.Request{}},
		{Kind: KindAttempt, ID: "a", Receiver: "b", Time: time.Unix(0, 0).UTC(), N: 2},
	}
	for _, rec := range recs {
		var got, want Record
		b := appendRecord(nil, &rec)
		if err := json.Unmarshal(b, &got); err != nil {
			t.Fatalf("%s: %v", b, err)
		}
		std, _ := json.Marshal(rec)
		if err := json.Unmarshal(std, &want); err != nil {
			t.Fatal(err)
		}
		if !reflect.DeepEqual(got, want) {
			t.Errorf("hand-written record reads back as\n%+v\nwant\n%+v\n(%s)", got, want, b)
		}
	}
}

func BenchmarkAppendRecord(b *testing.B) {
	rec := Record{Kind: KindDelivered, ID: "crm-1795482057_0-1", Receiver: "crm", CallKey: "1795482057.0", Time: time.Now(),
		N: 1, Status: 200, Latency: 1234567, Request: &delivery.Request{ID: "crm-1795482057_0-1", Receiver: "crm",
			CallKey: "1795482057.0", Method: "POST", URL: "https://crm.example/hook",
			Header: http.Header{"Content-Type": {"application/json"}},
			Body:   []byte(`{"event":"ringing","callerid":"2125559876","user":"101"}`)}}
	buf := make([]byte, 0, 1024)
	b.ReportAllocs()
	for b.Loop() {
		buf = appendRecord(buf[:0], &rec)
	}
}
