package recording

import (
	"bytes"
	"encoding/json"
	"fmt"
	"net/url"
	"strings"
	"time"
)

// Field is one name=value of a 3CX request, kept in the order the module
// sends them.
type Field struct{ Name, Value string }

// Fields is an ordered list of fields.
type Fields []Field

// FieldsFromQuery splits a raw query ("event=incoming&callerid=…&id=…"),
// such as the URL the 3CX dialect renders for a call-end event, into
// fields in their order.
func FieldsFromQuery(raw string) (Fields, error) {
	var fs Fields
	for _, part := range strings.Split(raw, "&") {
		if part == "" {
			continue
		}
		k, v, _ := strings.Cut(part, "=")
		name, err := url.QueryUnescape(k)
		if err != nil {
			return nil, fmt.Errorf("parse call-end fields %q: %w", raw, err)
		}
		value, err := url.QueryUnescape(v)
		if err != nil {
			return nil, fmt.Errorf("parse call-end fields %q: %w", raw, err)
		}
		fs = append(fs, Field{name, value})
	}
	return fs, nil
}

// Get returns the first value of name, or "".
func (fs Fields) Get(name string) string {
	for _, f := range fs {
		if f.Name == name {
			return f.Value
		}
	}
	return ""
}

// Encode writes the fields as a query string in their order.
func (fs Fields) Encode() string {
	var b strings.Builder
	for i, f := range fs {
		if i > 0 {
			b.WriteByte('&')
		}
		b.WriteString(url.QueryEscape(f.Name))
		b.WriteByte('=')
		b.WriteString(url.QueryEscape(f.Value))
	}
	return b.String()
}

// Kind tells a recording event from an analytics event.
type Kind int

// Kinds of events the Manager produces, in the order they are sent for
// one call id.
const (
	// KindRecording: {"FILES":[links…]} for one call id.
	KindRecording Kind = iota + 1
	// KindAnalytics: transcript and summary for one call id; always after
	// that call id's recording event.
	KindAnalytics
)

func (k Kind) String() string {
	switch k {
	case KindRecording:
		return "recording"
	case KindAnalytics:
		return "analytics"
	}
	return fmt.Sprintf("Kind(%d)", int(k))
}

// File is one stored MP3 file of a conversation.
type File struct {
	Name     string        // e.g. 210701165649_698-1-1.mp3
	URL      string        // signed download link
	Source   string        // the WAV file it was made from
	Duration time.Duration // of the MP3, from its frames
}

// Event is a recording or analytics webhook to deliver.
type Event struct {
	Kind   Kind
	Chain  string // the call chain: the delivery ordering key
	CallID string // 3CX call id, e.g. 210701165649_698-1
	Files  []File // KindRecording: in recording order
	// Fields are the call-end event's fields (including id), present
	// when the full call-end information switch is on.
	Fields     Fields
	Transcript string // KindAnalytics
	Summary    string // KindAnalytics
}

// Placement says where the call id (and the call-end fields when they are
// sent) go. The document shows the recording body as {"FILES":[…]} alone
// and says the request also carries the call id; the module's other
// requests carry their fields in the query string, so that is the
// default, and the body stays exactly the document's.
type Placement int

const (
	// InQuery: id (or every call-end field) in the query string, in the
	// order of the call-end event; the body is {"FILES":[…]}.
	InQuery Placement = iota
	// InBody: the same fields as JSON members after FILES (or after TEXT
	// and SUMMARY), for receivers that read only the body.
	InBody
)

// ParsePlacement reads "query" or "body".
func ParsePlacement(s string) (Placement, error) {
	switch strings.ToLower(strings.TrimSpace(s)) {
	case "", "query":
		return InQuery, nil
	case "body":
		return InBody, nil
	}
	return InQuery, fmt.Errorf("parse placement %q: want query or body", s)
}

// idFields are the fields identifying the call: all call-end fields when
// the full switch is on, else just the id.
func (ev Event) idFields() Fields {
	if len(ev.Fields) > 0 {
		if ev.Fields.Get("id") == "" {
			return append(append(Fields(nil), ev.Fields...), Field{"id", ev.CallID})
		}
		return ev.Fields
	}
	return Fields{{"id", ev.CallID}}
}

// Query returns the fields that go in the request's query string.
func (ev Event) Query(p Placement) Fields {
	if p == InBody {
		return nil
	}
	return ev.idFields()
}

// Body renders the JSON body: {"FILES":[…]} for a recording (the
// document's example, byte for byte), {"TEXT":…,"SUMMARY":…} for
// analytics (the document names the content, full text and short
// summary, but shows no shape; upper-case keys follow FILES). With
// InBody the identifying fields follow as string members, in order.
func (ev Event) Body(p Placement) []byte {
	var b bytes.Buffer
	b.WriteByte('{')
	member := func(name string, v any) {
		if b.Len() > 1 {
			b.WriteByte(',')
		}
		writeJSON(&b, name)
		b.WriteByte(':')
		writeJSON(&b, v)
	}
	switch ev.Kind {
	case KindAnalytics:
		member("TEXT", ev.Transcript)
		member("SUMMARY", ev.Summary)
	default:
		urls := make([]string, len(ev.Files))
		for i, f := range ev.Files {
			urls[i] = f.URL
		}
		member("FILES", urls)
	}
	if p == InBody {
		for _, f := range ev.idFields() {
			member(f.Name, f.Value)
		}
	}
	b.WriteByte('}')
	return b.Bytes()
}

// writeJSON encodes v without HTML escaping, so links keep their '&'.
func writeJSON(b *bytes.Buffer, v any) {
	enc := json.NewEncoder(b)
	enc.SetEscapeHTML(false)
	enc.Encode(v)           // strings and string slices cannot fail
	b.Truncate(b.Len() - 1) // Encode's newline
}
