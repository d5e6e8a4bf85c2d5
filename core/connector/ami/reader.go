package ami

import (
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"io"
	"slices"
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
//
// A packet's bytes are gathered in one buffer and become one string, which
// every key and value of the packet slices: a busy PBX sends tens of
// thousands of fields a second, and one allocation a packet instead of two
// a field is most of what reading them costs.
type packetReader struct {
	br    *bufio.Reader
	buf   []byte // the packet so far: its fields' bytes, back to back (reused)
	spans []span // where each field's key and value are in buf (reused)
	// keep, when set, decides from a packet's raw fields whether it is
	// worth a Message: most of what a PBX sends is dialplan detail
	// nobody needs, and skipping it before it becomes strings is the
	// cheapest way through it.
	keep func(p rawPacket) bool
	// fields backs the Message readShared returns (reused): the field
	// list of a packet is about twice its bytes, and most packets are
	// translated and dropped before the next one is read.
	fields Message
}

// rawPacket is a packet's fields before they become a Message.
type rawPacket struct {
	buf   []byte
	spans []span
}

// get returns the value of the first field named key (exact case, as
// the PBX writes its own keys), nil when there is none.
func (p rawPacket) get(key string) []byte {
	for _, sp := range p.spans {
		if string(p.buf[sp.ks:sp.ke]) == key {
			return p.buf[sp.vs:sp.ve]
		}
	}
	return nil
}

// span locates one field in packetReader.buf.
type span struct{ ks, ke, vs, ve int }

func newPacketReader(r io.Reader) *packetReader {
	return &packetReader{br: bufio.NewReaderSize(r, readBufferBytes)}
}

// readLineBytes returns the next line without its "\n" and one "\r" before
// it. The bytes are valid until the next read. At a clean end of input it
// returns io.EOF; input ending inside a line gives io.ErrUnexpectedEOF. A
// line longer than limit gives ErrTooLarge.
func (r *packetReader) readLineBytes(limit int) ([]byte, error) {
	var long []byte
	for {
		chunk, err := r.br.ReadSlice('\n')
		if len(long)+len(chunk) > limit+2 { // +2: the line end itself
			return nil, fmt.Errorf("read line: %w: longer than %d bytes", ErrTooLarge, limit)
		}
		switch {
		case err == nil:
			line := chunk
			if long != nil {
				line = append(long, chunk...)
			}
			line = line[:len(line)-1]
			return trimCR(line), nil
		case errors.Is(err, bufio.ErrBufferFull):
			long = append(long, chunk...)
		case errors.Is(err, io.EOF):
			if len(long)+len(chunk) == 0 {
				return nil, io.EOF
			}
			return nil, io.ErrUnexpectedEOF
		default:
			return nil, err
		}
	}
}

// readLine is readLineBytes as a string of its own.
func (r *packetReader) readLine(limit int) (string, error) {
	b, err := r.readLineBytes(limit)
	return string(b), err
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

// trimCR drops one "\r" ending line. It runs for every line a PBX sends,
// where bytes.TrimSuffix's general comparison shows in profiles.
func trimCR(line []byte) []byte {
	if n := len(line); n > 0 && line[n-1] == '\r' {
		return line[:n-1]
	}
	return line
}

// blank reports whether line ends a packet. Whitespace-only lines count, as
// no field can produce one.
func blank(line []byte) bool {
	return len(line) == 0 || (isSpace(line[0]) && len(bytes.TrimSpace(line)) == 0)
}

// splitField finds the key and value of "Key: Value" in line, as offsets.
// One space after the colon belongs to the separator; further spaces are
// part of the value (CLI output is indented).
func splitField(line []byte) (ks, ke, vs int, ok bool) {
	colon := bytes.IndexByte(line, ':')
	if colon < 0 {
		return 0, 0, 0, false
	}
	ks, ke = 0, colon
	for ks < ke && isSpace(line[ks]) {
		ks++
	}
	for ke > ks && isSpace(line[ke-1]) {
		ke--
	}
	if ks == ke {
		return 0, 0, 0, false
	}
	vs = colon + 1
	if vs < len(line) && line[vs] == ' ' {
		vs++
	}
	return ks, ke, vs, true
}

func isSpace(c byte) bool {
	return c == ' ' || c == '\t' || c == '\v' || c == '\f' || c == '\r' || c == '\n'
}

// add appends a field to the packet being read.
func (r *packetReader) add(key, value []byte) {
	base := len(r.buf)
	r.buf = append(r.buf, key...)
	r.buf = append(r.buf, value...)
	r.spans = append(r.spans, span{base, base + len(key), base + len(key), base + len(key) + len(value)})
}

// packet turns what was gathered into a Message: one string for the
// packet, every field a slice of it. A shared Message's list is r.fields,
// valid until the next read; its strings are the caller's.
func (r *packetReader) packet(shared bool) Message {
	m := r.fieldsOf(string(r.buf), shared)
	r.buf, r.spans = r.buf[:0], r.spans[:0]
	return m
}

// fieldsOf makes the fields r.spans locate in text (shared: in r.fields).
func (r *packetReader) fieldsOf(text string, shared bool) Message {
	var m Message
	if shared {
		m = slices.Grow(r.fields[:0], len(r.spans))[:len(r.spans)]
		r.fields = m
	} else {
		m = make(Message, len(r.spans))
	}
	for i, sp := range r.spans {
		m[i] = Field{Key: text[sp.ks:sp.ke], Value: text[sp.vs:sp.ve]}
	}
	return m
}

// ReadPacket returns the next packet, skipping blank lines before it.
//
// Errors: io.EOF at a clean end between packets; io.ErrUnexpectedEOF when
// input ends inside a packet; *MalformedError (ErrMalformed) for a line that
// is not "Key: Value" — the rest of that packet has then been consumed, so the
// caller may skip it and read on; ErrTooLarge, after which the stream cannot
// be trusted. Other errors come from the underlying reader.
func (r *packetReader) ReadPacket() (Message, error) { return r.read(false) }

// readShared is ReadPacket, but the Message's field list is only valid
// until the next read (its keys and values stay valid): for a caller that
// keeps strings of a packet, not the packet.
func (r *packetReader) readShared() (Message, error) { return r.read(true) }

func (r *packetReader) read(shared bool) (Message, error) {
	for {
		m, ok := r.readBuffered(shared)
		if m != nil {
			return m, nil
		}
		if !ok {
			break
		}
	}
	return r.readLines(shared)
}

// readBuffered is the common case of read: a whole ordinary packet is
// already in the reader's buffer. It is framed where it lies and becomes
// one string without being gathered line by line first (the lines of a
// busy PBX's stream are most of what the connector reads). It returns the
// packet; or nil and true when it dropped one (keep) and may be called
// again; or nil and false, having consumed nothing but blank lines, when
// readLines must read: the packet is not all there, or it is not ordinary
// (a malformed line, legacy "Response: Follows" output).
func (r *packetReader) readBuffered(shared bool) (Message, bool) {
	buf, _ := r.br.Peek(r.br.Buffered())
	r.spans = r.spans[:0]
	start, end := 0, -1 // the packet's first byte; the end of its last field line
	for i := 0; i < len(buf); {
		nl := bytes.IndexByte(buf[i:], '\n')
		if nl < 0 {
			break
		}
		line := trimCR(buf[i : i+nl])
		at := i
		i += nl + 1
		if blank(line) {
			if len(r.spans) == 0 {
				start = i // blank lines between packets
				continue
			}
			end = i
			break
		}
		ks, ke, vs, ok := splitField(line)
		if !ok {
			break
		}
		if len(r.spans) == 0 && bytes.EqualFold(line[ks:ke], []byte("Response")) && bytes.EqualFold(line[vs:], []byte("Follows")) {
			break
		}
		r.spans = append(r.spans, span{at - start + ks, at - start + ke, at - start + vs, at - start + len(line)})
	}
	if end < 0 {
		_, _ = r.br.Discard(start)
		r.spans = r.spans[:0]
		return nil, false
	}
	pkt := buf[start:end]
	if r.keep != nil && !r.keep(rawPacket{pkt, r.spans}) {
		_, _ = r.br.Discard(end)
		r.spans = r.spans[:0]
		return nil, true
	}
	m := r.fieldsOf(string(pkt[:r.spans[len(r.spans)-1].ve]), shared)
	_, _ = r.br.Discard(end)
	r.spans = r.spans[:0]
	return m, false
}

// readLines reads a packet line by line, whatever it holds and however it
// arrives.
func (r *packetReader) readLines(shared bool) (Message, error) {
	var (
		size      int
		malformed *MalformedError
		follows   bool // inside legacy "Response: Follows" raw output
		output    bool // an output line has been seen (no more headers)
	)
	r.buf, r.spans = r.buf[:0], r.spans[:0]
	outputKey := []byte("Output")
	for {
		line, err := r.readLineBytes(maxLineBytes)
		if err != nil {
			if errors.Is(err, io.EOF) && (len(r.spans) > 0 || malformed != nil) {
				err = io.ErrUnexpectedEOF
			}
			return nil, err
		}
		size += len(line) + 2
		if size > maxPacketBytes {
			return nil, fmt.Errorf("read packet: %w: more than %d bytes", ErrTooLarge, maxPacketBytes)
		}
		if follows {
			out, done := bytes.CutSuffix(line, []byte(endCommand))
			if done {
				if len(out) > 0 {
					r.add(outputKey, out)
				}
				follows = false
				continue
			}
			if ks, ke, vs, ok := splitField(line); ok && !output && isFollowsHeader(string(line[ks:ke])) {
				r.add(line[ks:ke], line[vs:])
				continue
			}
			output = true
			r.add(outputKey, line)
			continue
		}
		if blank(line) {
			if malformed != nil {
				return nil, malformed
			}
			if len(r.spans) == 0 {
				continue // blank lines between packets
			}
			if r.keep != nil && !r.keep(rawPacket{r.buf, r.spans}) {
				r.buf, r.spans, size = r.buf[:0], r.spans[:0], 0
				continue
			}
			return r.packet(shared), nil
		}
		if malformed != nil {
			continue // skipping the rest of a bad packet
		}
		ks, ke, vs, ok := splitField(line)
		if !ok {
			malformed = &MalformedError{Line: string(line)}
			r.buf, r.spans = r.buf[:0], r.spans[:0]
			continue
		}
		if len(r.spans) == 0 && bytes.EqualFold(line[ks:ke], []byte("Response")) && bytes.EqualFold(line[vs:], []byte("Follows")) {
			follows = true
		}
		r.add(line[ks:ke], line[vs:])
	}
}

// isFollowsHeader reports whether key is one of the header fields Asterisk
// writes before the raw output of a "Response: Follows" packet.
func isFollowsHeader(key string) bool {
	return strings.EqualFold(key, "ActionID") || strings.EqualFold(key, "Privilege") ||
		strings.EqualFold(key, "Message")
}
