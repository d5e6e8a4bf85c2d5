package ami

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/callhook/callhook/core/connector/backlog"
	"github.com/callhook/callhook/core/signal"
)

// logoffTimeout bounds the farewell Logoff write on shutdown.
const logoffTimeout = time.Second

// session is one logged-in AMI connection. A reader goroutine owns the read
// side: it answers pending actions directly and queues translated signals
// for Run, so a slow handler never delays a response or a Pong. A keep-alive
// goroutine pings the PBX.
type session struct {
	conn      net.Conn
	pr        *packetReader
	addr      string
	log       *slog.Logger
	loc       *time.Location
	keepAlive time.Duration
	newID     func() string
	files     *mixFiles
	locals    *localPairs
	dials     *dialFanout
	queued    *queueCallers
	view      *chanView // the channels reported, across sessions (view.go)

	// early are the events read while the session was being set up
	// (filter.go), handled before any read later.
	early []earlyEvent

	wmu sync.Mutex // one packet written at a time

	mu    sync.Mutex
	calls map[string]*call // by ActionID
	err   error            // why the session ended; set once

	// queue holds what the reader translated until Run has handled it:
	// the reader never waits (it must keep answering actions and Pings).
	queue    *backlog.Queue
	readDone chan struct{} // closed when the reader goroutine returns
	stopping chan struct{} // closed by stop
	failOnce sync.Once
	stopOnce sync.Once
	wg       sync.WaitGroup
}

// call is one action waiting for its response.
type call struct {
	resp Response
	list bool // the response opened an event list; events follow
	done chan struct{}
	// then, when set, runs on the reader goroutine with the complete
	// answer, before any later packet is read: at its place in the stream.
	then func(Response)
}

// readPacket reads the next packet, skipping (and logging) malformed ones:
// one bad packet from the PBX loses only itself.
func (s *session) readPacket() (Message, error) {
	for {
		m, err := s.pr.ReadPacket()
		if err == nil {
			return m, nil
		}
		var me *MalformedError
		if errors.As(err, &me) {
			s.log.Warn("ami skipped malformed packet", "err", err)
			continue
		}
		return m, err
	}
}

// readShared is readPacket with a field list valid until the next read
// (packetReader.readShared): dispatch keeps a copy of what it keeps.
func (s *session) readShared() (Message, error) {
	for {
		m, err := s.pr.readShared()
		if err == nil {
			// Before errors.As: its target escapes, one allocation a packet.
			return m, nil
		}
		var me *MalformedError
		if errors.As(err, &me) {
			s.log.Warn("ami skipped malformed packet", "err", err)
			continue
		}
		return m, err
	}
}

// earlyEvent is an event read before the session started, and when.
type earlyEvent struct {
	m    Message
	recv time.Time
}

// connect dials the AMI, checks the banner, logs in and has the PBX filter
// the session's events (filter.go). The returned session is not started
// yet.
func (c *Connector) connect(ctx context.Context) (*session, error) {
	addr := c.cfg.Addr
	d := net.Dialer{Timeout: c.cfg.DialTimeout}
	conn, err := d.DialContext(ctx, "tcp", addr)
	if err != nil {
		return nil, fmt.Errorf("dial %s: %w", addr, err)
	}
	// The banner and login share one deadline; ctx cancels them too.
	if err := conn.SetDeadline(time.Now().Add(c.cfg.DialTimeout)); err != nil {
		conn.Close()
		return nil, fmt.Errorf("set deadline on %s: %w", addr, err)
	}
	stop := context.AfterFunc(ctx, func() { _ = conn.SetDeadline(time.Unix(1, 0)) })
	defer stop()

	pr := newPacketReader(conn)
	queued := c.queued
	pr.keep = func(p rawPacket) bool { return wanted(p) || queued.wants(p) }
	s := &session{
		conn:      conn,
		pr:        pr,
		addr:      addr,
		log:       c.log,
		loc:       c.cfg.Location,
		keepAlive: c.cfg.KeepAlive,
		newID:     c.newActionID,
		files:     c.files,
		locals:    c.locals,
		dials:     c.dials,
		queued:    c.queued,
		view:      c.view,
		calls:     make(map[string]*call),
		queue:     backlog.New(),
		readDone:  make(chan struct{}),
		stopping:  make(chan struct{}),
	}
	version, err := s.pr.readBanner()
	if err != nil {
		conn.Close()
		return nil, fmt.Errorf("connect to %s: %w", addr, err)
	}
	if err := s.login(c.cfg.Username, c.cfg.Secret); err != nil {
		conn.Close()
		return nil, err
	}
	c.log.Info("ami logged in", "username", c.cfg.Username, "ami_version", version)
	// The filters get a deadline of their own.
	if err := conn.SetDeadline(time.Now().Add(c.cfg.DialTimeout)); err != nil {
		conn.Close()
		return nil, fmt.Errorf("set deadline on %s: %w", addr, err)
	}
	if err := c.filter(s); err != nil {
		conn.Close()
		return nil, err
	}
	if !stop() || conn.SetDeadline(time.Time{}) != nil {
		conn.Close()
		return nil, fmt.Errorf("connect to %s: %w", addr, ctx.Err())
	}
	return s, nil
}

