package esl

import (
	"bufio"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"strconv"
	"strings"
	"sync"

	"github.com/google/uuid"
)

// Input limits: mod_event_socket grows its command buffer without bound
// and caps bodies at MAX_CONTENT_LENGTH (16 MiB); the simulator keeps
// commands far smaller.
const (
	maxCommandBytes = 1 << 20
	maxBodyBytes    = 16 << 20
)

// session is one inbound event socket connection: its reader goroutine
// parses and runs commands, its writer goroutine alone writes, from a
// bounded queue that replies and events share, so a slow client never
// blocks the PBX.
type session struct {
	srv  *Server
	id   uint64
	conn net.Conn
	log  *slog.Logger

	out        chan []byte // frames to write; nil asks the writer to finish
	done       chan struct{}
	once       sync.Once
	writerDone chan struct{}

	// Guarded by srv.mu: what fireLocked reads.
	authed  bool
	events  bool            // LFLAG_EVENTS: the client asked for events
	all     bool            // "event ... ALL"
	names   map[string]bool // event names subscribed
	customs map[string]bool // CUSTOM subclasses subscribed
	format  string          // "plain" or "json"
	filters []Header        // "filter Name Value"
}

func newSession(srv *Server, id uint64, conn net.Conn) *session {
	return &session{
		srv: srv, id: id, conn: conn,
		log:        srv.log.With("session", id, "remote", conn.RemoteAddr().String()),
		out:        make(chan []byte, srv.cfg.QueueLen),
		done:       make(chan struct{}),
		writerDone: make(chan struct{}),
		names:      map[string]bool{},
		customs:    map[string]bool{},
		format:     "plain",
	}
}

// wants says whether e goes to this session; srv.mu held. As
// mod_event_socket's event_handler: the event's type (or, for CUSTOM, its
// subclass) must be subscribed, and with filters set, some filter must
// match one of its headers.
func (ss *session) wants(e *Event) bool {
	if !ss.authed || !ss.events {
		return false
	}
	name := e.Get("Event-Name")
	ok := ss.all || ss.names[name]
	if name == "CUSTOM" {
		ok = ss.all || ss.customs[e.Get("Event-Subclass")]
	}
	if !ok {
		return false
	}
	if len(ss.filters) == 0 {
		return true
	}
	for _, f := range ss.filters {
		if strings.EqualFold(e.Get(f.Name), f.Value) {
			return true
		}
	}
	return false
}

// enqueue queues a frame without waiting; a client too far behind is
// dropped (mod_event_socket kills a listener that lost too many events).
func (ss *session) enqueue(b []byte) {
	select {
	case <-ss.done:
		return
	default:
	}
	select {
	case ss.out <- b:
	default:
		ss.log.Warn("esl client too far behind, disconnecting", "queued", cap(ss.out))
		ss.kill()
	}
}

// finish asks the writer to send what is queued and then close.
func (ss *session) finish() {
	select {
	case ss.out <- nil:
	default:
		ss.kill()
	}
}

// kill drops the connection at once.
func (ss *session) kill() {
	ss.once.Do(func() {
		close(ss.done)
		_ = ss.conn.Close()
	})
}

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
				return
			}
		}
	}
}

// command is one parsed command: its first line, its headers and body.
type command struct {
	line    string
	headers []Header
	body    string
}

func (c command) get(name string) string {
	for _, h := range c.headers {
		if strings.EqualFold(h.Name, name) {
			return h.Value
		}
	}
	return ""
}

