package ami

import (
	"fmt"
	"strings"
)

// Field is one "Key: Value" line of an AMI packet.
type Field struct {
	Key, Value string
}

// Message is one AMI packet: an action, a response or an event. It is an
// ordered list because AMI repeats keys (ChanVariable, Variable, Output) and
// the order of the repeats carries meaning.
type Message []Field

// Get returns the value of the first field named key (compared without
// case, as Asterisk does), or "" if there is none.
func (m Message) Get(key string) string {
	v, _ := m.Lookup(key)
	return v
}

// Lookup returns the value of the first field named key and whether it
// exists, for keys whose empty value differs from their absence.
func (m Message) Lookup(key string) (string, bool) {
	// Asterisk writes its keys in one case: an exact match is found
	// without case folding; any other spelling still matches below.
	for _, f := range m {
		if f.Key == key {
			return f.Value, true
		}
	}
	// Asterisk folds keys as strcasecmp does, byte by byte: a key of
	// another length never matches, and most keys asked for are absent
	// (ActionID of an event).
	for _, f := range m {
		if len(f.Key) == len(key) && strings.EqualFold(f.Key, key) {
			return f.Value, true
		}
	}
	return "", false
}

// Values returns the values of every field named key, in packet order.
func (m Message) Values(key string) []string {
	var vs []string
	for _, f := range m {
		if strings.EqualFold(f.Key, key) {
			vs = append(vs, f.Value)
		}
	}
	return vs
}

// Has reports whether a field named key exists.
func (m Message) Has(key string) bool {
	_, ok := m.Lookup(key)
	return ok
}

// isEvent reports whether m is an event. Events are told apart by their
// Event field, not by the absence of Response: OriginateResponse carries both.
func (m Message) isEvent() bool { return m.Has("Event") }

// appendWire appends m's wire form: CRLF lines and the blank line that ends
// a packet. Callers validate fields first (see checkField).
func (m Message) appendWire(b []byte) []byte {
	for _, f := range m {
		b = append(b, f.Key...)
		b = append(b, ": "...)
		b = append(b, f.Value...)
		b = append(b, "\r\n"...)
	}
	return append(b, "\r\n"...)
}

// checkField rejects fields that would break the framing of an action: a
// line break in a key or value would let a caller inject further fields or
// packets, and a key needs to be a non-empty token without a colon.
func checkField(f Field) error {
	switch {
	case strings.TrimSpace(f.Key) == "":
		return fmt.Errorf("check field %q: %w: empty key", f.Key, ErrInvalidField)
	case f.Key != strings.TrimSpace(f.Key):
		return fmt.Errorf("check field %q: %w: key has surrounding spaces", f.Key, ErrInvalidField)
	case strings.ContainsAny(f.Key, ":\r\n"):
		return fmt.Errorf("check field %q: %w: key contains a colon or line break", f.Key, ErrInvalidField)
	case strings.ContainsAny(f.Value, "\r\n"):
		return fmt.Errorf("check field %q: %w: value contains a line break", f.Key, ErrInvalidField)
	}
	return nil
}

// Response is the PBX's answer to one action.
type Response struct {
	// Message is the Response packet itself, fields in wire order.
	Message
	// Events holds, for an action answered with an event list ("EventList:
	// start", e.g. QueueStatus), the events carrying the action's ActionID,
	// the closing "...Complete" event included.
	Events []Message
}

// Status is the Response field: "Success", "Error", "Follows", "Goodbye".
func (r Response) Status() string { return r.Get("Response") }

// ActionError reports an action the PBX answered with "Response: Error".
type ActionError struct {
	Action  string // the action's name, e.g. "QueueStatus"
	Message string // the response's Message field
}

func (e *ActionError) Error() string {
	return fmt.Sprintf("ami: action %s failed: %s", e.Action, e.Message)
}

// Unwrap makes errors.Is(err, ErrActionFailed) hold.
func (e *ActionError) Unwrap() error { return ErrActionFailed }
