package outbox

import (
	"context"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"reflect"
	"strconv"
	"sync"
	"testing"
	"time"

	"github.com/callhook/callhook/core/delivery"
)

// TestBundleRoundTrip: a bundle reads back as the requests in it, in order.
func TestBundleRoundTrip(t *testing.T) {
	rs := []*delivery.Request{
		{ID: "a", Receiver: "crm", CallKey: "c1", Method: "POST", URL: "https://crm.example/1", Body: []byte(`{"n":1}`)},
		{ID: "b", Receiver: "crm", CallKey: "c1", URL: "https://crm.example/2", Header: http.Header{"X": {"y"}}},
		{ID: "c", Receiver: "crm", CallKey: "c1", Body: []byte{0, 1, 2}},
	}
	got, err := decodeMessage(nil, encodeBundle(nil, rs))
	if err != nil {
		t.Fatal(err)
	}
	if len(got) != len(rs) {
		t.Fatalf("%d requests, want %d", len(got), len(rs))
	}
	for i := range rs {
		if !reflect.DeepEqual(got[i], *rs[i]) {
			t.Errorf("request %d:\n got %+v\nwant %+v", i, got[i], *rs[i])
		}
	}
	full := encodeBundle(nil, rs)
	for _, bad := range [][]byte{{bundleVersion}, {bundleVersion, 0}, full[:len(full)-1], append(full[:len(full):len(full)], 7)} {
		if _, err := decodeMessage(nil, bad); err == nil {
			t.Errorf("decode %q: no error", bad)
		}
	}
}

// TestLegacySubject: requests an earlier version stored under the plain
// partition subject (binary and JSON) are counted and delivered, in order
// before what is enqueued after them.
func TestLegacySubject(t *testing.T) {
	var mu sync.Mutex
	var got []string
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		b, _ := io.ReadAll(r.Body)
		mu.Lock()
		got = append(got, string(b))
		mu.Unlock()
	}))
	defer srv.Close()
	pol := map[string]delivery.Policy{"crm": {AllowPrivate: true}}
	ctx := context.Background()
	ob, err := Open(ctx, Config{Dir: t.TempDir(), Node: "n1"}, delivery.NewReceivers(delivery.NewSender(), pol))
	if err != nil {
		t.Fatal(err)
	}
	defer ob.Close()
	mk := func(k int) delivery.Request {
		return delivery.Request{ID: "w" + strconv.Itoa(k), Receiver: "crm", CallKey: "c1", Method: "POST", URL: srv.URL, Body: []byte(strconv.Itoa(k))}
	}
	legacy := subjectPrefix + strconv.Itoa(ob.Partition("crm", "c1"))
	r0, r1 := mk(0), mk(1)
	old, _ := json.Marshal(r1)
	for _, data := range [][]byte{encodeRequest(nil, &r0), old} {
		if _, err := ob.pubjs.Publish(ctx, legacy, data); err != nil {
			t.Fatal(err)
		}
	}
	if err := ob.EnqueueBatch(ctx, []delivery.Request{mk(2), mk(3)}); err != nil {
		t.Fatal(err)
	}
	if n, err := ob.Pending(ctx); err != nil || n != 4 {
		t.Fatalf("pending = %d, %v; want 4", n, err)
	}
	if err := ob.Start(ctx); err != nil {
		t.Fatal(err)
	}
	fctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	if err := ob.Flush(fctx); err != nil {
		t.Fatal(err)
	}
	mu.Lock()
	defer mu.Unlock()
	if want := []string{"0", "1", "2", "3"}; !reflect.DeepEqual(got, want) {
		t.Fatalf("delivered %v, want %v", got, want)
	}
}
