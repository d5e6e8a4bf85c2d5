package esl

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/callhook/callhook/core/connector/backlog"
	"github.com/callhook/callhook/core/signal"
)

// exitTimeout bounds the farewell "exit" write on shutdown.
const exitTimeout = time.Second

// Subscriptions: the FreeSWITCH events the connector translates
// (translate.go), and the CUSTOM subclasses among them. mod_event_socket
// reads every word after CUSTOM as a subclass.
var (
	subscribedEvents = []string{
		"CHANNEL_CREATE", "CHANNEL_OUTGOING", "CHANNEL_ORIGINATE", "CHANNEL_PROGRESS", "CHANNEL_PROGRESS_MEDIA",
		"CHANNEL_ANSWER", "CHANNEL_BRIDGE", "CHANNEL_UNBRIDGE", "CHANNEL_HANGUP_COMPLETE", "CHANNEL_EXECUTE",
		"CHANNEL_EXECUTE_COMPLETE", "RECORD_START", "RECORD_STOP", "BACKGROUND_JOB",
	}
	subscribedCustom = []string{
		"sofia::transferor", "callcenter::info", "menu::enter", "spandsp::rxfaxnegociateresult",
		SubclassSync, SubclassCallback, SubclassForwarding, SubclassQueueLogin, SubclassQueuePause,
		SubclassExtension, SubclassMenu, SubclassFax,
	}
)

// subscription is the event command the connector sends.
func subscription(format string) string {
	return "event " + format + " " + strings.Join(subscribedEvents, " ") + " CUSTOM " + strings.Join(subscribedCustom, " ")
}

// session is one authenticated event socket connection. A reader
// goroutine owns the read side: it answers pending commands, translates
// events and queues signals for Run; a keep-alive goroutine checks the
// switch answers.
type session struct {
	c         *Connector
	conn      net.Conn
	fr        *frameReader
	addr      string
	log       *slog.Logger
	keepAlive time.Duration

	wmu sync.Mutex // one command written at a time, in FIFO order

	mu      sync.Mutex
	pending []*pendingCmd // commands awaiting their reply, in order sent
	jobs    map[string]chan Event
	err     error

	queue    *backlog.Queue // translated signals until Run has handled them
	readDone chan struct{}
	stopping chan struct{}
	failOnce sync.Once
	stopOnce sync.Once
	wg       sync.WaitGroup
}

// pendingCmd is a command waiting for its command/reply or api/response:
// mod_event_socket answers a listener's commands one by one, in order.
type pendingCmd struct {
	line  string
	reply Frame
	done  chan struct{}
	// then runs on the reader goroutine with the reply, before any later
	// frame is read: at that very point of the stream.
	then func(Frame)
}

