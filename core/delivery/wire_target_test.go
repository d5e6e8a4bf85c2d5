package delivery

import (
	"bufio"
	"bytes"
	"io"
	"net/http"
	"net/url"
	"reflect"
	"strings"
	"testing"
)

// FuzzWireTarget: whatever URL the wire takes, it sends to the host and
// with the request target net/http would use.
func FuzzWireTarget(f *testing.F) {
	for _, s := range []string{
		"http://127.0.0.1:8080/hook?x=1",
		"https://example.com",
		"http://example.com?event=ringing",
		"http://example.com/a b/ça|x?x=%2B1&y=a+b&z",
		"http://example.com/enc%2Fslash/%7e?q=%E2%82%AC&r=%3D",
		"http://example.com/x?",
		"http://example.com/x??y",
		"http://example.com/p?q=1#fragment",
		"http://[::1]:80/p",
		"HTTP://Example.COM:/p",
		"http://h/p?a\x7fb",
		"http://h/%zz?x",
		"http://h?x/y:z@w",
	} {
		f.Add(s)
	}
	w := newWire(0, nil)
	f.Fuzz(func(t *testing.T, raw string) {
		got, ok := w.target(raw, false)
		if !ok {
			return
		}
		u, err := url.Parse(raw)
		if err != nil {
			t.Fatalf("the wire takes %q, which url.Parse refuses: %v", raw, err)
		}
		if got.uri != u.RequestURI() || got.host != u.Host || got.name != u.Hostname() {
			t.Fatalf("%q: wire target %q host %q name %q; net/http %q %q %q", raw, got.uri, got.host, got.name, u.RequestURI(), u.Host, u.Hostname())
		}
	})
}

// FuzzWireResponse: a response the wire reads, net/http reads alike:
// status, header fields and the kept body.
func FuzzWireResponse(f *testing.F) {
	for _, s := range []string{
		"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok",
		"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n3\r\nabc\r\n0\r\nT: 1\r\n\r\n",
		"HTTP/1.1 100 Continue\r\n\r\nHTTP/1.1 204 No Content\r\nX: a\r\n b\r\n\r\n",
		"HTTP/1.0 200 OK\r\n\r\nto the end",
		"HTTP/1.1 200 OK\nContent-Length: 1\nContent-Length: 1\n\nx",
		"HTTP/1.1 301 Moved\r\nLocation: /x\r\ncontent-length:0\r\n\r\n",
		"HTTP/1.0 200\n0:\n 0\n\n",
	} {
		f.Add(s, false)
	}
	f.Fuzz(func(t *testing.T, raw string, head bool) {
		method := http.MethodPost
		if head {
			method = http.MethodHead
		}
		c := &wireConn{br: bufio.NewReaderSize(strings.NewReader(raw), 4<<10)}
		got, _, err := c.readResponse(method)
		if err != nil {
			return
		}
		br := bufio.NewReaderSize(strings.NewReader(raw), 4<<10)
		req := &http.Request{Method: method}
		var resp *http.Response
		for {
			resp, err = http.ReadResponse(br, req)
			if err != nil {
				t.Fatalf("the wire reads %q, net/http fails: %v", raw, err)
			}
			if resp.StatusCode >= 200 || resp.StatusCode == 101 {
				break
			}
		}
		body, berr := io.ReadAll(io.LimitReader(resp.Body, maxResponseBody))
		if got.status != resp.StatusCode || !reflect.DeepEqual(got.header, resp.Header) {
			t.Fatalf("%q: wire %d %v, net/http %d %v", raw, got.status, got.header, resp.StatusCode, resp.Header)
		}
		if berr == nil && got.bodyErr == nil && !bytes.Equal(got.body, body) {
			t.Fatalf("%q: wire body %q, net/http %q", raw, got.body, body)
		}
	})
}
