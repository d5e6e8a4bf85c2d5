package outbox

import (
	"encoding/json"
	"errors"
	"net/http"
	"reflect"
	"testing"
	"time"

	"github.com/callhook/callhook/core/delivery"
)

// TestCodecRoundTrip: a stored request reads back as it was written, and
// the JSON that earlier versions stored is still read.
func TestCodecRoundTrip(t *testing.T) {
	reqs := []delivery.Request{
		{ID: "crm-1", Receiver: "crm", CallKey: "c1", Method: "POST", URL: "https://crm.example/hook?x=1",
			Header: http.Header{"Content-Type": {"application/json"}, "X-Multi": {"a", "b"}},
			Body:   []byte(`{"event":"ringing","n":"ü"}`), Timeout: 3 * time.Second},
		{ID: "get-2", Receiver: "crm", Method: "GET", URL: "https://crm.example/hook?event=hangup"},
		{ID: "", Receiver: "", URL: "", Body: []byte{0, 1, 2, 255}},
	}
	for _, r := range reqs {
		got, err := decodeRequest(encodeRequest(nil, &r))
		if err != nil {
			t.Fatalf("decode %s: %v", r.ID, err)
		}
		if !reflect.DeepEqual(got, r) {
			t.Errorf("round trip:\n got %+v\nwant %+v", got, r)
		}
		old, _ := json.Marshal(r)
		got, err = decodeRequest(old)
		if err != nil || got.ID != r.ID || got.URL != r.URL || string(got.Body) != string(r.Body) {
			t.Errorf("JSON of an earlier version: %+v, %v", got, err)
		}
	}
	full := encodeRequest(nil, &reqs[0])
	for _, bad := range [][]byte{nil, {9}, full[:5], full[:20]} {
		if _, err := decodeRequest(bad); !errors.Is(err, errCodec) {
			t.Errorf("decode %q: %v, want errCodec", bad, err)
		}
	}
}

func BenchmarkCodec(b *testing.B) {
	r := delivery.Request{ID: "crm-1795482057_0-1", Receiver: "crm", CallKey: "1795482057.0", Method: "POST",
		URL: "https://crm.example/hook", Header: http.Header{"Content-Type": {"application/json"}},
		Body: []byte(`{"event":"ringing","callerid":"2125559876","user":"101"}`)}
	buf := make([]byte, 0, 512)
	b.ReportAllocs()
	for b.Loop() {
		buf = encodeRequest(buf[:0], &r)
		if _, err := decodeRequest(buf); err != nil {
			b.Fatal(err)
		}
	}
}
