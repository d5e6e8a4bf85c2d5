package esl

import (
	"bytes"
	"encoding/json"
	"fmt"
	"slices"
	"strconv"
	"strings"
	"time"
)

// Content types of mod_event_socket's frames (mod_event_socket.c).
const (
	typeAuthRequest  = "auth/request"
	typeCommandReply = "command/reply"
	typeAPIResponse  = "api/response"
	typeEventPlain   = "text/event-plain"
	typeEventJSON    = "text/event-json"
	typeDisconnect   = "text/disconnect-notice"
	typeRudeReject   = "text/rude-rejection"
	typeLogData      = "log/data"
)

// Event is one FreeSWITCH event with its headers decoded. Header names
// are matched case-insensitively.
type Event struct {
	headers map[string]string
	order   []string // names as sent, for Headers
	Body    string
}

// Name is the event's Event-Name (CHANNEL_CREATE, CUSTOM, ...).
func (e Event) Name() string { return e.Get("Event-Name") }

// Subclass is a CUSTOM event's Event-Subclass (sofia::transferor, ...).
func (e Event) Subclass() string { return e.Get("Event-Subclass") }

// Get returns the header's value, "" when absent.
func (e Event) Get(name string) string { return e.headers[strings.ToLower(name)] }

// Has says whether the event carries the header.
func (e Event) Has(name string) bool {
	_, ok := e.headers[strings.ToLower(name)]
	return ok
}

// Var returns the channel variable name (its variable_ header).
func (e Event) Var(name string) string { return e.Get("variable_" + name) }

// Headers lists the headers in the order they came.
func (e Event) Headers() []Header {
	out := make([]Header, 0, len(e.order))
	for _, n := range e.order {
		out = append(out, Header{Name: n, Value: e.headers[strings.ToLower(n)]})
	}
	return out
}

func (e *Event) set(name, value string) {
	if e.headers == nil {
		e.headers = map[string]string{}
	}
	k := strings.ToLower(name)
	if _, dup := e.headers[k]; !dup {
		e.order = append(e.order, name)
	}
	e.headers[k] = value
}

// Time is when FreeSWITCH fired the event: Event-Date-Timestamp,
// microseconds since the epoch (switch_event_prep_for_delivery). ok is
// false when the header is absent or not a number.
func (e Event) Time() (t time.Time, ok bool) {
	us, err := strconv.ParseInt(strings.TrimSpace(e.Get("Event-Date-Timestamp")), 10, 64)
	if err != nil || us <= 0 {
		return time.Time{}, false
	}
	return time.UnixMicro(us), true
}

// parseEvent decodes the body of a text/event-plain or text/event-json
// frame.
func parseEvent(f Frame) (Event, error) {
	switch ct := f.ContentType(); ct {
	case typeEventPlain:
		return parsePlain(f.Body)
	case typeEventJSON:
		return parseJSON(f.Body)
	default:
		return Event{}, fmt.Errorf("parse event: content type %q is not an event", ct)
	}
}

// parsePlain reads switch_event_serialize's form: "Name: value" lines
// with URL-encoded values, a blank line, and, when the event has a body,
// a Content-Length header before the blank line and the body after it.
func parsePlain(b []byte) (Event, error) {
	var e Event
	rest := b
	for len(rest) > 0 {
		line := rest
		if i := bytes.IndexByte(rest, '\n'); i >= 0 {
			line, rest = rest[:i], rest[i+1:]
		} else {
			rest = nil
		}
		line = bytes.TrimSuffix(line, []byte{'\r'})
		if len(line) == 0 {
			break
		}
		name, value, ok := bytes.Cut(line, []byte(":"))
		if !ok || len(bytes.TrimSpace(name)) == 0 {
			return Event{}, fmt.Errorf("parse plain event: %w", &MalformedError{Line: string(line)})
		}
		e.set(string(bytes.TrimSpace(name)), urlDecode(string(bytes.TrimLeft(value, " "))))
	}
	if cl := e.Get("Content-Length"); cl != "" {
		n, err := strconv.Atoi(strings.TrimSpace(cl))
		if err != nil || n < 0 || n > len(rest) {
			return Event{}, fmt.Errorf("parse plain event %s: %w: body Content-Length %q, %d bytes left", e.Name(), ErrMalformed, cl, len(rest))
		}
		e.Body = string(rest[:n])
	}
	if e.Name() == "" {
		return Event{}, fmt.Errorf("parse plain event: %w: no Event-Name header", ErrMalformed)
	}
	return e, nil
}

// parseJSON reads switch_event_serialize_json's form: one object of
// string values (arrays for array headers), the body under "_body".
func parseJSON(b []byte) (Event, error) {
	var raw map[string]json.RawMessage
	dec := json.NewDecoder(bytes.NewReader(b))
	if err := dec.Decode(&raw); err != nil {
		return Event{}, fmt.Errorf("parse json event: %w: %w", ErrMalformed, err)
	}
	// The order of a JSON object is lost in a map; names sort for Headers.
	var e Event
	names := make([]string, 0, len(raw))
	for n := range raw {
		names = append(names, n)
	}
	slices.Sort(names)
	for _, n := range names {
		v := raw[n]
		var s string
		if err := json.Unmarshal(v, &s); err != nil {
			var arr []string
			if err2 := json.Unmarshal(v, &arr); err2 != nil {
				return Event{}, fmt.Errorf("parse json event: %w: header %q is neither a string nor a list of strings", ErrMalformed, n)
			}
			// As the plain form writes array headers.
			s = "ARRAY::" + strings.Join(arr, "|:")
		}
		if n == "_body" {
			e.Body = s
			continue
		}
		e.set(n, s)
	}
	if e.Name() == "" {
		return Event{}, fmt.Errorf("parse json event: %w: no Event-Name", ErrMalformed)
	}
	return e, nil
}

// urlDecode undoes switch_url_encode: %XX becomes its byte; anything else,
// a bad escape included, stays as it is (as switch_url_decode leaves it).
// "+" is no space here: FreeSWITCH writes a space as %20.
func urlDecode(s string) string {
	if !strings.Contains(s, "%") {
		return s
	}
	var b strings.Builder
	b.Grow(len(s))
	for i := 0; i < len(s); i++ {
		if s[i] == '%' && i+2 < len(s) {
			if h, ok := unhex(s[i+1]); ok {
				if l, ok := unhex(s[i+2]); ok {
					b.WriteByte(h<<4 | l)
					i += 2
					continue
				}
			}
		}
		b.WriteByte(s[i])
	}
	return b.String()
}

func unhex(c byte) (byte, bool) {
	switch {
	case '0' <= c && c <= '9':
		return c - '0', true
	case 'a' <= c && c <= 'f':
		return c - 'a' + 10, true
	case 'A' <= c && c <= 'F':
		return c - 'A' + 10, true
	}
	return 0, false
}