// login sends Login and waits for its response, skipping anything else.
func (s *session) login(username string, secret Secret) error {
	id := s.newID()
	login := Message{
		{Key: "Action", Value: "Login"},
		{Key: "ActionID", Value: id},
		{Key: "Username", Value: username},
		{Key: "Secret", Value: string(secret)},
		{Key: "Events", Value: "on"},
	}
	if _, err := s.conn.Write(login.appendWire(nil)); err != nil {
		return fmt.Errorf("log in to %s as %q: %w", s.addr, username, err)
	}
	for {
		m, err := s.readPacket()
		switch {
		case err != nil:
			return fmt.Errorf("log in to %s as %q: %w", s.addr, username, err)
		case m.isEvent() || m.Get("ActionID") != id:
			continue
		}
		switch status := m.Get("Response"); {
		case strings.EqualFold(status, "Success"):
			return nil
		case strings.EqualFold(status, "Error"):
			return fmt.Errorf("log in to %s as %q: %w: %s", s.addr, username, ErrAuth, m.Get("Message"))
		default:
			return fmt.Errorf("log in to %s as %q: unexpected response %q: %s", s.addr, username, status, m.Get("Message"))
		}
	}
}

// start launches the reader and keep-alive goroutines.
func (s *session) start() {
	s.wg.Add(2)
	go s.readLoop()
	go s.keepAliveLoop()
}

// stop ends the session and waits for its goroutines.
func (s *session) stop() {
	s.stopOnce.Do(func() { close(s.stopping) })
	s.fail(errors.New("session closed"))
	s.wg.Wait()
}

// fail records why the session ends (first reason wins) and closes the
// connection, which ends the reader.
func (s *session) fail(err error) {
	s.failOnce.Do(func() {
		s.mu.Lock()
		s.err = err
		s.mu.Unlock()
		_ = s.conn.Close()
	})
}

// cause returns why the session ended.
func (s *session) cause() error {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.err
}

// readLoop reads packets until the connection fails. A malformed packet is
// skipped with a warning: one bad packet should not cost the session.
func (s *session) readLoop() {
	defer s.wg.Done()
	defer close(s.readDone)
	for _, e := range s.early {
		s.dispatch(e.m, e.recv)
	}
	s.early = nil
	for {
		m, err := s.readShared()
		recv := time.Now()
		if err != nil {
			s.fail(fmt.Errorf("read from %s: %w", s.addr, err))
			return
		}
		s.dispatch(m, recv)
	}
}

// dispatch routes one packet: responses and list events to their action,
// other events through translation to the signal queue. m's field list
// may be the reader's (readShared): what is kept is a copy.
func (s *session) dispatch(m Message, recv time.Time) {
	id := m.Get("ActionID")
	if !m.isEvent() {
		if !m.Has("Response") {
			s.log.Warn("ami ignored packet that is neither event nor response", "first_key", m[0].Key)
			return
		}
		s.deliverResponse(id, slices.Clone(m))
		return
	}
	if id != "" && s.deliverListEvent(id, m) {
		return
	}
	s.files.observe(m)
	s.dials.observe(m)
	if sig, ok, err := s.queued.callback(m, recv, s.loc); ok || err != nil {
		if err != nil {
			s.log.Warn("ami dropped event", "err", err)
			return
		}
		s.push(sig)
		return
	}
	sig, err := translate(m, recv, s.loc)
	switch {
	case errors.Is(err, errSkip):
	case err != nil:
		s.log.Warn("ami dropped event", "err", err)
	default:
		s.files.attach(&sig)
		s.dials.attach(&sig)
		s.queued.follow(sig)
		if s.locals.absorb(m, &sig) {
			s.push(sig)
		}
	}
}

func (s *session) deliverResponse(id string, m Message) {
	s.mu.Lock()
	c := s.calls[id]
	if c == nil {
		s.mu.Unlock()
		s.log.Debug("ami ignored response to unknown action", "action_id", id, "response", m.Get("Response"))
		return
	}
	c.resp.Message = m
	if strings.EqualFold(m.Get("EventList"), "start") {
		c.list = true
		s.mu.Unlock()
		return
	}
	delete(s.calls, id)
	s.mu.Unlock()
	c.finish()
}

// finish hands the complete answer to its action.
func (c *call) finish() {
	if c.then != nil {
		c.then(c.resp)
	}
	close(c.done)
}

