package ami

import (
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"io"
	"strings"
)

// Framing limits. AMI has no length prefix, so a peer that never sends a
// line break must not make the reader buffer without bound. A line or packet
// beyond the limits cannot be resynchronised reliably and ends the session.
const (
	maxLineBytes    = 1 << 20 // one line; large ChanVariable/UserEvent values fit
	maxPacketBytes  = 4 << 20 // all lines of one packet
	maxBannerBytes  = 256     // "Asterisk Call Manager/x.y.z"
	readBufferBytes = 64 << 10
)

// bannerPrefix starts the line an AMI server sends on connect, e.g.
// "Asterisk Call Manager/11.0.0" (the version is the AMI protocol's, not
// Asterisk's).
const bannerPrefix = "Asterisk Call Manager"

// endCommand ends the raw output of a legacy "Response: Follows" packet
// (Command action before Asterisk 14).
const endCommand = "--END COMMAND--"

// MalformedError reports a line that is not "Key: Value". The reader has
// already skipped the rest of the packet the line was in, so reading can go on
// with the next packet.
type MalformedError struct {
	Line string // the offending line, without its line break
}

func (e *MalformedError) Error() string {
	line := e.Line
	if len(line) > 200 {
		line = line[:200] + "..."
	}
	return fmt.Sprintf("ami: malformed line %q: want \"Key: Value\"", line)
}

// Unwrap makes errors.Is(err, ErrMalformed) hold.
func (e *MalformedError) Unwrap() error { return ErrMalformed }

// packetReader splits an AMI byte stream into packets. It accepts CRLF and
// bare LF line ends, any split of the stream into reads, repeated keys, empty
// values, values containing ": ", and the legacy "Response: Follows" packet
// whose raw output lines become Output fields (the form Asterisk 14+ uses).
type packetReader struct {
	br *bufio.Reader
}

func newPacketReader(r io.Reader) *packetReader {
	return &packetReader{br: bufio.NewReaderSize(r, readBufferBytes)}
}

// readLine returns the next line without its "\n" and one "\r" before it.
// At a clean end of input it returns io.EOF; input ending inside a line gives
// io.ErrUnexpectedEOF. A line longer than limit gives ErrTooLarge.
func (r *packetReader) readLine(limit int) (string, error) {
	var long []byte
	for {
		chunk, err := r.br.ReadSlice('\n')
		if len(long)+len(chunk) > limit+2 { // +2: the line end itself
			return "", fmt.Errorf("read line: %w: longer than %d bytes", ErrTooLarge, limit)
		}
		switch {
		case err == nil:
			var line []byte
			if long == nil {
				line = chunk
			} else {
				line = append(long, chunk...)
			}
			line = line[:len(line)-1]
			line = bytes.TrimSuffix(line, []byte{'\r'})
			return string(line), nil
		case errors.Is(err, bufio.ErrBufferFull):
			long = append(long, chunk...)
		case errors.Is(err, io.EOF):
			if len(long)+len(chunk) == 0 {
				return "", io.EOF
			}
			return "", io.ErrUnexpectedEOF
		default:
			return "", err
		}
	}
}

// readBanner reads the greeting line and returns the protocol version after
// the slash. A line that is not an AMI greeting gives ErrNotAMI.
func (r *packetReader) readBanner() (string, error) {
	line, err := r.readLine(maxBannerBytes)
	if errors.Is(err, ErrTooLarge) {
		return "", fmt.Errorf("read banner: %w: no line break in the first %d bytes", ErrNotAMI, maxBannerBytes)
	}
	if err != nil {
		return "", fmt.Errorf("read banner: %w", err)
	}
	if !strings.HasPrefix(line, bannerPrefix) {
		return "", fmt.Errorf("read banner %q: %w", line, ErrNotAMI)
	}
	_, version, _ := strings.Cut(line, "/")
	return strings.TrimSpace(version), nil
}

// blank reports whether line ends a packet. Whitespace-only lines count, as
// no field can produce one.
func blank(line string) bool { return strings.TrimSpace(line) == "" }

// splitField splits "Key: Value". One space after the colon belongs to the
// separator; further spaces are part of the value (CLI output is indented).
func splitField(line string) (Field, bool) {
	key, value, ok := strings.Cut(line, ":")
	key = strings.TrimSpace(key)
	if !ok || key == "" {
		return Field{}, false
	}
	return Field{Key: key, Value: strings.TrimPrefix(value, " ")}, true
}

// ReadPacket returns the next packet, skipping blank lines before it.
//
// Errors: io.EOF at a clean end between packets; io.ErrUnexpectedEOF when
// input ends inside a packet; *MalformedError (ErrMalformed) for a line that
// is not "Key: Value" — the rest of that packet has then been consumed, so the
// caller may skip it and read on; ErrTooLarge, after which the stream cannot
// be trusted. Other errors come from the underlying reader.
func (r *packetReader) ReadPacket() (Message, error) {
	var (
		m         Message
		size      int
		malformed *MalformedError
		follows   bool // inside legacy "Response: Follows" raw output
		output    bool // an output line has been seen (no more headers)
	)
	for {
		line, err := r.readLine(maxLineBytes)
		if err != nil {
			if errors.Is(err, io.EOF) && (len(m) > 0 || malformed != nil) {
				err = io.ErrUnexpectedEOF
			}
			return nil, err
		}
		size += len(line) + 2
		if size > maxPacketBytes {
			return nil, fmt.Errorf("read packet: %w: more than %d bytes", ErrTooLarge, maxPacketBytes)
		}
		if follows {
			out, done := strings.CutSuffix(line, endCommand)
			if done {
				if out != "" {
					m = append(m, Field{Key: "Output", Value: out})
				}
				follows = false
				continue
			}
			if f, ok := splitField(line); ok && !output && isFollowsHeader(f.Key) {
				m = append(m, f)
				continue
			}
			output = true
			m = append(m, Field{Key: "Output", Value: line})
			continue
		}
		if blank(line) {
			if malformed != nil {
				return nil, malformed
			}
			if len(m) == 0 {
				continue // blank lines between packets
			}
			return m, nil
		}
		if malformed != nil {
			continue // skipping the rest of a bad packet
		}
		f, ok := splitField(line)
		if !ok {
			malformed = &MalformedError{Line: line}
			m = nil
			continue
		}
		if len(m) == 0 && strings.EqualFold(f.Key, "Response") && strings.EqualFold(f.Value, "Follows") {
			follows = true
		}
		m = append(m, f)
	}
}

// isFollowsHeader reports whether key is one of the header fields Asterisk
// writes before the raw output of a "Response: Follows" packet.
func isFollowsHeader(key string) bool {
	return strings.EqualFold(key, "ActionID") || strings.EqualFold(key, "Privilege") ||
		strings.EqualFold(key, "Message")
}
