package recording

import (
	"bufio"
	"fmt"
	"io"
	"os"
	"time"
)

// MP3Info sums up an MP3 stream's frames.
type MP3Info struct {
	Frames     int
	SampleRate int
	Bitrate    int // kbit/s of the first audio frame
	Duration   time.Duration
}

// MPEG audio tables (ISO/IEC 11172-3 and 13818-3), layer III only.
var (
	mp3Rates = map[int][3]int{ // version bits -> sample rates by index
		3: {44100, 48000, 32000}, // MPEG-1
		2: {22050, 24000, 16000}, // MPEG-2
		0: {11025, 12000, 8000},  // MPEG-2.5
	}
	mp3BitratesV1 = [16]int{0, 32, 40, 48, 56, 64, 80, 96, 112, 128, 160, 192, 224, 256, 320, 0}
	mp3BitratesV2 = [16]int{0, 8, 16, 24, 32, 40, 48, 56, 64, 80, 96, 112, 128, 144, 160, 0}
)

// ProbeMP3 reads the MP3 file at path frame by frame and returns its
// frame count and duration; every frame header must be a valid MPEG
// layer III header and the frames must follow each other without gaps.
func ProbeMP3(path string) (MP3Info, error) {
	f, err := os.Open(path)
	if err != nil {
		return MP3Info{}, fmt.Errorf("probe mp3: %w", err)
	}
	defer f.Close()
	info, err := ReadMP3(bufio.NewReader(f))
	if err != nil {
		return info, fmt.Errorf("probe mp3 %s: %w", path, err)
	}
	return info, nil
}

// ReadMP3 walks the frames of an MP3 stream (after an optional ID3v2 tag).
func ReadMP3(r io.Reader) (MP3Info, error) {
	var info MP3Info
	var h [10]byte
	if _, err := io.ReadFull(r, h[:4]); err != nil {
		return info, fmt.Errorf("%w: %v", ErrNotMP3, err)
	}
	if string(h[:3]) == "ID3" {
		if _, err := io.ReadFull(r, h[4:10]); err != nil {
			return info, fmt.Errorf("%w: short ID3 tag", ErrNotMP3)
		}
		size := int64(h[6]&0x7f)<<21 | int64(h[7]&0x7f)<<14 | int64(h[8]&0x7f)<<7 | int64(h[9]&0x7f)
		if _, err := io.CopyN(io.Discard, r, size); err != nil {
			return info, fmt.Errorf("%w: short ID3 tag", ErrNotMP3)
		}
		if _, err := io.ReadFull(r, h[:4]); err != nil {
			return info, fmt.Errorf("%w: no frame after ID3 tag", ErrNotMP3)
		}
	}
	var samples, trim int64
	sawTag := false
	for {
		length, rate, kbps, spf, err := frameHeader(h[:4])
		if err != nil {
			if info.Frames > 0 && string(h[:3]) == "TAG" { // ID3v1 trailer
				break
			}
			return info, fmt.Errorf("frame %d: %w", info.Frames, err)
		}
		if info.Frames == 0 {
			info.SampleRate, info.Bitrate = rate, kbps
		} else if rate != info.SampleRate {
			return info, fmt.Errorf("frame %d: %w: sample rate changes from %d to %d", info.Frames, ErrNotMP3, info.SampleRate, rate)
		}
		if info.Frames == 0 && !sawTag {
			body := make([]byte, length-4)
			if _, err := io.ReadFull(r, body); err != nil {
				return info, fmt.Errorf("frame %d: %w: truncated", info.Frames, ErrNotMP3)
			}
			if d, ok := infoTag(h[:4], body); ok {
				// The Xing/Info frame holds no audio; its LAME extension
				// gives the encoder delay and padding to leave out.
				sawTag, trim = true, d
				n, err := io.ReadFull(r, h[:4])
				if err == io.EOF {
					break
				} else if err != nil {
					return info, fmt.Errorf("frame 1: %w: %d trailing bytes", ErrNotMP3, n)
				}
				continue
			}
		} else if _, err := io.CopyN(io.Discard, r, int64(length-4)); err != nil {
			return info, fmt.Errorf("frame %d: %w: truncated", info.Frames, ErrNotMP3)
		}
		info.Frames++
		samples += int64(spf)
		n, err := io.ReadFull(r, h[:4])
		if err == io.EOF {
			break
		}
		if err != nil {
			return info, fmt.Errorf("frame %d: %w: %d trailing bytes", info.Frames, ErrNotMP3, n)
		}
	}
	if !sawTag {
		// At low bit rates (16 kbit/s at 8 kHz: 144-byte frames) lame has
		// no room for its Info tag; take off its fixed delay (576 samples
		// of encoder delay, 529 of decoder delay) and leave the padding.
		trim = lameDelay
	}
	if samples > trim {
		samples -= trim
	}
	if info.Frames == 0 {
		return info, fmt.Errorf("%w: no audio frames", ErrNotMP3)
	}
	info.Duration = time.Duration(samples) * time.Second / time.Duration(info.SampleRate)
	return info, nil
}

// lameDelay is the delay lame puts before the audio, in samples.
const lameDelay = 576 + 529

// infoTag finds a Xing/Info tag in the first frame (after the side
// information) and returns the encoder delay plus padding from its LAME
// extension, in samples.
func infoTag(h, body []byte) (int64, bool) {
	version, mono := int(h[1]>>3)&3, h[3]>>6 == 3
	side := 32
	switch {
	case version == 3 && mono:
		side = 17
	case version != 3 && mono:
		side = 9
	case version != 3:
		side = 17
	}
	if len(body) < side+8 {
		return 0, false
	}
	tag := string(body[side : side+4])
	if tag != "Xing" && tag != "Info" {
		return 0, false
	}
	flags := body[side+7]
	off := side + 8
	for bit, size := range []int{4, 4, 100, 4} { // frames, bytes, TOC, quality
		if flags&(1<<bit) != 0 {
			off += size
		}
	}
	if len(body) < off+24 || string(body[off:off+4]) != "LAME" && string(body[off:off+4]) != "Lavc" {
		return 0, true
	}
	d := body[off+21 : off+24]
	delay := int64(d[0])<<4 | int64(d[1]>>4)
	pad := int64(d[1]&0x0f)<<8 | int64(d[2])
	return delay + pad, true
}

// frameHeader decodes a layer III frame header: frame length in bytes,
// sample rate, bit rate and samples per frame.
func frameHeader(h []byte) (length, rate, kbps, spf int, err error) {
	if h[0] != 0xff || h[1]&0xe0 != 0xe0 {
		return 0, 0, 0, 0, fmt.Errorf("%w: no frame sync in % x", ErrNotMP3, h)
	}
	version := int(h[1]>>3) & 3
	layer := int(h[1]>>1) & 3
	if version == 1 || layer != 1 { // reserved version; layer bits 01 = III
		return 0, 0, 0, 0, fmt.Errorf("%w: not MPEG layer III (% x)", ErrNotMP3, h)
	}
	bi, si, pad := int(h[2]>>4), int(h[2]>>2)&3, int(h[2]>>1)&1
	if bi == 0 || bi == 15 || si == 3 {
		return 0, 0, 0, 0, fmt.Errorf("%w: bad bitrate or rate index (% x)", ErrNotMP3, h)
	}
	rate = mp3Rates[version][si]
	if version == 3 {
		kbps, spf = mp3BitratesV1[bi], 1152
		length = 144000*kbps/rate + pad
	} else {
		kbps, spf = mp3BitratesV2[bi], 576
		length = 72000*kbps/rate + pad
	}
	return length, rate, kbps, spf, nil
}
