package recording

import (
	"fmt"
	"time"
)

// Kind tells a recording event from an analytics event.
type Kind int

// Kinds of events the Manager produces, in the order they are sent for
// one call id.
const (
	// KindRecording: {"FILES":[links…]} for one call id.
	KindRecording Kind = iota + 1
	// KindAnalytics: transcript and summary for one call id; always after
	// that call id's recording event.
	KindAnalytics
)

func (k Kind) String() string {
	switch k {
	case KindRecording:
		return "recording"
	case KindAnalytics:
		return "analytics"
	}
	return fmt.Sprintf("Kind(%d)", int(k))
}

// File is one stored MP3 file of a conversation.
type File struct {
	Name     string        // e.g. 210701165649_698-1-1.mp3
	URL      string        // signed download link
	Source   string        // the WAV file it was made from
	Duration time.Duration // of the MP3, from its frames
}

// Event is what the Manager reports of one call id: its recordings
// stored, or their speech analytics done. The engine turns it into a
// call event its receivers' dialects render.
type Event struct {
	Kind       Kind
	Chain      string // the call chain, as given to FileStarted
	CallID     string // the call id the files were started under, e.g. 210701165649_698-1
	Files      []File // KindRecording: in recording order
	Transcript string // KindAnalytics
	Summary    string // KindAnalytics
}
