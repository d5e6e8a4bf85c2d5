package ami

import (
	"bufio"
	"errors"
	"io"
	"log/slog"
	"net"
	"strings"
	"sync"
	"time"
)

// Input limits, as manager.c has them: a line longer than its 1024-byte
// input buffer spoils the message it is in, and a message keeps at most 128
// lines.
const (
	maxLineLen  = 1024
	maxMsgLines = 128
)

// session is one manager connection. Its reader goroutine parses actions and
// runs them; its writer goroutine alone writes to the connection, from a
// bounded queue that responses and events share, so that a slow client never
// blocks the PBX or another session.
type session struct {
	srv  *Server
	id   uint64
	conn net.Conn
	log  *slog.Logger

	out  chan []byte   // packets to write; nil asks the writer to finish
	done chan struct{} // closed by kill
	once sync.Once

	writerDone chan struct{}

	// Guarded by srv.mu: what PBXEvent reads to decide on delivery.
	authed   bool
	mask     int // manager.c send_events: the event classes wanted
	username string
	filters  Filters // the session's event filters (the Filter action)

	// Reader goroutine only.
	challenge string
	loginAt   time.Time
	write     int // manager.c writeperm: the classes of the actions allowed
}

func newSession(srv *Server, id uint64, conn net.Conn) *session {
	return &session{
		srv:        srv,
		id:         id,
		conn:       conn,
		log:        srv.log.With("session", id, "remote", conn.RemoteAddr().String()),
		out:        make(chan []byte, srv.cfg.QueueLen),
		done:       make(chan struct{}),
		writerDone: make(chan struct{}),
		mask:       -1, // manager.c starts a session with every class
	}
}

// wants reports whether event b of class goes to this session; srv.mu
// held.
func (ss *session) wants(class int, b []byte) bool {
	return ss.authed && ss.mask&class == class && ss.filters.Pass(b)
}

// enqueue queues one packet without waiting. A full queue means the client
// is too far behind: it is disconnected, as Asterisk drops a session whose
// writes time out.
func (ss *session) enqueue(b []byte) {
	select {
	case <-ss.done:
		return
	default:
	}
	select {
	case ss.out <- b:
	default:
		ss.log.Warn("ami client too far behind, disconnecting", "queued", cap(ss.out))
		ss.kill()
	}
}

// finish asks the writer to send what is queued and then close; with no
// room left to ask, the session is dropped at once.
func (ss *session) finish() {
	select {
	case ss.out <- nil:
	default:
		ss.kill()
	}
}

// kill drops the connection at once; both goroutines then end.
func (ss *session) kill() {
	ss.once.Do(func() {
		close(ss.done)
		_ = ss.conn.Close()
	})
}

func (ss *session) send(m Message) { ss.enqueue(m.Bytes()) }

func (ss *session) writeLoop() {
	defer ss.srv.wg.Done()
	defer close(ss.writerDone)
	defer ss.kill()
	w := bufio.NewWriter(ss.conn)
	for {
		var b []byte
		select {
		case <-ss.done:
			return
		case b = <-ss.out:
		}
		if b == nil {
			_ = w.Flush()
			return
		}
		if _, err := w.Write(b); err != nil {
			return
		}
		if len(ss.out) == 0 {
			if err := w.Flush(); err != nil {
				ss.log.Debug("ami write failed", "err", err)
				return
			}
		}
	}
}

func (ss *session) readLoop() {
	defer ss.srv.wg.Done()
	defer func() {
		// Let the writer send what is queued (a Goodbye, an error), then
		// drop the connection and the session.
		ss.finish()
		<-ss.writerDone
		ss.kill()
		ss.srv.remove(ss)
		ss.log.Debug("ami session ended")
	}()
	ss.log.Debug("ami session started")
	if t := ss.srv.cfg.AuthTimeout; t > 0 {
		_ = ss.conn.SetReadDeadline(time.Now().Add(t))
	}
	ss.enqueue([]byte(Banner))
	r := bufio.NewReaderSize(ss.conn, maxLineLen)
	for {
		req, problem, err := readRequest(r)
		if err != nil {
			var ne net.Error
			if errors.As(err, &ne) && ne.Timeout() {
				ss.log.Info("ami client failed to authenticate in time")
			}
			return
		}
		if problem != "" {
			ss.send(Error(req, problem))
			continue
		}
		if !ss.handle(req) {
			return
		}
	}
}

// readRequest reads lines up to a blank line, as manager.c's do_message does:
// a blank line always ends a message, even an empty one. problem is the error
// Asterisk answers instead of running the message (a line too long, too many
// lines). Lines without a colon are kept out: no header lookup could match
// them.
func readRequest(r *bufio.Reader) (req Message, problem string, err error) {
	lines, spoiled := 0, false
	for {
		line, tooLong, err := readLine(r)
		if err != nil {
			return nil, "", err
		}
		if tooLong {
			spoiled = true
			continue
		}
		if line == "" {
			switch {
			case lines > maxMsgLines:
				problem = "Too many lines in message or allocation failure"
			case spoiled:
				problem = "Failed to parse message: line too long"
			}
			return req, problem, nil
		}
		lines++
		if lines > maxMsgLines {
			continue
		}
		k, v, ok := strings.Cut(line, ":")
		if !ok {
			continue
		}
		req = append(req, Field{Key: k, Value: strings.TrimLeft(v, " \t")})
	}
}

// readLine reads one line ending in LF or CRLF. A line longer than the
// reader's buffer is read to its end and reported tooLong.
func readLine(r *bufio.Reader) (line string, tooLong bool, err error) {
	b, err := r.ReadSlice('\n')
	if errors.Is(err, bufio.ErrBufferFull) {
		for errors.Is(err, bufio.ErrBufferFull) {
			_, err = r.ReadSlice('\n')
		}
		if err != nil {
			return "", false, err
		}
		return "", true, nil
	}
	if err != nil {
		if errors.Is(err, io.EOF) && len(b) > 0 {
			err = io.ErrUnexpectedEOF
		}
		return "", false, err
	}
	b = b[:len(b)-1]
	if n := len(b); n > 0 && b[n-1] == '\r' {
		b = b[:n-1]
	}
	return string(b), false, nil
}

// header is manager.c's astman_get_header: the first header named key
// (case-insensitive; readRequest keeps the key as sent, so "Action :" is not
// Action), its value without leading blanks.
func header(m Message, key string) string { return m.Get(key) }

// actionName is the first non-empty Action header (GET_HEADER_SKIP_EMPTY).
func actionName(m Message) string {
	for _, f := range m {
		if strings.EqualFold(f.Key, "Action") && f.Value != "" {
			return f.Value
		}
	}
	return ""
}
