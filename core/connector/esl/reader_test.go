package esl

import (
	"bytes"
	"errors"
	"io"
	"strings"
	"testing"
	"testing/iotest"
)

// Frames as mod_event_socket writes them: LF line ends, a blank line,
// Content-Length bytes of body.
const twoFrames = "Content-Type: auth/request\n\n" +
	"Content-Type: api/response\nContent-Length: 4\n\n+OK\n" +
	"\n\nContent-Type: command/reply\nReply-Text: +OK accepted\n\n"

func readAll(t *testing.T, r io.Reader) []Frame {
	t.Helper()
	fr := newFrameReader(r)
	var out []Frame
	for {
		f, err := fr.ReadFrame()
		if errors.Is(err, io.EOF) {
			return out
		}
		if err != nil {
			t.Fatal(err)
		}
		out = append(out, f)
	}
}

func TestReadFrames(t *testing.T) {
	for name, r := range map[string]io.Reader{
		"whole":       strings.NewReader(twoFrames),
		"byte a read": iotest.OneByteReader(strings.NewReader(twoFrames)),
		"CRLF":        strings.NewReader(strings.ReplaceAll(twoFrames[:len("Content-Type: auth/request\n\n")], "\n", "\r\n") + twoFrames[len("Content-Type: auth/request\n\n"):]),
	} {
		t.Run(name, func(t *testing.T) {
			fs := readAll(t, r)
			if len(fs) != 3 {
				t.Fatalf("%d frames, want 3: %+v", len(fs), fs)
			}
			if fs[0].ContentType() != "auth/request" || fs[1].ContentType() != "api/response" || string(fs[1].Body) != "+OK\n" {
				t.Errorf("frames %+v", fs[:2])
			}
			if fs[2].Get("reply-text") != "+OK accepted" {
				t.Errorf("Reply-Text %q", fs[2].Get("Reply-Text"))
			}
		})
	}
}

func TestReadFrameErrors(t *testing.T) {
	for _, c := range []struct {
		name, in string
		want     error
		says     string
	}{
		{"no colon", "Content-Type: text/event-plain\nnot a header\n\n", ErrMalformed, `"not a header"`},
		{"empty name", ": value\n\n", ErrMalformed, `": value"`},
		{"bad length", "Content-Type: api/response\nContent-Length: ten\n\n", ErrMalformed, `"ten"`},
		{"negative length", "Content-Type: api/response\nContent-Length: -1\n\n", ErrMalformed, `"-1"`},
		{"body over the limit", "Content-Type: api/response\nContent-Length: 16777217\n\n", ErrTooLarge, "16777217"},
		{"long line", "Content-Type: " + strings.Repeat("x", maxLineBytes+1) + "\n\n", ErrTooLarge, "longer than"},
		{"many headers", strings.Repeat("A: b\n", maxHeaderLines+1) + "\n", ErrTooLarge, "header lines"},
		{"short body", "Content-Type: api/response\nContent-Length: 10\n\nabc", io.ErrUnexpectedEOF, "api/response"},
		{"end inside headers", "Content-Type: api/response\n", io.ErrUnexpectedEOF, ""},
		{"end inside a line", "Content-Type: api", io.ErrUnexpectedEOF, ""},
	} {
		t.Run(c.name, func(t *testing.T) {
			_, err := newFrameReader(strings.NewReader(c.in)).ReadFrame()
			if !errors.Is(err, c.want) {
				t.Fatalf("error %v, want %v", err, c.want)
			}
			if !strings.Contains(err.Error(), c.says) {
				t.Errorf("error %q does not name %s", err, c.says)
			}
		})
	}
}

func TestParsePlainEvent(t *testing.T) {
	body := "Event-Name: CHANNEL_HANGUP_COMPLETE\n" +
		"Caller-Caller-ID-Name: John%20Smith\n" +
		"Channel-Name: sofia/external/2125559876%40127.0.0.1\n" +
		"variable_odd: 100%25%20sure%2Bplus+kept%zz\n" +
		"Content-Length: 5\n\nhello"
	e, err := parseEvent(Frame{Headers: []Header{{"Content-Type", "text/event-plain"}}, Body: []byte(body)})
	if err != nil {
		t.Fatal(err)
	}
	if e.Name() != "CHANNEL_HANGUP_COMPLETE" || e.Get("caller-caller-id-name") != "John Smith" ||
		e.Get("Channel-Name") != "sofia/external/2125559876@127.0.0.1" {
		t.Errorf("headers %v", e.Headers())
	}
	// switch_url_decode leaves what is no %XX escape as it is.
	if v := e.Var("odd"); v != "100% sure+plus+kept%zz" {
		t.Errorf("variable_odd %q", v)
	}
	if e.Body != "hello" {
		t.Errorf("body %q", e.Body)
	}
	for name, bad := range map[string]string{
		"malformed line": "Event-Name: X\nno colon here\n",
		"no name":        "Unique-ID: 1\n",
		"long body":      "Event-Name: X\nContent-Length: 99\n\nshort",
	} {
		if _, err := parsePlain([]byte(bad)); !errors.Is(err, ErrMalformed) {
			t.Errorf("%s: error %v, want ErrMalformed", name, err)
		}
	}
}

func TestParseJSONEvent(t *testing.T) {
	body := `{"Event-Name":"BACKGROUND_JOB","Job-UUID":"j1","Arr":["a","b"],"Content-Length":"4","_body":"+OK\n"}`
	e, err := parseEvent(Frame{Headers: []Header{{"Content-Type", "text/event-json"}}, Body: []byte(body)})
	if err != nil {
		t.Fatal(err)
	}
	if e.Name() != "BACKGROUND_JOB" || e.Get("job-uuid") != "j1" || e.Body != "+OK\n" || e.Get("Arr") != "ARRAY::a|:b" {
		t.Errorf("event %v body %q", e.Headers(), e.Body)
	}
	for _, bad := range []string{`{"Event-Name":1}`, `not json`, `{"Unique-ID":"x"}`} {
		if _, err := parseJSON([]byte(bad)); !errors.Is(err, ErrMalformed) {
			t.Errorf("%s: error %v, want ErrMalformed", bad, err)
		}
	}
	if _, err := parseEvent(Frame{Headers: []Header{{"Content-Type", "text/xml"}}}); err == nil {
		t.Error("an xml frame parsed as an event")
	}
}

// FuzzReadFrame: no input makes the reader panic or return a frame whose
// body disagrees with its Content-Length.
func FuzzReadFrame(f *testing.F) {
	f.Add([]byte(twoFrames))
	f.Add([]byte("Content-Length: 3\n\nabc"))
	f.Fuzz(func(t *testing.T, b []byte) {
		fr := newFrameReader(bytes.NewReader(b))
		for range 64 {
			fm, err := fr.ReadFrame()
			if err != nil {
				return
			}
			if cl := fm.Get("Content-Length"); cl != "" && len(fm.Body) == 0 && strings.TrimSpace(cl) != "0" {
				t.Fatalf("Content-Length %s, no body", cl)
			}
			if fm.ContentType() == typeEventPlain || fm.ContentType() == typeEventJSON {
				_, _ = parseEvent(fm)
			}
		}
	})
}
