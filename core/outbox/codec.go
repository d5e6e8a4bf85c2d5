package outbox

import (
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"time"

	"github.com/callhook/callhook/core/delivery"
)

// Stored requests are encoded compactly rather than as JSON: every webhook
// is encoded once on Enqueue and decoded once on delivery, and JSON (with
// its reflection and base64 body) was a visible share of the durable path.
// A message starting with '{' is the JSON of earlier versions and is still
// read, so an upgrade keeps what an older engine left in the stream.
//
// Layout: codecVersion, then uvarint-length-prefixed ID, Receiver, CallKey,
// Method, URL; varint Timeout (ns); uvarint header count, each a key and a
// uvarint value count with its values; the rest is the body.
//
// A bundle (several requests of one signal to one partition, stored as one
// message) is bundleVersion, a uvarint count, then each request's stored
// form prefixed by its uvarint length.
const (
	codecVersion  = 1
	bundleVersion = 2
)

var errCodec = errors.New("malformed stored request")

// encodeRequest appends r's stored form to buf.
func encodeRequest(buf []byte, r *delivery.Request) []byte {
	buf = append(buf, codecVersion)
	for _, s := range [...]string{r.ID, r.Receiver, r.CallKey, r.Method, r.URL} {
		buf = appendString(buf, s)
	}
	buf = binary.AppendVarint(buf, int64(r.Timeout))
	buf = binary.AppendUvarint(buf, uint64(len(r.Header)))
	for k, vs := range r.Header {
		buf = appendString(buf, k)
		buf = binary.AppendUvarint(buf, uint64(len(vs)))
		for _, v := range vs {
			buf = appendString(buf, v)
		}
	}
	return append(buf, r.Body...)
}

// encodeBundle appends the stored form of rs as one bundle to buf.
func encodeBundle(buf []byte, rs []*delivery.Request) []byte {
	buf = append(buf, bundleVersion)
	buf = binary.AppendUvarint(buf, uint64(len(rs)))
	var one []byte
	for _, r := range rs {
		one = encodeRequest(one[:0], r)
		buf = binary.AppendUvarint(buf, uint64(len(one)))
		buf = append(buf, one...)
	}
	return buf
}

// decodeMessage reads a stored message: one request or a bundle, appended
// to rs.
func decodeMessage(rs []delivery.Request, data []byte) ([]delivery.Request, error) {
	if len(data) == 0 || data[0] != bundleVersion {
		r, err := decodeRequest(data)
		if err != nil {
			return rs, err
		}
		return append(rs, r), nil
	}
	d := decoder{b: data[1:]}
	n := d.uvarint()
	if d.err != nil || n == 0 || n > uint64(len(d.b)) {
		return rs, fmt.Errorf("decode stored bundle: %w", errCodec)
	}
	for range n {
		l := d.uvarint()
		if d.err != nil || l > uint64(len(d.b)) {
			return rs, fmt.Errorf("decode stored bundle: %w", errCodec)
		}
		r, err := decodeRequest(d.b[:l])
		if err != nil {
			return rs, err
		}
		rs = append(rs, r)
		d.b = d.b[l:]
	}
	if len(d.b) != 0 {
		return rs, fmt.Errorf("decode stored bundle: %w: trailing bytes", errCodec)
	}
	return rs, nil
}

func encodedSize(r *delivery.Request) int {
	n := 1 + 5*binary.MaxVarintLen32 + binary.MaxVarintLen64 + len(r.ID) + len(r.Receiver) + len(r.CallKey) +
		len(r.Method) + len(r.URL) + len(r.Body) + binary.MaxVarintLen32
	for k, vs := range r.Header {
		n += len(k) + 2*binary.MaxVarintLen32
		for _, v := range vs {
			n += len(v) + binary.MaxVarintLen32
		}
	}
	return n
}

func appendString(buf []byte, s string) []byte {
	buf = binary.AppendUvarint(buf, uint64(len(s)))
	return append(buf, s...)
}

// decodeRequest reads a stored request, in either form.
func decodeRequest(data []byte) (delivery.Request, error) {
	var r delivery.Request
	if len(data) > 0 && data[0] == '{' {
		if err := json.Unmarshal(data, &r); err != nil {
			return r, fmt.Errorf("decode stored request: %w", err)
		}
		return r, nil
	}
	if len(data) == 0 || data[0] != codecVersion {
		return r, fmt.Errorf("decode stored request: %w: unknown version", errCodec)
	}
	// One string holds every text field: a message is decoded once per
	// delivery, and a string per field was most of its allocations.
	d := decoder{b: data[1:], s: string(data[1:])}
	r.ID, r.Receiver, r.CallKey, r.Method, r.URL = d.str(), d.str(), d.str(), d.str(), d.str()
	r.Timeout = time.Duration(d.varint())
	if nh := d.uvarint(); nh > 0 && d.err == nil {
		if nh > uint64(len(d.b)) {
			return r, fmt.Errorf("decode stored request: %w: %d headers", errCodec, nh)
		}
		r.Header = make(http.Header, nh)
		for range nh {
			k, nv := d.str(), d.uvarint()
			if d.err != nil || nv > uint64(len(d.b))+1 {
				return r, fmt.Errorf("decode stored request: %w", errCodec)
			}
			vs := make([]string, nv)
			for i := range vs {
				vs[i] = d.str()
			}
			r.Header[k] = vs
		}
	}
	if d.err != nil {
		return r, fmt.Errorf("decode stored request: %w", d.err)
	}
	if len(d.b) > 0 {
		r.Body = append([]byte(nil), d.b...)
	}
	return r, nil
}

type decoder struct {
	b   []byte
	s   string // the same bytes as b, from which str slices
	err error
}

func (d *decoder) skip(n int) {
	d.b = d.b[n:]
	if d.s != "" {
		d.s = d.s[n:]
	}
}

func (d *decoder) uvarint() uint64 {
	if d.err != nil {
		return 0
	}
	v, n := binary.Uvarint(d.b)
	if n <= 0 {
		d.err = errCodec
		return 0
	}
	d.skip(n)
	return v
}

func (d *decoder) varint() int64 {
	if d.err != nil {
		return 0
	}
	v, n := binary.Varint(d.b)
	if n <= 0 {
		d.err = errCodec
		return 0
	}
	d.skip(n)
	return v
}

func (d *decoder) str() string {
	n := d.uvarint()
	if d.err != nil {
		return ""
	}
	if n > uint64(len(d.b)) {
		d.err = errCodec
		return ""
	}
	var s string
	if d.s != "" {
		s = d.s[:n]
	} else {
		s = string(d.b[:n])
	}
	d.skip(int(n))
	return s
}
