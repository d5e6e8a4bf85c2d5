package outbox_test

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/callhook/callhook/core/delivery"
	"github.com/callhook/callhook/core/outbox"
)

// Check succeeds on a store that takes writes, on disk and again (the
// bucket exists by then), and fails once the outbox is closed.
func TestCheck(t *testing.T) {
	ob := open(t, t.TempDir(), nil)
	ctx, cancel := context.WithTimeout(t.Context(), 10*time.Second)
	defer cancel()
	for range 2 {
		if err := ob.Check(ctx); err != nil {
			t.Fatal(err)
		}
	}
	ob.Close()
	if err := ob.Check(ctx); !errors.Is(err, outbox.ErrClosed) {
		t.Errorf("closed outbox: %v", err)
	}
}

// CallKeys finds a call by an id standing alone in its stored requests,
// never inside a longer id or number.
func TestCallKeys(t *testing.T) {
	recs := []outbox.Record{
		{ID: "a1", CallKey: "1795482057_0", Request: &delivery.Request{URL: "http://r/h?event=ringing&id=261124010057_0-1&callerid=2125559876"}},
		{ID: "a2", CallKey: "1795482057_0"}, // an attempt: no request
		{ID: "b1", CallKey: "1795482099_1", Request: &delivery.Request{Body: []byte(`{"uuid":"8922e73e-b00f-5ef2-a03e-763f699b1b83","callee":2125550100}`)}},
		{ID: "c1", CallKey: "1795482100_2", Request: &delivery.Request{Body: []byte(`{"UniqueId":"1795482100.2"}`)}},
		{ID: "d1", CallKey: "1795482200_3", Request: &delivery.Request{Body: []byte(`caller=%2B905321234567&uuid=x`)}},
	}
	for ref, want := range map[string]string{
		"261124010057_0-1":                     "1795482057_0",
		"1795482057_0":                         "1795482057_0",
		"8922e73e-b00f-5ef2-a03e-763f699b1b83": "1795482099_1",
		"1795482100.2":                         "1795482100_2",
		"+905321234567":                        "1795482200_3", // form-encoded
		"261124010057_0":                       "",             // part of a longer id
		"1795482100":                           "",
		"212555":                               "",
	} {
		keys := outbox.CallKeys(recs, ref)
		switch {
		case want == "" && len(keys) != 0:
			t.Errorf("%s found %v", ref, keys)
		case want != "" && (len(keys) != 1 || !keys[want]):
			t.Errorf("%s found %v, want %s", ref, keys, want)
		}
	}
}
