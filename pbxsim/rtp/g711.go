package rtp

import "math"

// PCMU (G.711 µ-law) is the one codec pbxsim's phones and media relay speak:
// payload type 0, 8000 samples per second, 20 ms frames of 160 bytes.
const (
	PayloadTypePCMU = 0
	ClockRate       = 8000
	FrameSamples    = 160
	silenceULaw     = 0xFF
)

// ULaw encodes one 16-bit linear sample as a G.711 µ-law byte.
func ULaw(sample int16) byte {
	const bias = 0x84
	const clip = 32635
	s := int(sample)
	sign := 0
	if s < 0 {
		s = -s
		sign = 0x80
	}
	if s > clip {
		s = clip
	}
	s += bias
	exp := 7
	for mask := 0x4000; s&mask == 0 && exp > 0; mask >>= 1 {
		exp--
	}
	mantissa := (s >> (exp + 3)) & 0x0F
	return ^byte(sign | exp<<4 | mantissa)
}

// LinearFromULaw decodes one G.711 µ-law byte to a 16-bit linear sample.
func LinearFromULaw(u byte) int16 {
	u = ^u
	sign := u & 0x80
	exp := int(u>>4) & 0x07
	mantissa := int(u & 0x0F)
	s := ((mantissa << 3) + 0x84) << exp
	s -= 0x84
	if sign != 0 {
		return int16(-s)
	}
	return int16(s)
}

// Source fills 20 ms PCMU frames. Implementations need not be safe for
// concurrent use: each sender owns its source.
type Source interface {
	// Frame fills buf (FrameSamples bytes) with the next frame.
	Frame(buf []byte)
}

// Silence is a Source of µ-law silence.
type Silence struct{}

// Frame fills buf with silence.
func (Silence) Frame(buf []byte) {
	for i := range buf {
		buf[i] = silenceULaw
	}
}

// Tone is a Source of a sine tone, continuous across frames.
type Tone struct {
	Hz        float64
	Amplitude float64 // 0..1 of full scale; 0 means 0.3
	n         int
}

// NewTone returns a tone source of hz hertz (400 Hz is the usual test tone).
func NewTone(hz float64) *Tone { return &Tone{Hz: hz} }

// Frame fills buf with the next samples of the tone.
func (t *Tone) Frame(buf []byte) {
	amp := t.Amplitude
	if amp == 0 {
		amp = 0.3
	}
	for i := range buf {
		v := amp * 32767 * math.Sin(2*math.Pi*t.Hz*float64(t.n)/ClockRate)
		buf[i] = ULaw(int16(v))
		t.n++
	}
}

// DTMF events of RFC 4733 section 3.2: 0-9, *, #, A-D are events 0-15.
const dtmfDigits = "0123456789*#ABCD"

// EventDigit is the digit of telephone-event ev, ok false for others.
func EventDigit(ev byte) (string, bool) {
	if int(ev) >= len(dtmfDigits) {
		return "", false
	}
	return dtmfDigits[ev : ev+1], true
}

// DigitEvent is the telephone-event number of digit, ok false for a
// character that is not a DTMF digit.
func DigitEvent(digit byte) (byte, bool) {
	for i := range len(dtmfDigits) {
		if dtmfDigits[i] == digit {
			return byte(i), true
		}
	}
	return 0, false
}
