package outbox

import (
	"hash/fnv"
	"strconv"
	"testing"

	"github.com/callhook/callhook/core/delivery"
)

// Partitions and dedup ids are stored and shared between nodes: the
// hashes must stay hash/fnv's FNV-1a.
func TestFNVMatchesHashFNV(t *testing.T) {
	reqs := []delivery.Request{
		{ID: "crm-1795482057_0-ringing-0-1", Receiver: "crm", CallKey: "1795482057_0", Method: "POST",
			URL: "https://crm.example/hook?event=ringing", Body: []byte(`{"CallId":"1795482057_0"}`)},
		{ID: "erp-x", Receiver: "erp", CallKey: "k", Method: "GET", URL: "http://10.0.0.1/h?a=ş&b=ü"},
		{},
	}
	for _, r := range reqs {
		h := fnv.New64a()
		h.Write([]byte(r.Method))
		h.Write([]byte{0})
		h.Write([]byte(r.URL))
		h.Write([]byte{0})
		h.Write(r.Body)
		if got, want := dedupID(&r), r.ID+"/"+strconv.FormatUint(h.Sum64(), 36); got != want {
			t.Errorf("dedupID(%q) = %q, with hash/fnv's FNV-1a 64 it is %q", r.ID, got, want)
		}

		h32 := fnv.New32a()
		h32.Write([]byte(r.Receiver))
		h32.Write([]byte{0})
		h32.Write([]byte(r.CallKey))
		if got, want := uint32(fnv32(fnvOffset32).str(r.Receiver).byte(0).str(r.CallKey)), h32.Sum32(); got != want {
			t.Errorf("partition hash of %q/%q = %x, hash/fnv FNV-1a 32 gives %x", r.Receiver, r.CallKey, got, want)
		}
	}

	// A bundle's id hashes every request's id and content.
	b := fnv.New64a()
	for i := range reqs {
		b.Write([]byte(reqs[i].ID))
		b.Write([]byte{0})
		b.Write([]byte(reqs[i].Method))
		b.Write([]byte{0})
		b.Write([]byte(reqs[i].URL))
		b.Write([]byte{0})
		b.Write(reqs[i].Body)
		b.Write([]byte{0})
	}
	ptrs := []*delivery.Request{&reqs[0], &reqs[1], &reqs[2]}
	if got, want := bundleID(ptrs), reqs[0].ID+"/3/"+strconv.FormatUint(b.Sum64(), 36); got != want {
		t.Errorf("bundleID = %q, with hash/fnv it is %q", got, want)
	}
}
