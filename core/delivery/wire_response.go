package delivery

import (
	"bufio"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/textproto"
	"strconv"
	"strings"

	"golang.org/x/net/http/httpguts"
)

// errHeadTooLarge: the receiver's response heads (1xx included) exceed
// maxHeaderBytes.
var errHeadTooLarge = errors.New("response head too large")

// readResponse reads one response to a request of method, skipping 1xx
// interim responses (100 Continue and the like) as net/http does, and keeps
// the body's first maxResponseBody bytes. answered reports whether any byte
// arrived, which tells a connection closed while idle from a failed answer.
func (c *wireConn) readResponse(method string) (resp wireResponse, answered bool, err error) {
	if _, err := c.br.Peek(1); err != nil {
		return resp, false, fmt.Errorf("read response: %w", err)
	}
	budget := maxHeaderBytes
	var minor int
	for {
		var code int
		code, minor, resp.header, err = c.readHead(&budget)
		if err != nil {
			return resp, true, fmt.Errorf("read response: %w", err)
		}
		resp.status = code
		// 101 ends the exchange like a final answer; nothing else of 1xx does.
		if code >= 200 || code == http.StatusSwitchingProtocols {
			break
		}
	}
	h := resp.header
	keepAlive := !httpguts.HeaderValuesContainsToken(h["Connection"], "close")
	if minor == 0 {
		keepAlive = keepAlive && httpguts.HeaderValuesContainsToken(h["Connection"], "keep-alive")
	}

	// The body's length, as net/http's readTransfer and fixLength find it.
	chunked := false
	if te, ok := h["Transfer-Encoding"]; ok {
		delete(h, "Transfer-Encoding")
		if minor > 0 { // ignored in HTTP/1.0
			if len(te) != 1 || !strings.EqualFold(textproto.TrimString(te[0]), "chunked") {
				return resp, true, fmt.Errorf("read response: unsupported transfer encoding %q", te)
			}
			chunked = true
		}
	}
	length := int64(-1)
	if cl := h["Content-Length"]; len(cl) > 0 {
		first := textproto.TrimString(cl[0])
		for _, v := range cl[1:] {
			if textproto.TrimString(v) != first {
				return resp, true, fmt.Errorf("read response: several Content-Length values %q", cl)
			}
		}
		if len(cl) > 1 {
			h["Content-Length"] = cl[:1:1]
		}
		n, err := strconv.ParseUint(first, 10, 63)
		if err != nil {
			return resp, true, fmt.Errorf("read response: bad Content-Length %q", first)
		}
		length = int64(n)
	}
	switch {
	case method == http.MethodHead, resp.status < 200, resp.status == http.StatusNoContent, resp.status == http.StatusNotModified:
		resp.body, resp.reuse = []byte{}, keepAlive && resp.status != http.StatusSwitchingProtocols
		return resp, true, nil
	case chunked:
		delete(h, "Content-Length")
		var complete bool
		resp.body, complete, resp.bodyErr = c.readChunked()
		resp.reuse = keepAlive && complete
	case length >= 0:
		var complete bool
		resp.body, complete, resp.bodyErr = c.readLength(length)
		resp.reuse = keepAlive && complete
	default:
		// The body ends when the server closes the connection.
		resp.body, resp.bodyErr = c.readToEOF()
	}
	return resp, true, nil
}