// deliverListEvent adds m to the event list of action id, if one is open.
func (s *session) deliverListEvent(id string, m Message) bool {
	s.mu.Lock()
	c := s.calls[id]
	if c == nil || !c.list {
		s.mu.Unlock()
		return false
	}
	c.resp.Events = append(c.resp.Events, slices.Clone(m))
	el := m.Get("EventList")
	done := strings.EqualFold(el, "Complete") || strings.EqualFold(el, "Cancelled")
	if done {
		delete(s.calls, id)
	}
	s.mu.Unlock()
	if done {
		c.finish()
	}
	return true
}

// push queues a translated signal for Run, unless it repeats what a
// resync reported (chanView.pass).
func (s *session) push(sig signal.Signal) {
	if s.view.pass(&sig) {
		s.queueSignal(sig)
	}
}

// queueSignal queues a signal for Run; past backlog.Max it drops the
// session.
func (s *session) queueSignal(sig signal.Signal) {
	if err := s.queue.Push(sig); err != nil {
		s.fail(fmt.Errorf("queue signal from %s: %w (%w)", s.addr, ErrBacklog, err))
	}
}

// keepAliveLoop pings every keepAlive; an unanswered Ping ends the session.
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
		_, err := s.action(ctx, "Ping")
		cancel()
		if errors.Is(err, context.DeadlineExceeded) {
			s.fail(fmt.Errorf("keep alive %s: %w within %s", s.addr, ErrPingTimeout, s.keepAlive))
			return
		}
		// Any other error is the session ending (seen above next round) or
		// an error response, which proves the PBX alive.
	}
}

// action sends one action and waits for its response; see Connector.Action.
func (s *session) action(ctx context.Context, name string, fields ...Field) (Response, error) {
	return s.actionThen(ctx, name, nil, fields...)
}

// actionThen is action whose then runs on the reader goroutine with the
// complete answer (see call.then).
func (s *session) actionThen(ctx context.Context, name string, then func(Response), fields ...Field) (Response, error) {
	if err := checkField(Field{Key: "Action", Value: name}); err != nil || name == "" {
		return Response{}, fmt.Errorf("action %q: %w: bad action name", name, ErrInvalidField)
	}
	id := s.newID()
	m := make(Message, 0, len(fields)+2)
	m = append(m, Field{Key: "Action", Value: name}, Field{Key: "ActionID", Value: id})
	for _, f := range fields {
		if err := checkField(f); err != nil {
			return Response{}, fmt.Errorf("action %s: %w", name, err)
		}
		if strings.EqualFold(f.Key, "Action") || strings.EqualFold(f.Key, "ActionID") {
			return Response{}, fmt.Errorf("action %s: field %s: %w: set by the connector", name, f.Key, ErrInvalidField)
		}
		m = append(m, f)
	}

	c := &call{done: make(chan struct{}), then: then}
	s.mu.Lock()
	if s.err != nil {
		s.mu.Unlock()
		return Response{}, fmt.Errorf("action %s: %w", name, ErrNotConnected)
	}
	s.calls[id] = c
	s.mu.Unlock()
	forget := func() {
		s.mu.Lock()
		delete(s.calls, id)
		s.mu.Unlock()
	}

	if err := s.write(m); err != nil {
		forget()
		return Response{}, fmt.Errorf("action %s: %w", name, err)
	}
	select {
	case <-c.done:
	case <-s.readDone:
		select {
		case <-c.done:
		default:
			return Response{}, fmt.Errorf("action %s: %w: %w", name, ErrSessionLost, s.cause())
		}
	case <-ctx.Done():
		forget()
		return Response{}, fmt.Errorf("action %s: %w", name, ctx.Err())
	}
	if strings.EqualFold(c.resp.Status(), "Error") {
		return c.resp, &ActionError{Action: name, Message: c.resp.Get("Message")}
	}
	return c.resp, nil
}

// write sends one packet; a write not done within keepAlive ends the
// session, as the PBX is then not reading.
func (s *session) write(m Message) error {
	s.wmu.Lock()
	defer s.wmu.Unlock()
	_ = s.conn.SetWriteDeadline(time.Now().Add(s.keepAlive))
	if _, err := s.conn.Write(m.appendWire(nil)); err != nil {
		err = fmt.Errorf("write to %s: %w", s.addr, err)
		s.fail(err)
		return err
	}
	return nil
}

// logoff says goodbye without waiting for the answer, so that Asterisk
// logs a clean logoff rather than a dropped connection.
func (s *session) logoff() {
	s.wmu.Lock()
	defer s.wmu.Unlock()
	m := Message{{Key: "Action", Value: "Logoff"}, {Key: "ActionID", Value: s.newID()}}
	_ = s.conn.SetWriteDeadline(time.Now().Add(min(logoffTimeout, s.keepAlive)))
	_, _ = s.conn.Write(m.appendWire(nil))
}