// readCommand reads up to two consecutive line ends (a '\r' does not
// count), skipping line ends before the command, as read_packet does.
func readCommand(r *bufio.Reader) (command, error) {
	var c command
	size := 0
	for {
		line, err := r.ReadString('\n')
		size += len(line)
		if size > maxCommandBytes {
			return command{}, fmt.Errorf("read command: longer than %d bytes", maxCommandBytes)
		}
		if err != nil {
			if errors.Is(err, io.EOF) && line == "" && c.line == "" {
				return command{}, io.EOF
			}
			return command{}, fmt.Errorf("read command: %w", err)
		}
		line = strings.TrimRight(line, "\r\n")
		if line == "" {
			if c.line == "" {
				continue
			}
			break
		}
		if c.line == "" {
			c.line = line
			continue
		}
		name, value, ok := strings.Cut(line, ":")
		if !ok {
			continue // read_packet drops a header line without a colon
		}
		c.headers = append(c.headers, Header{strings.TrimSpace(name), strings.TrimLeft(value, " ")})
	}
	if cl := c.get("Content-Length"); cl != "" {
		n, err := strconv.Atoi(strings.TrimSpace(cl))
		if err != nil || n < 0 || n > maxBodyBytes {
			return command{}, fmt.Errorf("read command %q: Content-Length %q out of range", c.line, cl)
		}
		body := make([]byte, n)
		if _, err := io.ReadFull(r, body); err != nil {
			return command{}, fmt.Errorf("read command %q body: %w", c.line, err)
		}
		c.body = string(body)
	}
	return c, nil
}

func (ss *session) readLoop() {
	defer ss.srv.wg.Done()
	defer ss.srv.remove(ss)
	defer func() {
		// The writer sends what is queued, then the connection closes.
		ss.finish()
		<-ss.writerDone
		ss.kill()
	}()
	ss.enqueue([]byte("Content-Type: auth/request\n\n"))
	r := bufio.NewReader(ss.conn)
	for {
		c, err := readCommand(r)
		if err != nil {
			if !errors.Is(err, io.EOF) && !errors.Is(err, net.ErrClosed) {
				ss.log.Debug("esl read failed", "err", err)
			}
			return
		}
		if !ss.run(c) {
			ss.enqueue(disconnectNotice())
			return
		}
	}
}

// run answers one command; false ends the session (exit, a failed auth).
func (ss *session) run(c command) bool {
	line := strings.TrimSpace(c.line)
	lower := strings.ToLower(line)
	ss.srv.mu.Lock()
	authed := ss.authed
	ss.srv.mu.Unlock()
	switch {
	case strings.HasPrefix(lower, "exit") || strings.HasPrefix(lower, "..."):
		ss.enqueue(reply("+OK bye"))
		return false
	case !authed:
		if !strings.HasPrefix(lower, "auth ") {
			ss.enqueue(reply("-ERR command not found"))
			return true
		}
		if line[5:] != ss.srv.cfg.Password {
			ss.enqueue(reply("-ERR invalid"))
			return false
		}
		ss.srv.mu.Lock()
		ss.authed = true
		ss.srv.mu.Unlock()
		ss.enqueue(reply("+OK accepted"))
		return true
	case strings.HasPrefix(lower, "api "):
		// api runs on the listener's own thread: its response comes
		// after every event queued before it.
		ss.enqueue(apiResponse(ss.srv.api(line[4:])))
	case strings.HasPrefix(lower, "bgapi "):
		job := c.get("Job-UUID")
		if job == "" {
			job = uuid.NewString()
		}
		ss.enqueue(reply("~Reply-Text: +OK Job-UUID: " + job + "\nJob-UUID: " + job + "\n\n"))
		cmd := line[6:]
		go ss.srv.backgroundJob(job, cmd)
	case strings.HasPrefix(lower, "event"):
		ss.enqueue(reply(ss.subscribe(line)))
	case strings.HasPrefix(lower, "nixevent"):
		ss.enqueue(reply(ss.nix(line)))
	case strings.HasPrefix(lower, "noevents"):
		ss.srv.mu.Lock()
		was := ss.events
		ss.events, ss.all = false, false
		ss.names, ss.customs = map[string]bool{}, map[string]bool{}
		ss.srv.mu.Unlock()
		if was {
			ss.enqueue(reply("+OK no longer listening for events"))
		} else {
			ss.enqueue(reply("-ERR not listening for events"))
		}
	case strings.HasPrefix(lower, "filter "):
		ss.enqueue(reply(ss.filter(line[7:])))
	case strings.HasPrefix(lower, "sendevent"):
		ss.enqueue(reply(ss.sendevent(line, c)))
	case strings.HasPrefix(lower, "log"):
		ss.enqueue(reply("+OK log level debug [7]"))
	case strings.HasPrefix(lower, "nolog"):
		ss.enqueue(reply("-ERR not loging"))
	case strings.HasPrefix(lower, "linger"), strings.HasPrefix(lower, "nolinger"):
		ss.enqueue(reply("-ERR not controlling a session"))
	default:
		ss.enqueue(reply("-ERR command not found"))
	}
	return true
}