// readHead reads a status line and header fields into a header in which
// every string is a piece of one copy of the head, charging the head's size
// to budget.
func (c *wireConn) readHead(budget *int) (code, minor int, h http.Header, err error) {
	c.hdr = c.hdr[:0]
	lines := 0
	for {
		empty, err := c.appendLine(budget)
		if err != nil {
			return 0, 0, nil, err
		}
		if empty {
			break
		}
		lines++
	}
	head := string(c.hdr)
	status, rest, _ := strings.Cut(head, "\n")
	code, minor, err = parseStatusLine(status)
	if err != nil {
		return 0, 0, nil, err
	}
	n := lines - 1
	h = make(http.Header, n)
	strs := make([]string, n) // one value per field: cut up rather than one allocation each
	var last string
	for {
		var line string
		line, rest, _ = strings.Cut(rest, "\n")
		if line == "" {
			break
		}
		if line[0] == ' ' || line[0] == '\t' {
			// An obsolete folded line continues the previous field's
			// value, joined by a space as net/textproto does.
			vv := h[last]
			if last == "" || !validFieldValue(line) {
				return 0, 0, nil, fmt.Errorf("malformed header line %q", line)
			}
			vv[len(vv)-1] = trimOWS(vv[len(vv)-1] + " " + trimOWS(line))
			continue
		}
		k, v, ok := strings.Cut(line, ":")
		if !ok || !httpguts.ValidHeaderFieldName(k) || !validFieldValue(v) {
			return 0, 0, nil, fmt.Errorf("malformed header line %q", line)
		}
		k = textproto.CanonicalMIMEHeaderKey(k) // no copy when already canonical
		v = trimOWS(v)
		if vv, ok := h[k]; ok {
			h[k] = append(vv, v)
		} else if len(strs) > 0 {
			strs[0] = v
			h[k], strs = strs[:1:1], strs[1:]
		} else {
			h[k] = []string{v}
		}
		last = k
	}
	return code, minor, h, nil
}

// appendLine appends the next line of a head to c.hdr, without its CRLF
// (or bare LF) and followed by "\n", and reports whether it was empty.
func (c *wireConn) appendLine(budget *int) (empty bool, err error) {
	start := len(c.hdr)
	for {
		frag, err := c.br.ReadSlice('\n')
		if *budget -= len(frag); *budget < 0 {
			return false, errHeadTooLarge
		}
		c.hdr = append(c.hdr, frag...)
		if err == nil {
			break
		}
		if err != bufio.ErrBufferFull {
			if err == io.EOF {
				err = io.ErrUnexpectedEOF
			}
			return false, err
		}
	}
	c.hdr = c.hdr[:len(c.hdr)-1]
	if n := len(c.hdr); n > start && c.hdr[n-1] == '\r' {
		c.hdr = c.hdr[:n-1]
	}
	empty = len(c.hdr) == start
	c.hdr = append(c.hdr, '\n')
	return empty, nil
}

// parseStatusLine reads "HTTP/1.x NNN reason" as http.ReadResponse does.
func parseStatusLine(line string) (code, minor int, err error) {
	proto, status, ok := strings.Cut(line, " ")
	if !ok {
		return 0, 0, fmt.Errorf("malformed status line %q", line)
	}
	switch proto {
	case "HTTP/1.1":
		minor = 1
	case "HTTP/1.0":
	default:
		return 0, 0, fmt.Errorf("unsupported protocol in status line %q", line)
	}
	status = strings.TrimLeft(status, " ")
	digits, _, _ := strings.Cut(status, " ")
	if len(digits) != 3 {
		return 0, 0, fmt.Errorf("malformed status line %q", line)
	}
	code, err = strconv.Atoi(digits)
	if err != nil || code < 100 {
		return 0, 0, fmt.Errorf("malformed status line %q", line)
	}
	return code, minor, nil
}

// validFieldValue reports whether v holds only visible characters, spaces,
// tabs and obs-text, as net/textproto requires of a received field value.
func validFieldValue(v string) bool {
	for i := 0; i < len(v); i++ {
		if c := v[i]; (c < ' ' && c != '\t') || c == 0x7f {
			return false
		}
	}
	return true
}

