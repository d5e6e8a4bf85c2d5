package callcontrol

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/gobwas/ws"
	"github.com/gobwas/ws/wsutil"

	"github.com/callhook/callhook/core/connector/backlog"
	"github.com/callhook/callhook/core/signal"
)

// session is one WebSocket connection. A reader goroutine takes frames off
// the socket; a worker goroutine GETs what they name, translates it and
// queues the signals, so neither a slow handler nor a slow GET holds the
// socket up; Run hands the queued signals to the handler.
type session struct {
	c    *Connector
	conn net.Conn
	rw   io.ReadWriter // reads through the handshake's buffer when there is one; writes one frame at a time
	wmu  sync.Mutex
	raw  chan []byte
	q    *backlog.Queue
	// snapshot is every DN with its participants as the session began.
	snapshot []DNInfo

	mu   sync.Mutex
	err  error
	once sync.Once
	done chan struct{} // closed when the worker ends
	wg   sync.WaitGroup
}

// rawBacklog bounds frames read but not yet worked on.
const rawBacklog = 4096

// dial fetches a token and opens the event stream. The snapshot that
// reconciles comes after, from the worker, so nothing between the two is
// missed.
func (c *Connector) dial(ctx context.Context) (*session, error) {
	tok, err := c.cl.accessToken(ctx)
	if err != nil {
		return nil, err
	}
	d := ws.Dialer{
		Timeout: c.cfg.RequestTimeout,
		Header:  ws.HandshakeHeaderHTTP(http.Header{"Authorization": {"Bearer " + tok}}),
	}
	if tr, ok := c.cfg.HTTPClient.Transport.(*http.Transport); ok && tr.TLSClientConfig != nil {
		d.TLSConfig = tr.TLSClientConfig
	}
	u := c.cl.wsURL()
	conn, br, _, err := d.Dial(ctx, u)
	if err != nil {
		var se ws.StatusError
		if errors.As(err, &se) && (int(se) == http.StatusUnauthorized || int(se) == http.StatusForbidden) {
			c.cl.forget(tok)
		}
		return nil, fmt.Errorf("open event stream %s: %w", u, err)
	}
	s := &session{c: c, conn: conn, raw: make(chan []byte, rawBacklog), q: backlog.New(),
		done: make(chan struct{})}
	var in io.Reader = conn
	if br != nil {
		// Frames arrived with the handshake: read them first.
		in = br
	}
	s.rw = struct {
		io.Reader
		io.Writer
	}{in, lockedWriter{&s.wmu, conn, c.cfg.KeepAlive}}
	// The snapshot is read once the stream is open, so that nothing
	// between the two is missed, and before the session counts as
	// connected, so that what happens after Connected is reported as a
	// change. Frames wait in the socket meanwhile.
	if err := c.cl.get(ctx, "/callcontrol", &s.snapshot); err != nil {
		conn.Close()
		return nil, fmt.Errorf("read every DN's participants: %w", err)
	}
	if !c.haveCfg {
		s.pollStatus(ctx)
	}
	c.log.Info("3cx event stream open", "client_id", c.cfg.ClientID)
	return s, nil
}

func (s *session) start(ctx context.Context) {
	s.wg.Add(3)
	go s.read()
	go s.work(ctx)
	go s.keepAlive()
}

// lockedWriter writes one frame at a time: the keep-alive's pings and
// the answers to the PBX's control frames share the socket.
type lockedWriter struct {
	mu      *sync.Mutex
	conn    net.Conn
	timeout time.Duration
}

func (l lockedWriter) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	_ = l.conn.SetWriteDeadline(time.Now().Add(l.timeout))
	return l.conn.Write(p)
}

// keepAlive pings the PBX every KeepAlive; its pong (or any frame) keeps
// the read deadline away.
func (s *session) keepAlive() {
	defer s.wg.Done()
	t := time.NewTicker(s.c.cfg.KeepAlive)
	defer t.Stop()
	for {
		select {
		case <-s.done:
			return
		case <-t.C:
		}
		s.wmu.Lock()
		_ = s.conn.SetWriteDeadline(time.Now().Add(s.c.cfg.KeepAlive))
		err := wsutil.WriteClientMessage(s.conn, ws.OpPing, nil)
		s.wmu.Unlock()
		if err != nil {
			s.fail(fmt.Errorf("ping event stream: %w", err))
			return
		}
	}
}