// subscribe is the "event" command: an optional format, then event names,
// "ALL", and after "CUSTOM" subclass names.
func (ss *session) subscribe(line string) string {
	words := strings.Fields(line)[1:]
	ss.srv.mu.Lock()
	defer ss.srv.mu.Unlock()
	keys, custom := 0, false
	for i, w := range words {
		if i == 0 {
			switch strings.ToLower(w) {
			case "plain", "json":
				ss.format = strings.ToLower(w)
				continue
			case "xml":
				ss.format = "plain" // the simulator speaks plain and json only
				continue
			}
		}
		if custom {
			ss.customs[w] = true
			continue
		}
		name := strings.ToUpper(w)
		if !knownEvent(name) {
			continue
		}
		keys++
		switch name {
		case "ALL":
			ss.all = true
		case "CUSTOM":
			custom = true
		default:
			ss.names[name] = true
		}
	}
	if keys == 0 {
		return "-ERR no keywords supplied"
	}
	ss.events = true
	return "+OK event listener enabled " + ss.format
}

func (ss *session) nix(line string) string {
	words := strings.Fields(line)[1:]
	ss.srv.mu.Lock()
	defer ss.srv.mu.Unlock()
	keys, custom := 0, false
	for _, w := range words {
		if custom {
			delete(ss.customs, w)
			continue
		}
		name := strings.ToUpper(w)
		if !knownEvent(name) {
			continue
		}
		keys++
		switch name {
		case "CUSTOM":
			custom = true
		case "ALL":
			ss.all = false
			ss.names = map[string]bool{}
		default:
			delete(ss.names, name)
		}
	}
	if keys == 0 {
		return "-ERR no keywords supplied"
	}
	return "+OK events nixed"
}

func (ss *session) filter(arg string) string {
	arg = strings.TrimSpace(arg)
	if strings.HasPrefix(strings.ToLower(arg), "delete ") {
		name, value, _ := strings.Cut(strings.TrimSpace(arg[7:]), " ")
		ss.srv.mu.Lock()
		kept := ss.filters[:0]
		for _, f := range ss.filters {
			if !(strings.EqualFold(f.Name, name) && (value == "" || f.Value == value)) {
				kept = append(kept, f)
			}
		}
		ss.filters = kept
		ss.srv.mu.Unlock()
		return fmt.Sprintf("+OK filter deleted. [%s][%s]", name, value)
	}
	name, value, ok := strings.Cut(arg, " ")
	if !ok || name == "" {
		return "-ERR invalid syntax"
	}
	ss.srv.mu.Lock()
	ss.filters = append(ss.filters, Header{name, value})
	ss.srv.mu.Unlock()
	return fmt.Sprintf("+OK filter added. [%s]=[%s]", name, value)
}

// sendevent fires the event the command's headers describe.
func (ss *session) sendevent(line string, c command) string {
	name := strings.ToUpper(strings.TrimSpace(line[len("sendevent"):]))
	if name == "" || !knownEvent(name) {
		name = "CUSTOM"
	}
	id := uuid.NewString()
	e := &Event{}
	e.Add("Event-Name", name)
	for _, h := range c.headers {
		if !strings.EqualFold(h.Name, "Content-Length") {
			e.Set(h.Name, h.Value)
		}
	}
	e.Set("Event-UUID", id)
	e.Body = c.body
	ss.srv.Fire(e)
	return "+OK " + id
}

