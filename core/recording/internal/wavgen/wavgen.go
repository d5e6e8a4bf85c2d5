// Package wavgen writes the WAV files the recording tests need: 8 kHz,
// 16-bit, mono PCM as a PBX leaves it after decoding G.711, generated in
// code so no large audio file lives in the repository.
package wavgen

import (
	"encoding/binary"
	"fmt"
	"math"
	"os"
	"time"
)

// Rate is the sample rate of every generated file: narrow-band telephony.
const Rate = 8000

// HeaderSize is the size of the canonical 44-byte PCM WAV header written here.
const HeaderSize = 44

// Header returns a canonical 44-byte PCM WAV header for dataBytes of
// 8 kHz 16-bit mono audio. dataBytes 0 gives the header a writer leaves
// before it patches the sizes on close.
func Header(dataBytes uint32) []byte {
	h := make([]byte, HeaderSize)
	copy(h[0:], "RIFF")
	binary.LittleEndian.PutUint32(h[4:], 36+dataBytes)
	copy(h[8:], "WAVE")
	copy(h[12:], "fmt ")
	binary.LittleEndian.PutUint32(h[16:], 16)
	binary.LittleEndian.PutUint16(h[20:], 1) // PCM
	binary.LittleEndian.PutUint16(h[22:], 1) // mono
	binary.LittleEndian.PutUint32(h[24:], Rate)
	binary.LittleEndian.PutUint32(h[28:], Rate*2)
	binary.LittleEndian.PutUint16(h[32:], 2)
	binary.LittleEndian.PutUint16(h[34:], 16)
	copy(h[36:], "data")
	binary.LittleEndian.PutUint32(h[40:], dataBytes)
	return h
}

// Tone returns d of a sine at freq Hz, amplitude amp (0..1), as 16-bit
// little-endian PCM samples.
func Tone(d time.Duration, freq, amp float64) []byte {
	n := int(d.Seconds() * Rate)
	b := make([]byte, 2*n)
	for i := 0; i < n; i++ {
		v := amp * math.Sin(2*math.Pi*freq*float64(i)/Rate)
		binary.LittleEndian.PutUint16(b[2*i:], uint16(int16(v*32767)))
	}
	return b
}

// Silence returns d of zero samples.
func Silence(d time.Duration) []byte { return make([]byte, 2*int(d.Seconds()*Rate)) }

// Bursts returns talk-like audio: on-periods of a tone separated by
// silences, starting with a tone.
func Bursts(on, off time.Duration, count int) []byte {
	var b []byte
	for i := 0; i < count; i++ {
		b = append(b, Tone(on, 440+float64(60*i), 0.5)...)
		if i < count-1 {
			b = append(b, Silence(off)...)
		}
	}
	return b
}

// Write writes a complete WAV file with pcm as its data.
func Write(path string, pcm []byte) error {
	if err := os.WriteFile(path, append(Header(uint32(len(pcm))), pcm...), 0o644); err != nil {
		return fmt.Errorf("write wav %s: %w", path, err)
	}
	return nil
}

// Writer writes a WAV file the way a recorder does: header with zero sizes
// first, samples appended, sizes patched only on Close.
type Writer struct {
	f *os.File
	n uint32
}

// Create starts a WAV file whose header sizes are still zero.
func Create(path string) (*Writer, error) {
	f, err := os.Create(path)
	if err != nil {
		return nil, fmt.Errorf("create wav %s: %w", path, err)
	}
	if _, err := f.Write(Header(0)); err != nil {
		f.Close()
		return nil, fmt.Errorf("write wav header %s: %w", path, err)
	}
	return &Writer{f: f}, nil
}

// Write appends PCM samples.
func (w *Writer) Write(pcm []byte) (int, error) {
	n, err := w.f.Write(pcm)
	w.n += uint32(n)
	return n, err
}

// Close patches the RIFF and data sizes and closes the file.
func (w *Writer) Close() error {
	h := Header(w.n)
	if _, err := w.f.WriteAt(h[4:8], 4); err != nil {
		w.f.Close()
		return err
	}
	if _, err := w.f.WriteAt(h[40:44], 40); err != nil {
		w.f.Close()
		return err
	}
	return w.f.Close()
}

// Abandon closes the file without patching its header, as a crashed
// recorder leaves it.
func (w *Writer) Abandon() error { return w.f.Close() }

// Duration returns the play time of pcm bytes of 8 kHz 16-bit mono audio.
func Duration(pcmBytes int) time.Duration {
	return time.Duration(pcmBytes/2) * time.Second / Rate
}
