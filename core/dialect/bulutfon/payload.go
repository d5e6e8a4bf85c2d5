package bulutfon

import (
	"bytes"
	"crypto/sha1"
	"encoding/json"
	"fmt"
	"net/url"
	"regexp"
	"strconv"
	"strings"

	"github.com/callhook/callhook/core/callmodel"
)

// The documents print phone numbers, extensions and ids as JSON numbers
// ("caller": 90532000000, "destination": 1000). A number with a leading
// "+" or "0" would lose it as a JSON number, and one of more than 15
// digits would lose digits in every parser that reads JSON numbers as
// IEEE doubles (JavaScript's among them). So a value is written as a JSON
// number only when it is 1 to 15 digits without a leading zero, and as a
// JSON string otherwise: "+905320000000", "05320000000", "ivr-main". No
// digit is ever lost; receivers that compare numbers as text see the same
// digits either way.
var plainNumber = regexp.MustCompile(`^[1-9][0-9]{0,14}$`)

// IsPlainNumber says whether v is written as a JSON number.
func IsPlainNumber(v string) bool { return plainNumber.MatchString(v) }

// value is one payload value: a number-like text (see plainNumber), a
// string, an integer, a boolean, null, a nested object or a list.
type value interface{}

type (
	numText string // a number as the PBX gave it: JSON number when plain, else string
	null    struct{}
)

// field is one key of an object; object keeps the documents' key order,
// which a map would lose.
type field struct {
	key string
	val value
}

type object []field

func (o object) with(k string, v value) object { return append(o, field{k, v}) }

// orNull is s as text, or null when empty.
func orNull(s string) value {
	if s == "" {
		return null{}
	}
	return s
}

// numOrNull is s as a number-like text, or null when empty.
func numOrNull(s string) value {
	if s == "" {
		return null{}
	}
	return numText(s)
}

// JSON writes o as a JSON object in key order.
func (o object) JSON() []byte {
	var b bytes.Buffer
	writeJSON(&b, o)
	return b.Bytes()
}

func writeJSON(b *bytes.Buffer, v value) {
	switch x := v.(type) {
	case object:
		b.WriteByte('{')
		for i, f := range x {
			if i > 0 {
				b.WriteByte(',')
			}
			writeString(b, f.key)
			b.WriteByte(':')
			writeJSON(b, f.val)
		}
		b.WriteByte('}')
	case []object:
		b.WriteByte('[')
		for i, e := range x {
			if i > 0 {
				b.WriteByte(',')
			}
			writeJSON(b, e)
		}
		b.WriteByte(']')
	case numText:
		if IsPlainNumber(string(x)) {
			b.WriteString(string(x))
		} else {
			writeString(b, string(x))
		}
	case string:
		writeString(b, x)
	case int64:
		b.WriteString(strconv.FormatInt(x, 10))
	case int:
		b.WriteString(strconv.Itoa(x))
	case bool:
		b.WriteString(strconv.FormatBool(x))
	case null, nil:
		b.WriteString("null")
	default:
		panic(fmt.Sprintf("bulutfon: unknown payload value %T", v))
	}
}

func writeString(b *bytes.Buffer, s string) {
	enc, _ := json.Marshal(s)
	b.Write(enc)
}

// Form writes o as application/x-www-form-urlencoded, keys in order.
// Nested objects and lists use the bracket notation PHP and Rails read
// back into the same structure: cdr[uuid]=…, cdr[callflow][0][callee]=….
// null is an empty value; booleans are "true"/"false".
func (o object) Form() []byte {
	var parts []string
	formFields(&parts, "", o)
	return []byte(strings.Join(parts, "&"))
}

func formFields(parts *[]string, prefix string, v value) {
	name := func(k string) string {
		if prefix == "" {
			return k
		}
		return prefix + "[" + k + "]"
	}
	switch x := v.(type) {
	case object:
		for _, f := range x {
			formFields(parts, name(f.key), f.val)
		}
		return
	case []object:
		for i, e := range x {
			formFields(parts, prefix+"["+strconv.Itoa(i)+"]", e)
		}
		return
	}
	*parts = append(*parts, url.QueryEscape(prefix)+"="+url.QueryEscape(formValue(v)))
}

func formValue(v value) string {
	switch x := v.(type) {
	case numText:
		return string(x)
	case string:
		return x
	case int64:
		return strconv.FormatInt(x, 10)
	case int:
		return strconv.Itoa(x)
	case bool:
		return strconv.FormatBool(x)
	}
	return ""
}

// namespace is callhook's UUID namespace for call uuids (a fixed random
// UUID), so that no other name-based UUID collides with them.
var namespace = [16]byte{0x6f, 0x1d, 0x2c, 0x43, 0x8a, 0x55, 0x4e, 0x0b, 0x9c, 0x3e, 0x21, 0xd7, 0x5a, 0x90, 0x12, 0xb8}

// uuidPattern is a UUID's text form (RFC 9562), any case.
var uuidPattern = regexp.MustCompile(`^[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}$`)

// callUUID is the uuid of ev's call: the PBX's own id of the call when
// that id is a UUID (FreeSWITCH names calls by their first channel's
// Unique-ID, as Bulutfon's own switch does), else CallUUID of the chain.
func callUUID(ev callmodel.Event) string {
	if uuidPattern.MatchString(ev.PBXCallID) {
		return strings.ToLower(ev.PBXCallID)
	}
	return CallUUID(ev.ID.Chain())
}

// CallUUID is the call's uuid: a name-based (version 5, RFC 9562) UUID of
// its chain id, so every event of the call, every retry and every replay
// of the same PBX events carries the same uuid without the engine storing
// one.
func CallUUID(chain string) string {
	h := sha1.New()
	h.Write(namespace[:])
	h.Write([]byte(chain))
	s := h.Sum(nil)
	s[6] = s[6]&0x0f | 0x50
	s[8] = s[8]&0x3f | 0x80
	return fmt.Sprintf("%x-%x-%x-%x-%x", s[0:4], s[4:6], s[6:8], s[8:10], s[10:16])
}
