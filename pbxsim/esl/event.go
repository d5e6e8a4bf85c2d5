package esl

import (
	"encoding/json"
	"strconv"
	"strings"
)

// Header is one header of an event, in the order it is rendered.
type Header struct {
	Name, Value string
}

// Event is one FreeSWITCH event as switch_event.c builds it: ordered
// headers (the same name may not repeat) and an optional body.
type Event struct {
	Headers []Header
	Body    string
}

// Get returns a header's value ("" when absent).
func (e *Event) Get(name string) string {
	for _, h := range e.Headers {
		if strings.EqualFold(h.Name, name) {
			return h.Value
		}
	}
	return ""
}

// Add appends a header; an empty value is skipped, as
// switch_event_add_header_string skips NULL ones.
func (e *Event) Add(name, value string) {
	if value == "" {
		return
	}
	e.Headers = append(e.Headers, Header{name, value})
}

// Set replaces a header's value, or appends it.
func (e *Event) Set(name, value string) {
	for i, h := range e.Headers {
		if strings.EqualFold(h.Name, name) {
			e.Headers[i].Value = value
			return
		}
	}
	e.Headers = append(e.Headers, Header{name, value})
}

// unsafe is SWITCH_URL_UNSAFE (switch_utils.h): the bytes
// switch_url_encode writes as %XX, with every control byte and every
// byte above '~'.
const unsafe = "\r\n #%&+:;<=>?@[\\]^`{|}\""

// urlEncode is switch_url_encode_opt without double encoding: a '%'
// already followed by two hex digits is kept.
func urlEncode(s string) string {
	const hex = "0123456789ABCDEF"
	var b strings.Builder
	for i := 0; i < len(s); i++ {
		c := s[i]
		if c == '%' && i+2 < len(s) && isHex(s[i+1]) && isHex(s[i+2]) {
			b.WriteByte(c)
			continue
		}
		if c < ' ' || c > '~' || strings.IndexByte(unsafe, c) >= 0 {
			b.WriteByte('%')
			b.WriteByte(hex[c>>4])
			b.WriteByte(hex[c&0x0f])
			continue
		}
		b.WriteByte(c)
	}
	return b.String()
}

func isHex(c byte) bool {
	return '0' <= c && c <= '9' || 'a' <= c && c <= 'f' || 'A' <= c && c <= 'F'
}

// Plain serializes e as switch_event_serialize does with encoding on:
// "Name: url-encoded value\n" per header ("_undef_" for an empty one),
// then "Content-Length: N\n\n" and the body, or a blank line.
func (e *Event) Plain() []byte {
	var b strings.Builder
	for _, h := range e.Headers {
		v := urlEncode(h.Value)
		if v == "" {
			v = "_undef_"
		}
		b.WriteString(h.Name)
		b.WriteString(": ")
		b.WriteString(v)
		b.WriteByte('\n')
	}
	if e.Body != "" {
		b.WriteString("Content-Length: ")
		b.WriteString(strconv.Itoa(len(e.Body)))
		b.WriteString("\n\n")
		b.WriteString(e.Body)
	} else {
		b.WriteByte('\n')
	}
	return []byte(b.String())
}

// JSON serializes e as switch_event_serialize_json does: one object of
// string values in header order, then Content-Length and _body when the
// event has a body.
func (e *Event) JSON() []byte {
	var b strings.Builder
	b.WriteByte('{')
	first := true
	field := func(k, v string) {
		if !first {
			b.WriteByte(',')
		}
		first = false
		kb, _ := json.Marshal(k)
		vb, _ := json.Marshal(v)
		b.Write(kb)
		b.WriteByte(':')
		b.Write(vb)
	}
	for _, h := range e.Headers {
		field(h.Name, h.Value)
	}
	if e.Body != "" {
		field("Content-Length", strconv.Itoa(len(e.Body)))
		field("_body", e.Body)
	}
	b.WriteByte('}')
	return []byte(b.String())
}

// frame wraps a serialized event as the listener sends it
// (mod_event_socket.c: "Content-Length: %d\nContent-Type: text/event-%s\n\n").
func frame(format string, body []byte) []byte {
	head := "Content-Length: " + strconv.Itoa(len(body)) + "\nContent-Type: text/event-" + format + "\n\n"
	return append([]byte(head), body...)
}

// reply frames a command/reply; text starting with "~" carries its own
// headers (mod_event_socket.c: the bgapi and userauth replies).
func reply(text string) []byte {
	if strings.HasPrefix(text, "~") {
		return []byte("Content-Type: command/reply\n" + text[1:])
	}
	return []byte("Content-Type: command/reply\nReply-Text: " + text + "\n\n")
}

// apiResponse frames an api command's output (api_exec).
func apiResponse(out string) []byte {
	if out == "" {
		out = "-ERR no reply\n"
	}
	return []byte("Content-Type: api/response\nContent-Length: " + strconv.Itoa(len(out)) + "\n\n" + out)
}

// disconnectNotice is send_disconnect's frame for a listener without a
// session.
func disconnectNotice() []byte {
	const msg = "Disconnected, goodbye.\nSee you at ClueCon! http://www.cluecon.com/\n"
	return []byte("Content-Type: text/disconnect-notice\nContent-Length: " + strconv.Itoa(len(msg)) + "\n\n" + msg)
}
