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
	var samples int64
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
		if _, err := io.CopyN(io.Discard, r, int64(length-4)); err != nil {
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
	info.Duration = time.Duration(samples) * time.Second / time.Duration(info.SampleRate)
	return info, nil
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
