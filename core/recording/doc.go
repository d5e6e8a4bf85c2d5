// Package recording turns a call's recordings into the webhooks the 3CX
// "webhooks" module sends after a conversation: it waits until each WAV
// file the PBX wrote is complete, converts it to MP3 with the lame encoder,
// stores it under the call id (210701165649_698-1-1.mp3: call
// 210701165649_698-1, file 1), and produces one recording event per call
// id listing every file of that conversation in order, with signed
// download links. When speech analytics are on, an analytics event
// (transcript and short summary) follows each recording event.
//
// The engine drives a Manager: FileStarted when the connector sees a
// recording begin (Asterisk's MixMonitor), FileStopped when it ends,
// CallEnded with the call-end fields of each call id, and ChainEnded once
// the external party has hung up. The Manager hands events to a Sink in
// the order they must be delivered. Retention deletes expired MP3 files
// nightly; package download serves the files over HTTPS.
package recording
