package ami

import (
	"bufio"
	"errors"
	"fmt"
	"io"
	"os"
	"time"

	"github.com/callhook/callhook/core/signal"
)

// Decode reads a recorded AMI stream — the bytes an Asterisk sent on one
// manager connection, banner included or not — and returns the signals Run
// would have reported for it, in order. Recorded captures of real PBXs are
// replayed through the call model this way. Events without a Timestamp
// header get the zero time. A malformed packet is an error naming its line.
func Decode(r io.Reader, loc *time.Location) ([]signal.Signal, error) {
	if loc == nil {
		loc = time.Local
	}
	br := bufio.NewReader(r)
	if head, _ := br.Peek(len(bannerPrefix)); string(head) == bannerPrefix {
		if _, err := br.ReadString('\n'); err != nil {
			return nil, fmt.Errorf("decode AMI banner: %w", err)
		}
	}
	pr := newPacketReader(br)
	var out []signal.Signal
	files := newMixFiles("")
	locals := newLocalPairs()
	dials := newDialFanout()
	queued := newQueueCallers("")
	pr.keep = func(p rawPacket) bool { return wanted(p) || queued.wants(p) }
	for n := 1; ; n++ {
		m, err := pr.ReadPacket()
		if errors.Is(err, io.EOF) {
			return out, nil
		}
		if err != nil {
			return out, fmt.Errorf("decode AMI packet %d: %w", n, err)
		}
		if !m.Has("Event") {
			continue
		}
		files.observe(m)
		dials.observe(m)
		if s, ok, err := queued.callback(m, time.Time{}, loc); err != nil {
			return out, fmt.Errorf("decode AMI packet %d: %w", n, err)
		} else if ok {
			out = append(out, s)
			continue
		}
		s, err := translate(m, time.Time{}, loc)
		if errors.Is(err, errSkip) {
			continue
		}
		if err != nil {
			return out, fmt.Errorf("decode AMI packet %d: %w", n, err)
		}
		files.attach(&s)
		dials.attach(&s)
		queued.follow(s)
		if locals.absorb(m, &s) {
			out = append(out, s)
		}
	}
}

// DecodeFile is Decode of a recorded stream in a file.
func DecodeFile(path string, loc *time.Location) ([]signal.Signal, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, fmt.Errorf("decode AMI stream: %w", err)
	}
	defer f.Close()
	sigs, err := Decode(f, loc)
	if err != nil {
		return nil, fmt.Errorf("decode %s: %w", path, err)
	}
	return sigs, nil
}