// connect dials, checks the greeting, authenticates and subscribes. The
// returned session is not started yet.
func (c *Connector) connect(ctx context.Context) (*session, error) {
	addr := c.cfg.Addr
	d := net.Dialer{Timeout: c.cfg.DialTimeout}
	conn, err := d.DialContext(ctx, "tcp", addr)
	if err != nil {
		return nil, fmt.Errorf("dial %s: %w", addr, err)
	}
	if err := conn.SetDeadline(time.Now().Add(c.cfg.DialTimeout)); err != nil {
		conn.Close()
		return nil, fmt.Errorf("set deadline on %s: %w", addr, err)
	}
	stop := context.AfterFunc(ctx, func() { _ = conn.SetDeadline(time.Unix(1, 0)) })
	defer stop()
	s := &session{
		c: c, conn: conn, fr: newFrameReader(conn), addr: addr, log: c.log, keepAlive: c.cfg.KeepAlive,
		jobs: map[string]chan Event{}, queue: backlog.New(),
		readDone: make(chan struct{}), stopping: make(chan struct{}),
	}
	greeting, err := s.fr.ReadFrame()
	if errors.Is(err, ErrMalformed) {
		// A first line that is no header: some other protocol.
		conn.Close()
		return nil, fmt.Errorf("connect to %s: %w: %w", addr, ErrNotESL, err)
	}
	if err != nil {
		conn.Close()
		return nil, fmt.Errorf("connect to %s: read greeting: %w", addr, err)
	}
	switch ct := greeting.ContentType(); ct {
	case typeAuthRequest:
	case typeRudeReject:
		conn.Close()
		return nil, fmt.Errorf("connect to %s: %w: %s", addr, ErrDenied, strings.TrimSpace(string(greeting.Body)))
	default:
		conn.Close()
		return nil, fmt.Errorf("connect to %s: %w: first frame is %q", addr, ErrNotESL, ct)
	}
	if r, err := s.syncCommand("auth " + string(c.cfg.Password)); err != nil {
		conn.Close()
		return nil, fmt.Errorf("authenticate to %s: %w", addr, err)
	} else if !strings.HasPrefix(replyText(r), "+OK") {
		conn.Close()
		return nil, fmt.Errorf("authenticate to %s: %w: %s", addr, ErrAuth, replyText(r))
	}
	if r, err := s.syncCommand(subscription(c.cfg.Format)); err != nil {
		conn.Close()
		return nil, fmt.Errorf("subscribe on %s: %w", addr, err)
	} else if !strings.HasPrefix(replyText(r), "+OK") {
		conn.Close()
		return nil, fmt.Errorf("subscribe on %s: %w", addr, &CommandError{Command: "event", Reply: replyText(r)})
	}
	if !stop() || conn.SetDeadline(time.Time{}) != nil {
		conn.Close()
		return nil, fmt.Errorf("connect to %s: %w", addr, ctx.Err())
	}
	c.log.Info("esl connected", "format", c.cfg.Format)
	return s, nil
}

// syncCommand sends a command before the reader runs and reads its reply.
// Nothing else is due before the subscription, but a disconnect notice
// may come instead.
func (s *session) syncCommand(line string) (Frame, error) {
	if _, err := s.conn.Write([]byte(line + "\n\n")); err != nil {
		return Frame{}, err
	}
	for {
		f, err := s.fr.ReadFrame()
		if err != nil {
			return Frame{}, err
		}
		switch f.ContentType() {
		case typeCommandReply, typeAPIResponse:
			return f, nil
		case typeDisconnect:
			return Frame{}, fmt.Errorf("%w: the switch disconnected: %s", ErrSessionLost, strings.TrimSpace(string(f.Body)))
		}
	}
}

// replyText is a command/reply's Reply-Text, or an api/response's body.
func replyText(f Frame) string {
	if f.ContentType() == typeAPIResponse {
		return strings.TrimSpace(string(f.Body))
	}
	return strings.TrimSpace(f.Get("Reply-Text"))
}

func (s *session) start() {
	s.wg.Add(2)
	go s.readLoop()
	go s.keepAliveLoop()
}

func (s *session) stop() {
	s.stopOnce.Do(func() { close(s.stopping) })
	s.fail(errors.New("session closed"))
	s.wg.Wait()
}

func (s *session) fail(err error) {
	s.failOnce.Do(func() {
		s.mu.Lock()
		s.err = err
		s.mu.Unlock()
		_ = s.conn.Close()
	})
}

func (s *session) cause() error {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.err
}

func (s *session) readLoop() {
	defer s.wg.Done()
	defer close(s.readDone)
	for {
		f, err := s.fr.ReadFrame()
		if err != nil {
			s.fail(fmt.Errorf("read from %s: %w", s.addr, err))
			return
		}
		if err := s.dispatch(f, time.Now()); err != nil {
			s.fail(err)
			return
		}
	}
}