// backgroundJob runs a bgapi command and fires its BACKGROUND_JOB
// (api_exec with bg set).
func (s *Server) backgroundJob(job, cmd string) {
	out := s.api(cmd)
	name, arg, _ := strings.Cut(strings.TrimSpace(cmd), " ")
	e := &Event{}
	e.Add("Event-Name", "BACKGROUND_JOB")
	e.Add("Job-UUID", job)
	e.Add("Job-Command", name)
	e.Add("Job-Command-Arg", arg)
	e.Body = out
	s.Fire(e)
}

// knownEvent says whether name is a FreeSWITCH event type the simulator
// accepts in subscriptions (switch_event.c EVENT_NAMES).
func knownEvent(name string) bool {
	switch name {
	case "ALL", "CUSTOM", "CHANNEL_CREATE", "CHANNEL_DESTROY", "CHANNEL_STATE", "CHANNEL_CALLSTATE",
		"CHANNEL_ANSWER", "CHANNEL_HANGUP", "CHANNEL_HANGUP_COMPLETE", "CHANNEL_EXECUTE",
		"CHANNEL_EXECUTE_COMPLETE", "CHANNEL_HOLD", "CHANNEL_UNHOLD", "CHANNEL_BRIDGE",
		"CHANNEL_UNBRIDGE", "CHANNEL_PROGRESS", "CHANNEL_PROGRESS_MEDIA", "CHANNEL_OUTGOING",
		"CHANNEL_PARK", "CHANNEL_UNPARK", "CHANNEL_APPLICATION", "CHANNEL_ORIGINATE", "CHANNEL_UUID",
		"API", "LOG", "INBOUND_CHAN", "OUTBOUND_CHAN", "STARTUP", "SHUTDOWN", "PUBLISH", "UNPUBLISH",
		"TALK", "NOTALK", "SESSION_CRASH", "MODULE_LOAD", "MODULE_UNLOAD", "DTMF", "MESSAGE",
		"PRESENCE_IN", "NOTIFY_IN", "PRESENCE_OUT", "PRESENCE_PROBE", "MESSAGE_WAITING",
		"MESSAGE_QUERY", "ROSTER", "CODEC", "BACKGROUND_JOB", "DETECTED_SPEECH", "DETECTED_TONE",
		"PRIVATE_COMMAND", "HEARTBEAT", "TRAP", "ADD_SCHEDULE", "DEL_SCHEDULE", "EXE_SCHEDULE",
		"RE_SCHEDULE", "RELOADXML", "NOTIFY", "PHONE_FEATURE", "PHONE_FEATURE_SUBSCRIBE",
		"SEND_MESSAGE", "RECV_MESSAGE", "REQUEST_PARAMS", "CHANNEL_DATA", "GENERAL", "COMMAND",
		"SESSION_HEARTBEAT", "CLIENT_DISCONNECTED", "SERVER_DISCONNECTED", "SEND_INFO", "RECV_INFO",
		"RECV_RTCP_MESSAGE", "SEND_RTCP_MESSAGE", "CALL_SECURE", "NAT", "RECORD_START", "RECORD_STOP",
		"PLAYBACK_START", "PLAYBACK_STOP", "CALL_UPDATE", "FAILURE", "SOCKET_DATA", "MEDIA_BUG_START",
		"MEDIA_BUG_STOP", "CONFERENCE_DATA_QUERY", "CONFERENCE_DATA", "CALL_SETUP_REQ",
		"CALL_SETUP_RESULT", "CALL_DETAIL", "DEVICE_STATE", "TEXT", "SHUTDOWN_REQUESTED":
		return true
	}
	return false
}
