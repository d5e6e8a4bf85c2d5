package recording

import (
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"time"
)

// WAVInfo is what the header of a PCM WAV file says.
type WAVInfo struct {
	Channels      int
	SampleRate    int
	BitsPerSample int
	RIFFSize      uint32 // the RIFF chunk's size field: file size - 8 once patched
	DataOffset    int64  // where the samples start
	DataSize      uint32 // the data chunk's size field
}

// Duration is the play time the data chunk's size gives.
func (w WAVInfo) Duration() time.Duration {
	bytesPerSec := w.SampleRate * w.Channels * w.BitsPerSample / 8
	if bytesPerSec == 0 {
		return 0
	}
	return time.Duration(float64(w.DataSize) / float64(bytesPerSec) * float64(time.Second))
}

// Patched reports whether the header's sizes describe a file of size
// bytes: recorders (Asterisk's format_wav, go-audio/wav) write zero or
// placeholder sizes first and patch them when they close the file.
func (w WAVInfo) Patched(size int64) bool {
	if int64(w.RIFFSize) != size-8 {
		return false
	}
	end := w.DataOffset + int64(w.DataSize)
	// The data chunk may be followed by a pad byte or trailing chunks.
	return end <= size && w.DataSize > 0 || size == w.DataOffset && w.DataSize == 0
}

// ReadWAVHeader parses the RIFF header of r up to the start of the data
// chunk.
func ReadWAVHeader(r io.Reader) (WAVInfo, error) {
	var info WAVInfo
	var hdr [12]byte
	if _, err := io.ReadFull(r, hdr[:]); err != nil {
		return info, fmt.Errorf("read riff header: %w: %v", ErrNotWAV, err)
	}
	if string(hdr[0:4]) != "RIFF" || string(hdr[8:12]) != "WAVE" {
		return info, fmt.Errorf("read riff header: %w: starts %q", ErrNotWAV, hdr[:])
	}
	info.RIFFSize = binary.LittleEndian.Uint32(hdr[4:8])
	off := int64(12)
	sawFmt := false
	for {
		var ch [8]byte
		if _, err := io.ReadFull(r, ch[:]); err != nil {
			return info, fmt.Errorf("read chunk at %d: %w: %v", off, ErrNotWAV, err)
		}
		size := binary.LittleEndian.Uint32(ch[4:8])
		off += 8
		switch string(ch[0:4]) {
		case "fmt ":
			if size < 16 || size > 1<<16 {
				return info, fmt.Errorf("read fmt chunk: %w: size %d", ErrNotWAV, size)
			}
			b := make([]byte, size+size%2)
			if _, err := io.ReadFull(r, b); err != nil {
				return info, fmt.Errorf("read fmt chunk: %w: %v", ErrNotWAV, err)
			}
			info.Channels = int(binary.LittleEndian.Uint16(b[2:4]))
			info.SampleRate = int(binary.LittleEndian.Uint32(b[4:8]))
			info.BitsPerSample = int(binary.LittleEndian.Uint16(b[14:16]))
			off += int64(len(b))
			sawFmt = true
		case "data":
			if !sawFmt {
				return info, fmt.Errorf("read data chunk: %w: data before fmt", ErrNotWAV)
			}
			info.DataOffset = off
			info.DataSize = size
			return info, nil
		default:
			if size > 1<<20 {
				return info, fmt.Errorf("skip chunk %q: %w: size %d", ch[0:4], ErrNotWAV, size)
			}
			n := int64(size) + int64(size%2)
			if _, err := io.CopyN(io.Discard, r, n); err != nil {
				return info, fmt.Errorf("skip chunk %q: %w: %v", ch[0:4], ErrNotWAV, err)
			}
			off += n
		}
	}
}

// WaitOptions tune WaitComplete.
type WaitOptions struct {
	// Timeout bounds the whole wait, counted from the call. Default 30 s:
	// well above the document's "1-2 seconds" so a loaded PBX is not cut
	// short, yet a lost file does not hold the call's webhook for long.
	Timeout time.Duration
	// Poll is how often the file is looked at. Default 100 ms.
	Poll time.Duration
	// StableFor is how long a patched file's size must stay unchanged
	// before it counts as complete when the PBX has not said it closed
	// the file. Default 500 ms.
	StableFor time.Duration
	// Closed, when not nil, is closed once the PBX reports the recording
	// stopped (MixMonitor's stop); a patched header is then enough.
	Closed <-chan struct{}
}

func (o WaitOptions) withDefaults() WaitOptions {
	if o.Timeout <= 0 {
		o.Timeout = 30 * time.Second
	}
	if o.Poll <= 0 {
		o.Poll = 100 * time.Millisecond
	}
	if o.StableFor <= 0 {
		o.StableFor = 500 * time.Millisecond
	}
	return o
}

// WaitComplete waits until the WAV file at path is complete: it exists,
// its header's sizes are patched to match the file, and either the PBX
// reported it closed or its size stayed the same for StableFor. On
// timeout it returns an error wrapping ErrIncomplete that names the file
// and says what was last seen.
func WaitComplete(ctx context.Context, path string, o WaitOptions) (WAVInfo, error) {
	o = o.withDefaults()
	ctx, cancel := context.WithTimeout(ctx, o.Timeout)
	defer cancel()
	tick := time.NewTicker(o.Poll)
	defer tick.Stop()

	closed := o.Closed
	isClosed := false
	lastSize := int64(-1)
	var stableSince time.Time
	state := "not found"
	for {
		info, size, err := statWAV(path)
		switch {
		case errors.Is(err, fs.ErrNotExist):
			state = "not found"
		case err != nil && !errors.Is(err, ErrNotWAV):
			return info, fmt.Errorf("wait for recording %s: %w", path, err)
		case err != nil:
			state = fmt.Sprintf("header unreadable at %d bytes (%v)", size, err)
		default:
			now := time.Now()
			if size != lastSize {
				lastSize, stableSince = size, now
			}
			if info.Patched(size) {
				if isClosed || now.Sub(stableSince) >= o.StableFor {
					return info, nil
				}
				state = fmt.Sprintf("patched, %d bytes, waiting for the size to settle", size)
			} else {
				state = fmt.Sprintf("%d bytes but header says riff %d, data %d (not patched: still being written)", size, info.RIFFSize, info.DataSize)
			}
		}
		select {
		case <-ctx.Done():
			if errors.Is(ctx.Err(), context.DeadlineExceeded) {
				return WAVInfo{}, fmt.Errorf("wait for recording %s: %w after %v: %s", path, ErrIncomplete, o.Timeout, state)
			}
			return WAVInfo{}, fmt.Errorf("wait for recording %s: %w", path, ctx.Err())
		case <-closed:
			isClosed, closed = true, nil
		case <-tick.C:
		}
	}
}

// statWAV reads the header and size of the file at path.
func statWAV(path string) (WAVInfo, int64, error) {
	f, err := os.Open(path)
	if err != nil {
		return WAVInfo{}, 0, err
	}
	defer f.Close()
	st, err := f.Stat()
	if err != nil {
		return WAVInfo{}, 0, err
	}
	info, err := ReadWAVHeader(io.LimitReader(f, 64<<10))
	return info, st.Size(), err
}