// dispatch routes one frame: replies to their command, events through
// translation to the queue.
func (s *session) dispatch(f Frame, recv time.Time) error {
	switch ct := f.ContentType(); ct {
	case typeCommandReply, typeAPIResponse:
		s.deliverReply(f)
	case typeEventPlain, typeEventJSON:
		ev, err := parseEvent(f)
		if err != nil {
			// The frame's own length kept the stream in step: only this
			// event is lost.
			s.log.Warn("esl dropped malformed event", "err", err)
			return nil
		}
		if ev.Name() == "BACKGROUND_JOB" {
			s.deliverJob(ev)
			return nil
		}
		s.c.mu.Lock()
		sigs := s.c.st.handle(ev, recv)
		s.c.mu.Unlock()
		for _, sig := range sigs {
			s.push(sig)
		}
	case typeDisconnect:
		return fmt.Errorf("%w: %s sent a disconnect notice: %s", ErrSessionLost, s.addr, strings.TrimSpace(string(f.Body)))
	case typeLogData:
	default:
		s.log.Debug("esl ignored frame", "content_type", ct)
	}
	return nil
}

func (s *session) deliverReply(f Frame) {
	s.mu.Lock()
	if len(s.pending) == 0 {
		s.mu.Unlock()
		s.log.Debug("esl reply to no command", "reply", replyText(f))
		return
	}
	p := s.pending[0]
	s.pending[0] = nil
	s.pending = s.pending[1:]
	s.mu.Unlock()
	p.reply = f
	if p.then != nil {
		p.then(f)
	}
	close(p.done)
}

func (s *session) deliverJob(ev Event) {
	id := strings.TrimSpace(ev.Get("Job-UUID"))
	s.mu.Lock()
	ch := s.jobs[id]
	delete(s.jobs, id)
	s.mu.Unlock()
	if ch != nil {
		ch <- ev
		return
	}
	s.log.Debug("esl background job done", "job", id, "result", strings.TrimSpace(ev.Body))
}

// command sends one command line and waits for its reply. then, when not
// nil, runs on the reader goroutine with the reply.
func (s *session) command(ctx context.Context, line string, then func(Frame), headers ...Header) (Frame, error) {
	if line == "" || strings.ContainsAny(line, "\r\n") {
		return Frame{}, fmt.Errorf("command %q: %w: empty or has a line break", firstWord(line), ErrInvalidCommand)
	}
	wire := line + "\n"
	for _, h := range headers {
		if h.Name == "" || strings.ContainsAny(h.Name, ":\r\n") || strings.ContainsAny(h.Value, "\r\n") {
			return Frame{}, fmt.Errorf("command %s: header %q: %w", firstWord(line), h.Name, ErrInvalidCommand)
		}
		wire += h.Name + ": " + h.Value + "\n"
	}
	wire += "\n"
	p := &pendingCmd{line: line, done: make(chan struct{}), then: then}
	s.wmu.Lock()
	s.mu.Lock()
	if s.err != nil {
		s.mu.Unlock()
		s.wmu.Unlock()
		return Frame{}, fmt.Errorf("command %s: %w", firstWord(line), ErrNotConnected)
	}
	s.pending = append(s.pending, p)
	s.mu.Unlock()
	_ = s.conn.SetWriteDeadline(time.Now().Add(s.keepAlive))
	_, err := s.conn.Write([]byte(wire))
	s.wmu.Unlock()
	if err != nil {
		err = fmt.Errorf("write %s to %s: %w", firstWord(line), s.addr, err)
		s.fail(err)
		return Frame{}, err
	}
	select {
	case <-p.done:
	case <-s.readDone:
		select {
		case <-p.done:
		default:
			return Frame{}, fmt.Errorf("command %s: %w: %w", firstWord(line), ErrSessionLost, s.cause())
		}
	case <-ctx.Done():
		return Frame{}, fmt.Errorf("command %s: %w", firstWord(line), ctx.Err())
	}
	if t := replyText(p.reply); strings.HasPrefix(t, "-ERR") || strings.HasPrefix(t, "-USAGE") {
		return p.reply, &CommandError{Command: firstWord(line), Reply: t}
	}
	return p.reply, nil
}