// fail records why the session ends (the first reason wins) and closes
// the socket.
func (s *session) fail(err error) {
	s.once.Do(func() {
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

func (s *session) close() {
	s.fail(errors.New("session closed"))
	s.wg.Wait()
}

// read takes frames off the socket. Any frame shows the PBX alive: a
// silence of two keep-alive periods (pings unanswered) ends the session.
func (s *session) read() {
	defer s.wg.Done()
	defer close(s.raw)
	ctl := wsutil.ControlFrameHandler(s.rw, ws.StateClientSide)
	rd := wsutil.Reader{Source: s.rw, State: ws.StateClientSide, CheckUTF8: true, OnIntermediate: ctl}
	for {
		_ = s.conn.SetReadDeadline(time.Now().Add(2 * s.c.cfg.KeepAlive))
		hdr, err := rd.NextFrame()
		if err != nil {
			s.fail(fmt.Errorf("read event stream: %w", err))
			return
		}
		if hdr.OpCode.IsControl() {
			if err := ctl(hdr, &rd); err != nil {
				s.fail(fmt.Errorf("read event stream: %w", err))
				return
			}
			continue
		}
		if hdr.OpCode != ws.OpText && hdr.OpCode != ws.OpBinary && hdr.OpCode != ws.OpContinuation {
			if err := rd.Discard(); err != nil {
				s.fail(fmt.Errorf("read event stream: %w", err))
				return
			}
			continue
		}
		b, err := io.ReadAll(&rd)
		if err != nil {
			s.fail(fmt.Errorf("read event stream: %w", err))
			return
		}
		select {
		case s.raw <- b:
		default:
			s.fail(fmt.Errorf("read event stream: %w: %d messages wait", ErrBacklog, rawBacklog))
			return
		}
	}
}

func (s *session) push(ss ...signal.Signal) {
	if err := s.q.Push(ss...); err != nil {
		s.fail(fmt.Errorf("queue signals: %w (%w)", ErrBacklog, err))
	}
}

// work reconciles, then follows the stream and polls the configuration.
func (s *session) work(ctx context.Context) {
	defer s.wg.Done()
	defer close(s.done)
	c := s.c
	if err := s.resync(ctx); err != nil {
		s.fail(err)
		return
	}
	tick := time.NewTicker(c.cfg.StatusInterval)
	defer tick.Stop()
	last := 0
	event := func(b []byte) error {
		seq, err := s.handle(ctx, b)
		if err != nil || seq <= 0 {
			return err
		}
		if last > 0 && seq != last+1 {
			// Events were lost on the way: learn what they said.
			c.log.Warn("3cx event stream skipped", "after", last, "got", seq)
			if err := s.resync(ctx); err != nil {
				return err
			}
		}
		last = seq
		return nil
	}
	for {
		select {
		case b, ok := <-s.raw:
			if !ok {
				return
			}
			if err := event(b); err != nil {
				s.fail(err)
				return
			}
		case <-tick.C:
			// The events already read go first: each names a participant
			// whose state is read only when it is handled, and a poll
			// ahead of them (several reads of XAPI) is time in which a
			// short-lived participant can come and go unseen.
			for n := len(s.raw); n > 0; n-- {
				b, ok := <-s.raw
				if !ok {
					return
				}
				if err := event(b); err != nil {
					s.fail(err)
					return
				}
			}
			s.pollStatus(ctx)
		case <-ctx.Done():
			return
		}
	}
}

// resync reads every DN with its participants and reports what changed
// since the connector last knew, then the configuration's changes.
func (s *session) resync(ctx context.Context) error {
	c := s.c
	dns := s.snapshot
	s.snapshot = nil
	if dns == nil {
		if err := c.cl.get(ctx, "/callcontrol", &dns); err != nil {
			return fmt.Errorf("resync: %w", err)
		}
	}
	for _, d := range dns {
		c.types[d.DN] = d.Type
	}
	// Calls that ended while away: whether anyone answered is the call
	// log's to say.
	answers := map[int]logAnswer{}
	if !c.noXAPI {
		for _, id := range c.tr.goneCalls(dns) {
			if a, err := answeredBy(ctx, c.cl, id, c.now()); err != nil {
				c.log.Warn("3cx call log", "call", id, "err", err)
			} else if a.DN != "" {
				answers[id] = a
			}
		}
	}
	sigs, ended := c.tr.resync(c.now(), dns, answers)
	s.push(sigs...)
	for _, call := range ended {
		s.records(ctx, call)
	}
	s.pollStatus(ctx)
	return nil
}

// pollStatus reads XAPI and reports the differences; the first read only
// learns. XAPI problems are logged, not fatal: calls go on being reported.
func (s *session) pollStatus(ctx context.Context) {
	c := s.c
	if c.noXAPI {
		return
	}
	cfg, err := readConfig(ctx, c.cl)
	switch {
	case errors.Is(err, ErrRights) || errors.Is(err, errNotFound):
		c.log.Warn("3cx XAPI not available to the API client: no status events, no call records", "err", err)
		c.noXAPI = true
		return
	case err != nil:
		c.log.Warn("3cx XAPI read failed", "err", err)
		return
	}
	if c.haveCfg {
		s.push(diff(c.now(), c.known, cfg)...)
	}
	c.known, c.haveCfg = cfg, true
}

func (s *session) records(ctx context.Context, call *tcall) {
	if s.c.noXAPI {
		return
	}
	sigs, err := readRecords(ctx, s.c.cl, call, s.c.now())
	if err != nil {
		s.c.log.Warn("3cx call log", "call", call.id, "err", err)
		return
	}
	s.push(sigs...)
}

// entity is what an event's entity path names ([cc-types] utils.ts
// determineOperation: /callcontrol/{dn}/{type}/{id}).
type entity struct {
	dn, kind string // kind: "" (the DN), "participants", "devices"
	id       int
}

func parseEntity(path string) (entity, error) {
	parts := strings.Split(strings.Trim(path, "/"), "/")
	if len(parts) < 2 || parts[0] != "callcontrol" || parts[1] == "" {
		return entity{}, fmt.Errorf("entity %q: %w: not under /callcontrol/{dn}", path, ErrMalformed)
	}
	e := entity{dn: parts[1]}
	switch len(parts) {
	case 2:
		return e, nil
	case 4:
		e.kind = parts[2]
		if e.kind == "devices" {
			return e, nil
		}
		id, err := strconv.Atoi(parts[3])
		if e.kind != "participants" || err != nil {
			return entity{}, fmt.Errorf("entity %q: %w: want /callcontrol/{dn}/participants/{id}", path, ErrMalformed)
		}
		e.id = id
		return e, nil
	}
	return entity{}, fmt.Errorf("entity %q: %w: unknown path", path, ErrMalformed)
}

// syncPrefix names the requests whose Response events are barriers.
const syncPrefix = "callhook-sync:"

// handle works on one message; it returns the message's sequence number.
// A message it cannot read is logged and skipped; only a failed GET (the
// PBX unreachable) ends the session, which the next one's resync repairs.
func (s *session) handle(ctx context.Context, b []byte) (int, error) {
	c := s.c
	var m wsMessage
	if err := json.Unmarshal(b, &m); err != nil || m.Event == nil {
		c.log.Warn("3cx skipped malformed message", "err", fmt.Errorf("%w: %v", ErrMalformed, err), "message", truncate(b))
		return 0, nil
	}
	ev := m.Event
	now := c.now()
	switch ev.EventType {
	case eventResponse:
		var r wsResponse
		_ = json.Unmarshal(ev.AttachedData, &r)
		if tok, ok := strings.CutPrefix(r.id(), syncPrefix); ok {
			// What changed before the barrier is reported before it.
			s.pollStatus(ctx)
			s.push(signal.Signal{Kind: signal.Sync, Time: now, Token: tok})
		}
		return m.Sequence, nil
	case eventUpsert, eventRemove:
	default:
		return m.Sequence, nil
	}
	e, err := parseEntity(ev.Entity)
	if err != nil {
		c.log.Warn("3cx skipped event", "err", err)
		return m.Sequence, nil
	}
	switch e.kind {
	case "":
		if ev.EventType == eventRemove {
			delete(c.types, e.dn)
		} else {
			var d DNInfo
			if err := c.cl.get(ctx, "/callcontrol/"+url.PathEscape(e.dn), &d); err == nil {
				c.types[e.dn] = d.Type
			}
		}
		// A DN came or went: the configuration changed.
		s.pollStatus(ctx)
		return m.Sequence, nil
	case "devices":
		return m.Sequence, nil
	}
	if ev.EventType == eventRemove {
		s.removed(ctx, now, e)
		return m.Sequence, nil
	}
	if _, ok := c.types[e.dn]; !ok {
		var d DNInfo
		if err := c.cl.get(ctx, "/callcontrol/"+url.PathEscape(e.dn), &d); err != nil && !errors.Is(err, errNotFound) {
			return 0, err
		}
		c.types[e.dn] = d.Type
	}
	var p Participant
	err = c.cl.get(ctx, ev.Entity, &p)
	switch {
	case errors.Is(err, errNotFound):
		// Gone before it could be read.
		s.removed(ctx, now, e)
	case errors.Is(err, ErrMalformed), errors.Is(err, ErrRights):
		c.log.Warn("3cx skipped participant", "err", err)
	case err != nil:
		return 0, err
	case p.DN != e.dn || p.ID != e.id:
		c.log.Warn("3cx skipped participant", "err", fmt.Errorf("%w: GET %s answered participant %s/%d", ErrMalformed, ev.Entity, p.DN, p.ID))
	default:
		s.push(c.tr.upsert(now, p)...)
	}
	return m.Sequence, nil
}

func (s *session) removed(ctx context.Context, now time.Time, e entity) {
	if call := s.c.tr.ending(e.dn, e.id); call != nil && !s.c.noXAPI {
		// The call ends without an answer the connector saw: it may have
		// been answered while the connector was away. The call log knows.
		if a, err := answeredBy(ctx, s.c.cl, call.id, now); err != nil {
			s.c.log.Warn("3cx call log", "call", call.id, "err", err)
		} else {
			s.push(s.c.tr.answerUnseen(now, call, a)...)
		}
	}
	sigs, ended := s.c.tr.remove(now, e.dn, e.id)
	s.push(sigs...)
	if ended != nil {
		s.records(ctx, ended)
	}
}

func truncate(b []byte) string {
	if len(b) > 200 {
		return string(b[:200]) + "..."
	}
	return string(b)
}