// readLength reads a body of n bytes, keeping the first maxResponseBody.
// complete reports whether all of it was read, so the connection can carry
// another request: the rest is skipped when it is at most drainLimit, as
// Send did with net/http; beyond that the connection is not worth the read.
func (c *wireConn) readLength(n int64) (body []byte, complete bool, err error) {
	body = make([]byte, min(n, maxResponseBody))
	got, err := io.ReadFull(c.br, body)
	if err != nil {
		return body[:got], false, err
	}
	rest := n - int64(got)
	if rest == 0 {
		return body, true, nil
	}
	if rest > drainLimit {
		return body, false, nil
	}
	_, err = c.br.Discard(int(rest))
	return body, err == nil, nil
}

// readChunked reads a chunked body (RFC 9112 §7.1), keeping the first
// maxResponseBody bytes and skipping at most drainLimit more; trailer fields
// are read and dropped. An error after the kept part only stops the
// connection's reuse, as a failed drain did with net/http.
func (c *wireConn) readChunked() (body []byte, complete bool, err error) {
	kept := c.hdr[:0]
	defer func() {
		body = append([]byte{}, kept...)
		c.hdr = kept[:0]
	}()
	skipped := 0
	full := func(e error) (bool, error) {
		if len(kept) == maxResponseBody {
			return false, nil
		}
		return false, e
	}
	for {
		line, err := c.br.ReadSlice('\n')
		if err != nil {
			if err == io.EOF {
				err = io.ErrUnexpectedEOF
			}
			complete, err = full(fmt.Errorf("read chunk size: %w", err))
			return nil, complete, err
		}
		size, err := parseChunkSize(line)
		if err != nil {
			complete, err = full(err)
			return nil, complete, err
		}
		if size == 0 {
			budget := maxHeaderBytes
			for {
				c.hdr = kept // trailer fields go after the kept bytes and are dropped
				empty, err := c.appendLine(&budget)
				if err != nil {
					complete, err = full(fmt.Errorf("read trailer: %w", err))
					return nil, complete, err
				}
				if empty {
					return nil, true, nil
				}
			}
		}
		for size > 0 {
			if room := int64(maxResponseBody - len(kept)); room > 0 {
				k := int(min(size, room))
				kept = append(kept, make([]byte, k)...)
				if _, err := io.ReadFull(c.br, kept[len(kept)-k:]); err != nil {
					kept = kept[:len(kept)-k]
					return nil, false, err
				}
				size -= int64(k)
				continue
			}
			k := min(size, int64(drainLimit-skipped))
			if k <= 0 {
				return nil, false, nil // too much to skip: close instead
			}
			if _, err := c.br.Discard(int(k)); err != nil {
				return nil, false, nil
			}
			skipped += int(k)
			size -= k
		}
		var crlf [2]byte
		if _, err := io.ReadFull(c.br, crlf[:]); err != nil || crlf != [2]byte{'\r', '\n'} {
			complete, err = full(errors.New("malformed chunked encoding"))
			return nil, complete, err
		}
	}
}

// parseChunkSize reads a chunk-size line, ignoring chunk extensions.
func parseChunkSize(line []byte) (int64, error) {
	s := strings.TrimRight(string(line), "\r\n")
	if i := strings.IndexByte(s, ';'); i >= 0 {
		s = s[:i]
	}
	s = trimOWS(s)
	if len(s) == 0 || len(s) > 15 {
		return 0, fmt.Errorf("malformed chunk size %q", s)
	}
	n, err := strconv.ParseInt(s, 16, 64)
	if err != nil || n < 0 {
		return 0, fmt.Errorf("malformed chunk size %q", s)
	}
	return n, nil
}

// readToEOF reads a body delimited by the end of the connection, keeping
// the first maxResponseBody bytes; the connection is closed after it, so
// nothing more is read.
func (c *wireConn) readToEOF() ([]byte, error) {
	kept := c.hdr[:0]
	if cap(kept) < maxResponseBody {
		kept = make([]byte, 0, maxResponseBody)
	}
	n, err := io.ReadFull(c.br, kept[:maxResponseBody])
	c.hdr = kept[:0]
	if err == io.EOF || err == io.ErrUnexpectedEOF {
		err = nil
	}
	return append([]byte{}, kept[:n]...), err
}