func firstWord(line string) string {
	w, _, _ := strings.Cut(line, " ")
	if w == "api" || w == "bgapi" {
		if rest := strings.Fields(line); len(rest) > 1 {
			return w + " " + rest[1]
		}
	}
	return w
}

// keepAliveLoop asks the switch's clock every keepAlive (api
// strmicroepoch, mod_dptools); no answer in time ends the session.
func (s *session) keepAliveLoop() {
	defer s.wg.Done()
	t := time.NewTicker(s.keepAlive)
	defer t.Stop()
	for {
		select {
		case <-s.readDone:
			return
		case <-s.stopping:
			return
		case <-t.C:
		}
		ctx, cancel := context.WithTimeout(context.Background(), s.keepAlive)
		_, err := s.command(ctx, "api strmicroepoch", nil)
		cancel()
		if errors.Is(err, context.DeadlineExceeded) {
			s.fail(fmt.Errorf("keep alive %s: %w within %s", s.addr, ErrPingTimeout, s.keepAlive))
			return
		}
	}
}

// startResync brings the connector's view of the switch up to date in
// the background (resync.go).
func (s *session) startResync() {
	s.wg.Add(1)
	go func() {
		defer s.wg.Done()
		ctx, cancel := context.WithTimeout(context.Background(), 4*s.keepAlive)
		defer cancel()
		go func() {
			select {
			case <-s.readDone:
			case <-s.stopping:
			}
			cancel()
		}()
		if err := s.resync(ctx); err != nil && ctx.Err() == nil {
			s.log.Warn("esl resync failed; going on with live events only", "err", err)
		}
	}()
}

// resync asks the switch's time, then every call in progress (api show
// calls as json); at the answer's place in the stream the tracker
// reports what changed while the connector was away.
func (s *session) resync(ctx context.Context) error {
	r, err := s.command(ctx, "api strmicroepoch", nil)
	if err != nil {
		return fmt.Errorf("resync: %w", err)
	}
	us, err := strconv.ParseInt(replyText(r), 10, 64)
	at := time.Now()
	if err == nil && us > 0 {
		at = time.UnixMicro(us)
	}
	s.c.mu.Lock()
	mark := s.c.st.mark()
	s.c.mu.Unlock()
	var rerr error
	_, err = s.command(ctx, "api show calls as json", func(f Frame) {
		s.c.mu.Lock()
		sigs, err := s.c.st.reconcile(f.Body, at, mark)
		s.c.mu.Unlock()
		if err != nil {
			rerr = err
			return
		}
		for _, sig := range sigs {
			s.push(sig)
		}
	})
	if err != nil {
		return fmt.Errorf("resync: %w", err)
	}
	return rerr
}

// push queues a signal for Run; past backlog.Max it drops the session.
func (s *session) push(sig signal.Signal) {
	if err := s.queue.Push(sig); err != nil {
		s.fail(fmt.Errorf("queue signal from %s: %w (%w)", s.addr, ErrBacklog, err))
	}
}

// exit says goodbye without waiting, so the switch logs a clean close.
func (s *session) exit() {
	s.wmu.Lock()
	defer s.wmu.Unlock()
	s.mu.Lock()
	s.pending = append(s.pending, &pendingCmd{line: "exit", done: make(chan struct{})})
	s.mu.Unlock()
	_ = s.conn.SetWriteDeadline(time.Now().Add(min(exitTimeout, s.keepAlive)))
	_, _ = s.conn.Write([]byte("exit\n\n"))
}

// job registers a bgapi job's waiter before its command is sent.
func (s *session) job(id string) chan Event {
	ch := make(chan Event, 1)
	s.mu.Lock()
	s.jobs[id] = ch
	s.mu.Unlock()
	return ch
}
