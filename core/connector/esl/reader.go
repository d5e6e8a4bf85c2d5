package esl

import (
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"io"
	"strconv"
	"strings"
)

// Framing limits. mod_event_socket frames every packet as header lines
// ended by a blank line, then Content-Length bytes of body
// (mod_event_socket.c, read_packet and the event loop's
// "Content-Length: %d\nContent-Type: text/event-%s\n\n"). It rejects
// bodies over 16 MiB itself (MAX_CONTENT_LENGTH); the reader holds the
// PBX to the same bound, and to a bound on the header block, since a
// peer that never sends a blank line must not make it buffer forever.
const (
	maxLineBytes    = 64 << 10
	maxHeaderLines  = 256
	maxBodyBytes    = 16 << 20
	readBufferBytes = 64 << 10
)

// Header is one "Name: Value" line of a frame or an event.
type Header struct {
	Name, Value string
}

// Frame is one packet of the socket: its outer headers (Content-Type,
// Content-Length, Reply-Text, Job-UUID, ...) and its body.
type Frame struct {
	Headers []Header
	Body    []byte
}

// Get returns the first header named name (case-insensitively), "" when
// absent.
func (f Frame) Get(name string) string {
	for _, h := range f.Headers {
		if strings.EqualFold(h.Name, name) {
			return h.Value
		}
	}
	return ""
}

// ContentType is the frame's Content-Type.
func (f Frame) ContentType() string { return strings.TrimSpace(f.Get("Content-Type")) }

// MalformedError reports a header line that is not "Name: Value". The
// frame it was in is lost with it: without its Content-Length the reader
// cannot find where the frame ends, so the session ends (ErrMalformed).
type MalformedError struct {
	Line string
}

func (e *MalformedError) Error() string {
	line := e.Line
	if len(line) > 200 {
		line = line[:200] + "..."
	}
	return fmt.Sprintf("esl: malformed header line %q: want \"Name: Value\"", line)
}

// Unwrap makes errors.Is(err, ErrMalformed) hold.
func (e *MalformedError) Unwrap() error { return ErrMalformed }

// frameReader splits the socket's byte stream into frames. Lines may end
// in LF (as FreeSWITCH writes them) or CRLF, and frames may be split
// across reads in any way.
type frameReader struct {
	br *bufio.Reader
}

func newFrameReader(r io.Reader) *frameReader {
	return &frameReader{br: bufio.NewReaderSize(r, readBufferBytes)}
}

// readLine returns the next line without "\n" and one "\r" before it. At
// a clean end of input it returns io.EOF; inside a line,
// io.ErrUnexpectedEOF; past maxLineBytes, ErrTooLarge.
func (r *frameReader) readLine() (string, error) {
	var long []byte
	for {
		chunk, err := r.br.ReadSlice('\n')
		if len(long)+len(chunk) > maxLineBytes+2 {
			return "", fmt.Errorf("read header line: %w: longer than %d bytes", ErrTooLarge, maxLineBytes)
		}
		switch {
		case err == nil:
			line := chunk
			if long != nil {
				line = append(long, chunk...)
			}
			line = bytes.TrimSuffix(line[:len(line)-1], []byte{'\r'})
			return string(line), nil
		case errors.Is(err, bufio.ErrBufferFull):
			long = append(long, chunk...)
		case errors.Is(err, io.EOF):
			if len(long)+len(chunk) == 0 {
				return "", io.EOF
			}
			return "", fmt.Errorf("read header line: %w", io.ErrUnexpectedEOF)
		default:
			return "", fmt.Errorf("read header line: %w", err)
		}
	}
}

// ReadFrame reads one frame. Blank lines between frames are skipped. A
// clean end of input before a frame gives io.EOF; an end inside one,
// io.ErrUnexpectedEOF.
func (r *frameReader) ReadFrame() (Frame, error) {
	var f Frame
	for {
		line, err := r.readLine()
		if err != nil {
			if errors.Is(err, io.EOF) && len(f.Headers) > 0 {
				return Frame{}, fmt.Errorf("read frame: %w", io.ErrUnexpectedEOF)
			}
			return Frame{}, err
		}
		if line == "" {
			if len(f.Headers) == 0 {
				continue
			}
			break
		}
		if len(f.Headers) >= maxHeaderLines {
			return Frame{}, fmt.Errorf("read frame: %w: more than %d header lines", ErrTooLarge, maxHeaderLines)
		}
		name, value, ok := strings.Cut(line, ":")
		if !ok || strings.TrimSpace(name) == "" {
			return Frame{}, &MalformedError{Line: line}
		}
		f.Headers = append(f.Headers, Header{Name: strings.TrimSpace(name), Value: strings.TrimLeft(value, " ")})
	}
	cl := f.Get("Content-Length")
	if cl == "" {
		return f, nil
	}
	n, err := strconv.Atoi(strings.TrimSpace(cl))
	if err != nil || n < 0 {
		return Frame{}, fmt.Errorf("read frame: %w: Content-Length %q is not a byte count", ErrMalformed, cl)
	}
	if n > maxBodyBytes {
		return Frame{}, fmt.Errorf("read frame: %w: Content-Length %d is over %d", ErrTooLarge, n, maxBodyBytes)
	}
	f.Body = make([]byte, n)
	if _, err := io.ReadFull(r.br, f.Body); err != nil {
		if errors.Is(err, io.EOF) {
			err = io.ErrUnexpectedEOF
		}
		return Frame{}, fmt.Errorf("read %d-byte body of %s frame: %w", n, f.ContentType(), err)
	}
	return f, nil
}
