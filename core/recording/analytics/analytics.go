// Package analytics produces the speech analytics the 3CX module sends a
// few seconds after a recording: the conversation's full text and a short
// summary. A Provider turns one WAV file into a Transcript; Summarize
// picks the transcript's most representative sentences.
package analytics

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"time"
)

// Errors of the providers.
var (
	// ErrRecognition: the recognition service refused the audio or the
	// operation ended with an error; the message carries its answer.
	ErrRecognition = errors.New("speech recognition failed")
)

// Provider recognises the speech in one WAV file (8 kHz 16-bit mono PCM
// as the PBX records it). Implementations must honour ctx.
type Provider interface {
	Transcribe(ctx context.Context, wavPath string) (Transcript, error)
}

// ProviderFunc adapts a function to Provider.
type ProviderFunc func(ctx context.Context, wavPath string) (Transcript, error)

// Transcribe calls f.
func (f ProviderFunc) Transcribe(ctx context.Context, wavPath string) (Transcript, error) {
	return f(ctx, wavPath)
}

// Segment is one utterance (or, for the local provider, one stretch of
// speech without words).
type Segment struct {
	Start, End time.Duration
	Channel    string
	Text       string
}

// Transcript is a provider's result for one file.
type Transcript struct {
	Segments []Segment
	// Length of the audio analysed.
	Length time.Duration
}

// Text joins the segments' words, one utterance per line.
func (t Transcript) Text() string {
	var lines []string
	for _, s := range t.Segments {
		if s := strings.TrimSpace(s.Text); s != "" {
			lines = append(lines, s)
		}
	}
	return strings.Join(lines, "\n")
}

// Speech is the total length of the segments.
func (t Transcript) Speech() time.Duration {
	var d time.Duration
	for _, s := range t.Segments {
		d += s.End - s.Start
	}
	return d
}

// Join appends other, shifting its times after t's length, for a
// conversation recorded in several files.
func (t Transcript) Join(other Transcript) Transcript {
	out := Transcript{Segments: append([]Segment(nil), t.Segments...), Length: t.Length + other.Length}
	for _, s := range other.Segments {
		s.Start += t.Length
		s.End += t.Length
		out.Segments = append(out.Segments, s)
	}
	return out
}

// Describe is the summary of a transcript without words (the local
// provider's): how much of the audio was speech, in how many stretches.
func Describe(t Transcript) string {
	if len(t.Segments) == 0 {
		return fmt.Sprintf("no speech detected in %.1f s of audio", t.Length.Seconds())
	}
	return fmt.Sprintf("no transcript; speech in %d segment(s), %.1f s of %.1f s", len(t.Segments), t.Speech().Seconds(), t.Length.Seconds())
}
