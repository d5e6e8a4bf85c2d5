package outbox

import (
	"encoding/base64"
	"slices"
	"strconv"
	"time"
	"unicode/utf8"
)

// appendRecord appends rec as one JSON object, readable by json.Unmarshal
// into a Record. Every delivered webhook writes one, with its request, so
// it is written by hand: encoding/json's reflection was a visible share of
// the durable path.
func appendRecord(b []byte, rec *Record) []byte {
	b = append(b, `{"kind":`...)
	b = appendJSONString(b, rec.Kind)
	b = append(b, `,"id":`...)
	b = appendJSONString(b, rec.ID)
	b = append(b, `,"receiver":`...)
	b = appendJSONString(b, rec.Receiver)
	if rec.CallKey != "" {
		b = append(b, `,"call":`...)
		b = appendJSONString(b, rec.CallKey)
	}
	b = append(b, `,"time":"`...)
	b = rec.Time.AppendFormat(b, time.RFC3339Nano)
	b = append(b, `","attempt":`...)
	b = strconv.AppendInt(b, int64(rec.N), 10)
	if rec.Status != 0 {
		b = append(b, `,"status":`...)
		b = strconv.AppendInt(b, int64(rec.Status), 10)
	}
	if rec.Latency != 0 {
		b = append(b, `,"latency_ns":`...)
		b = strconv.AppendInt(b, int64(rec.Latency), 10)
	}
	if rec.Err != "" {
		b = append(b, `,"error":`...)
		b = appendJSONString(b, rec.Err)
	}
	if r := rec.Request; r != nil {
		b = append(b, `,"request":{"ID":`...)
		b = appendJSONString(b, r.ID)
		b = append(b, `,"Receiver":`...)
		b = appendJSONString(b, r.Receiver)
		b = append(b, `,"CallKey":`...)
		b = appendJSONString(b, r.CallKey)
		b = append(b, `,"Method":`...)
		b = appendJSONString(b, r.Method)
		b = append(b, `,"URL":`...)
		b = appendJSONString(b, r.URL)
		b = append(b, `,"Header":`...)
		if r.Header == nil {
			b = append(b, "null"...)
		} else {
			b = append(b, '{')
			keys := make([]string, 0, len(r.Header))
			for k := range r.Header {
				keys = append(keys, k)
			}
			slices.Sort(keys)
			for i, k := range keys {
				if i > 0 {
					b = append(b, ',')
				}
				b = appendJSONString(b, k)
				b = append(b, ':')
				vs := r.Header[k]
				if vs == nil {
					b = append(b, "null"...)
					continue
				}
				b = append(b, '[')
				for j, v := range vs {
					if j > 0 {
						b = append(b, ',')
					}
					b = appendJSONString(b, v)
				}
				b = append(b, ']')
			}
			b = append(b, '}')
		}
		b = append(b, `,"Body":`...)
		if r.Body == nil {
			b = append(b, "null"...)
		} else {
			b = append(b, '"')
			b = base64.StdEncoding.AppendEncode(b, r.Body)
			b = append(b, '"')
		}
		b = append(b, `,"Timeout":`...)
		b = strconv.AppendInt(b, int64(r.Timeout), 10)
		b = append(b, '}')
	}
	return append(b, '}')
}

const hexDigits = "0123456789abcdef"

// appendJSONString appends s as a JSON string; invalid UTF-8 becomes
// U+FFFD, as encoding/json does.
func appendJSONString(b []byte, s string) []byte {
	b = append(b, '"')
	start := 0
	for i := 0; i < len(s); {
		c := s[i]
		if c < utf8.RuneSelf {
			if c >= 0x20 && c != '"' && c != '\\' {
				i++
				continue
			}
			b = append(b, s[start:i]...)
			switch c {
			case '"', '\\':
				b = append(b, '\\', c)
			case '\n':
				b = append(b, '\\', 'n')
			case '\r':
				b = append(b, '\\', 'r')
			case '\t':
				b = append(b, '\\', 't')
			default:
				b = append(b, '\\', 'u', '0', '0', hexDigits[c>>4], hexDigits[c&0xf])
			}
			i++
			start = i
			continue
		}
		r, size := utf8.DecodeRuneInString(s[i:])
		if r == utf8.RuneError && size == 1 {
			b = append(b, s[start:i]...)
			b = append(b, `\ufffd`...)
			i += size
			start = i
			continue
		}
		i += size
	}
	b = append(b, s[start:]...)
	return append(b, '"')
}
