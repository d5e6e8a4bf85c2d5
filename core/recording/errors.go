package recording

import "errors"

// Errors of this package; each is wrapped with the file or call it concerns.
var (
	// ErrIncomplete: a WAV file did not become complete (RIFF and data
	// sizes matching the file, size stable) before the wait timed out.
	// The 3CX document says recordings appear "from a few milliseconds to
	// 1-2 seconds" after hangup; a file still open long after that is
	// taken as lost.
	ErrIncomplete = errors.New("recording incomplete")
	// ErrNotWAV: the file is not a RIFF/WAVE file with fmt and data chunks.
	ErrNotWAV = errors.New("not a WAV file")
	// ErrEncode: the MP3 encoder failed; the error carries its stderr.
	ErrEncode = errors.New("encode mp3")
	// ErrNoEncoder: the lame binary is not installed (Debian package lame).
	ErrNoEncoder = errors.New("lame not installed")
	// ErrNotMP3: no MPEG audio frame was found where one should be.
	ErrNotMP3 = errors.New("not an MP3 file")
)
