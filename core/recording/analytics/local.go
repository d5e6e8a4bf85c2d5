package analytics

import (
	"context"
	"encoding/binary"
	"fmt"
	"io"
	"math"
	"os"
	"time"
)

// Local is the provider that needs no network and no model: it finds
// where in the recording someone is speaking (short-term energy against
// a threshold, with hangover) but recognises no words. Open-source
// recognisers that install here (pocketsphinx) do not transcribe
// telephone speech reliably, and a wrong transcript is worse than none,
// so the local analytics say only when speech happened; the summary
// (Describe) reports how much of the call was speech.
type Local struct {
	// Frame: analysis window; default 20 ms.
	Frame time.Duration
	// ThresholdDBFS: a frame louder than this is speech; default -40.
	ThresholdDBFS float64
	// MinSpeech: shorter bursts are dropped (clicks); default 150 ms.
	MinSpeech time.Duration
	// MaxGap: pauses shorter than this join two bursts; default 300 ms.
	MaxGap time.Duration
}

// Transcribe returns the speech segments of a 16-bit PCM WAV file, with
// no text.
func (l Local) Transcribe(ctx context.Context, wavPath string) (Transcript, error) {
	f, err := os.Open(wavPath)
	if err != nil {
		return Transcript{}, fmt.Errorf("analyse %s: %w", wavPath, err)
	}
	defer f.Close()
	rate, channels, err := pcmStart(f)
	if err != nil {
		return Transcript{}, fmt.Errorf("analyse %s: %w", wavPath, err)
	}
	frame := l.Frame
	if frame <= 0 {
		frame = 20 * time.Millisecond
	}
	thr := l.ThresholdDBFS
	if thr == 0 {
		thr = -40
	}
	minSpeech, maxGap := l.MinSpeech, l.MaxGap
	if minSpeech <= 0 {
		minSpeech = 150 * time.Millisecond
	}
	if maxGap <= 0 {
		maxGap = 300 * time.Millisecond
	}
	perFrame := int(frame.Seconds()*float64(rate)) * channels
	buf := make([]byte, 2*perFrame)
	var t Transcript
	var open *Segment
	pos := time.Duration(0)
	for i := 0; ; i++ {
		if i%500 == 0 && ctx.Err() != nil {
			return Transcript{}, ctx.Err()
		}
		n, err := io.ReadFull(f, buf)
		if n < 2 {
			break
		}
		var sum float64
		for k := 0; k+1 < n; k += 2 {
			v := float64(int16(binary.LittleEndian.Uint16(buf[k:]))) / 32768
			sum += v * v
		}
		rms := math.Sqrt(sum / float64(n/2))
		dur := time.Duration(n/2/channels) * time.Second / time.Duration(rate)
		if 20*math.Log10(rms+1e-12) > thr {
			if open != nil && pos-open.End <= maxGap {
				open.End = pos + dur
			} else {
				if open != nil && open.End-open.Start >= minSpeech {
					t.Segments = append(t.Segments, *open)
				}
				open = &Segment{Start: pos, End: pos + dur}
			}
		}
		pos += dur
		if err != nil {
			break
		}
	}
	if open != nil && open.End-open.Start >= minSpeech {
		t.Segments = append(t.Segments, *open)
	}
	t.Length = pos
	return t, nil
}

// pcmStart reads a WAV header up to the samples; only 16-bit PCM is read.
func pcmStart(r io.Reader) (rate, channels int, err error) {
	var hdr [12]byte
	if _, err := io.ReadFull(r, hdr[:]); err != nil || string(hdr[:4]) != "RIFF" || string(hdr[8:]) != "WAVE" {
		return 0, 0, fmt.Errorf("not a WAV file")
	}
	for {
		var ch [8]byte
		if _, err := io.ReadFull(r, ch[:]); err != nil {
			return 0, 0, fmt.Errorf("no data chunk")
		}
		size := int64(binary.LittleEndian.Uint32(ch[4:]))
		switch string(ch[:4]) {
		case "fmt ":
			b := make([]byte, size+size%2)
			if size < 16 || size > 1<<16 {
				return 0, 0, fmt.Errorf("bad fmt chunk")
			}
			if _, err := io.ReadFull(r, b); err != nil {
				return 0, 0, fmt.Errorf("short fmt chunk")
			}
			if binary.LittleEndian.Uint16(b[0:]) != 1 || binary.LittleEndian.Uint16(b[14:]) != 16 {
				return 0, 0, fmt.Errorf("not 16-bit PCM")
			}
			channels = int(binary.LittleEndian.Uint16(b[2:]))
			rate = int(binary.LittleEndian.Uint32(b[4:]))
		case "data":
			if rate == 0 || channels == 0 {
				return 0, 0, fmt.Errorf("data before fmt")
			}
			return rate, channels, nil
		default:
			if _, err := io.CopyN(io.Discard, r, size+size%2); err != nil {
				return 0, 0, fmt.Errorf("short chunk")
			}
		}
	}
}
