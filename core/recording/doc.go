// Package recording turns a call's recordings into what receivers are
// told after a conversation (the 3CX "webhooks" module's recording POST):
// it waits until each WAV file the PBX wrote is complete, converts it to
// MP3 with the lame encoder, stores it under the call id
// (210701165649_698-1-1.mp3: call 210701165649_698-1, file 1), and
// produces one recording event per call id listing every file of that
// conversation in order, with signed download links. When speech
// analytics are on, an analytics event (transcript and short summary)
// follows each recording event.
//
// A stage of the engine's pipeline drives a Manager: FileStarted when the
// connector reports a recording begin, FileStopped when it ends, and
// ChainEnded once every leg of the call is gone. The Manager hands events
// to a Sink in the order they must be delivered; the stage turns them
// into call events the receivers' dialects render. Retention deletes
// expired MP3 files nightly; package download serves the files over HTTPS.
package recording
