package esl

import (
	"errors"
	"fmt"
	"io"
	"os"
	"time"

	"github.com/callhook/callhook/core/signal"
)

// Decode reads a recorded event socket stream — the bytes a FreeSWITCH
// sent on one inbound connection, greeting and replies included or not —
// and returns the signals Run would have reported for its events, in
// order. Events without Event-Date-Timestamp get the zero time. A frame
// the reader cannot frame is an error naming its place; a malformed event
// inside a well-framed frame is one too, since a recording is expected to
// be exact.
func Decode(r io.Reader, loc *time.Location) ([]signal.Signal, error) {
	fr := newFrameReader(r)
	t := newTracker(loc, nil)
	var out []signal.Signal
	for n := 1; ; n++ {
		f, err := fr.ReadFrame()
		if errors.Is(err, io.EOF) {
			return out, nil
		}
		if err != nil {
			return out, fmt.Errorf("decode event socket frame %d: %w", n, err)
		}
		switch f.ContentType() {
		case typeEventPlain, typeEventJSON:
		default:
			continue
		}
		ev, err := parseEvent(f)
		if err != nil {
			return out, fmt.Errorf("decode event socket frame %d: %w", n, err)
		}
		out = append(out, t.handle(ev, time.Time{})...)
	}
}

// DecodeFile is Decode of a recorded stream in a file.
func DecodeFile(path string, loc *time.Location) ([]signal.Signal, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, fmt.Errorf("decode event socket stream: %w", err)
	}
	defer f.Close()
	sigs, err := Decode(f, loc)
	if err != nil {
		return nil, fmt.Errorf("decode %s: %w", path, err)
	}
	return sigs, nil
}
