// Package crashtest drives a real callhook engine process through crashes:
// a small AMI source on loopback plays synthetic calls shaped like a real
// Asterisk 22 capture, the engine (callhook serve) is killed with SIGKILL
// at random points and restarted, and a receiver checks that every
// webhook arrived, in order per call.
//
// The AMI protocol has no acknowledgements, and a real Asterisk drops the
// events of a manager session that is gone, so no engine can promise to
// deliver what the PBX sent while it was down or what was still in its
// socket when it died. What callhook promises is this: every event the
// engine received and acknowledged (its requests are in the outbox) is
// delivered. The source makes the acknowledgement observable with
// CallhookSync user events after each batch of calls: once the engine's
// admin API reports a batch's token, every webhook of the batch is
// durable. After a restart, the source plays again from the first batch
// not acknowledged, as an operator would re-sync a PBX; batches already
// acknowledged are never replayed, so their delivery rests on the outbox
// alone.
package crashtest

import (
	"bufio"
	"bytes"
	"context"
	"fmt"
	"io"
	"net"
	"os"
	"regexp"
	"strings"
	"sync"

	"github.com/callhook/callhook/pbxsim/ami"
)

// Source is a minimal AMI server: it answers Login and any other action
// with Success, keeps each session's event filters (the Filter action, as
// Asterisk 22 applies them), and writes what Send gives it to the current
// session, filtered.
type Source struct {
	ln net.Listener

	mu      sync.Mutex
	cur     *session
	gen     int  // counts sessions
	ready   bool // the current session set itself up (see Session)
	changed chan struct{}
}

// session is one connection: its filters are guarded by Source.mu.
type session struct {
	conn    net.Conn
	filters ami.Filters
}

// NewSource listens on 127.0.0.1:0.
func NewSource() (*Source, error) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return nil, fmt.Errorf("listen ami source: %w", err)
	}
	s := &Source{ln: ln, changed: make(chan struct{})}
	go s.accept()
	return s, nil
}

// Addr is the source's address.
func (s *Source) Addr() string { return s.ln.Addr().String() }

// Close stops listening and drops the session.
func (s *Source) Close() {
	s.ln.Close()
	s.mu.Lock()
	if s.cur != nil {
		s.cur.conn.Close()
	}
	s.mu.Unlock()
}

func (s *Source) accept() {
	for {
		c, err := s.ln.Accept()
		if err != nil {
			return
		}
		go s.serve(&session{conn: c})
	}
}

// serve answers actions; after a successful Login the connection becomes
// the current session.
func (s *Source) serve(ss *session) {
	c := ss.conn
	var wmu sync.Mutex
	write := func(b string) error {
		wmu.Lock()
		defer wmu.Unlock()
		_, err := c.Write([]byte(b))
		return err
	}
	if write("Asterisk Call Manager/11.0.0\r\n") != nil {
		return
	}
	br := bufio.NewReader(c)
	for {
		fields := map[string]string{}
		for {
			line, err := br.ReadString('\n')
			if err != nil {
				c.Close()
				return
			}
			line = strings.TrimRight(line, "\r\n")
			if line == "" {
				break
			}
			if k, v, ok := strings.Cut(line, ":"); ok {
				fields[strings.ToLower(strings.TrimSpace(k))] = strings.TrimSpace(v)
			}
		}
		if len(fields) == 0 {
			continue
		}
		action := strings.ToLower(fields["action"])
		resp := "Response: Success\r\nActionID: " + fields["actionid"] + "\r\n"
		switch action {
		case "login":
			resp += "Message: Authentication accepted\r\n\r\n"
		case "ping":
			resp += "Ping: Pong\r\n\r\n"
		case "filter":
			s.mu.Lock()
			ok, msg := ami.FilterAction(&ss.filters, fields["operation"], fields["matchcriteria"], fields["filter"])
			s.mu.Unlock()
			if !ok {
				resp = "Response: Error\r\nActionID: " + fields["actionid"] + "\r\n"
			}
			resp += "Message: " + msg + "\r\n\r\n"
		default:
			resp += "\r\n"
		}
		// The session is locked while events are written, so a
		// response never lands inside an event.
		s.mu.Lock()
		cur := s.cur == ss
		s.mu.Unlock()
		if cur {
			s.mu.Lock()
			err := write(resp)
			s.mu.Unlock()
			if err != nil {
				return
			}
		} else if write(resp) != nil {
			return
		}
		s.mu.Lock()
		switch {
		case action == "login":
			if s.cur != nil {
				s.cur.conn.Close()
			}
			s.cur, s.ready = ss, false
			s.gen++
		case s.cur == ss && !s.ready && action != "filter":
			s.ready = true
			close(s.changed)
			s.changed = make(chan struct{})
		}
		s.mu.Unlock()
	}
}

// Session waits for a session newer than gen that is set up, and returns
// its number. A client filtering its events adds the filters right after
// Login, and events sent meanwhile would pass or not depending on how far
// it got; so a session counts once it sends anything else (the engine's
// resync Ping).
func (s *Source) Session(ctx context.Context, after int) (int, error) {
	for {
		s.mu.Lock()
		gen, ready, ch := s.gen, s.ready, s.changed
		s.mu.Unlock()
		if gen > after && ready {
			return gen, nil
		}
		select {
		case <-ch:
		case <-ctx.Done():
			return 0, ctx.Err()
		}
	}
}

// Send writes b, whole AMI events, to session gen: those its filters pass,
// as Asterisk would. An error means the session is gone.
func (s *Source) Send(gen int, b []byte) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.gen != gen || s.cur == nil {
		return fmt.Errorf("ami session %d is gone", gen)
	}
	if s.cur.filters.Empty() {
		_, err := s.cur.conn.Write(b)
		return err
	}
	return writeFiltered(s.cur.conn, &s.cur.filters, b)
}

// SendFiltered writes b to session gen as it is: b is what Filter
// returned, already filtered, so the source spends nothing on it while a
// benchmark's clock runs (Asterisk filters on its own cores).
func (s *Source) SendFiltered(gen int, b []byte) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.gen != gen || s.cur == nil {
		return fmt.Errorf("ami session %d is gone", gen)
	}
	_, err := s.cur.conn.Write(b)
	return err
}

// Filter returns what of b, whole AMI events, session gen's filters pass,
// so that a benchmark can filter its stream before it starts the clock.
func (s *Source) Filter(gen int, b []byte) ([]byte, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.gen != gen || s.cur == nil {
		return nil, fmt.Errorf("ami session %d is gone", gen)
	}
	var out bytes.Buffer
	err := writeFiltered(&out, &s.cur.filters, b)
	return out.Bytes(), err
}

// writeFiltered writes the events of b that f passes, in writes of about
// filterChunk bytes.
func writeFiltered(w io.Writer, f *ami.Filters, b []byte) error {
	const filterChunk = 256 << 10
	var buf []byte
	for len(b) > 0 {
		n := bytes.Index(b, []byte("\r\n\r\n"))
		if n < 0 {
			n = len(b)
		} else {
			n += 4
		}
		if ev := b[:n]; f.Pass(ev) {
			buf = append(buf, ev...)
		}
		b = b[n:]
		if len(buf) >= filterChunk || len(b) == 0 && len(buf) > 0 {
			if _, err := w.Write(buf); err != nil {
				return err
			}
			buf = buf[:0]
		}
	}
	return nil
}

// Calls turns a capture of one call (a raw AMI stream) into n distinct
// calls with the same shape: unique ids, channel names and bridge ids per
// call, events in the capture's order. Non-call events (FullyBooted,
// SuccessfulAuth) are dropped.
func Calls(capturePath string, n int) ([][]byte, error) {
	raw, err := os.ReadFile(capturePath)
	if err != nil {
		return nil, fmt.Errorf("read capture: %w", err)
	}
	text := strings.ReplaceAll(string(raw), "\r\n", "\n")
	var events []string
	for _, pkt := range strings.Split(text, "\n\n") {
		pkt = strings.TrimSpace(pkt)
		if !strings.HasPrefix(pkt, "Event:") || strings.HasPrefix(pkt, "Event: FullyBooted") || strings.HasPrefix(pkt, "Event: SuccessfulAuth") {
			continue
		}
		events = append(events, pkt)
	}
	one := strings.Join(events, "\n\n") + "\n\n"
	uid := regexp.MustCompile(`\b(\d{10})\.(\d)\b`)
	chn := regexp.MustCompile(`-0000000(\d)\b`)
	bridge := regexp.MustCompile(`(BridgeUniqueid: [0-9a-f-]+)[0-9a-f]{8}\n`)
	out := make([][]byte, n)
	for i := range n {
		c := uid.ReplaceAllStringFunc(one, func(m string) string {
			sub := uid.FindStringSubmatch(m)
			k := int(sub[2][0] - '0')
			return fmt.Sprintf("%s.%d", sub[1], 1000+i*10+k)
		})
		c = chn.ReplaceAllStringFunc(c, func(m string) string {
			k := int(m[len(m)-1] - '0')
			return fmt.Sprintf("-%08x", 0x1000+i*10+k)
		})
		c = bridge.ReplaceAllString(c, fmt.Sprintf("${1}%08x\n", i))
		out[i] = []byte(strings.ReplaceAll(c, "\n", "\r\n"))
	}
	return out, nil
}

// SyncEvent is the AMI user event the engine treats as a barrier.
func SyncEvent(token string) []byte {
	return []byte("Event: UserEvent\r\nPrivilege: user,all\r\nUserEvent: CallhookSync\r\nToken: " + token + "\r\n\r\n")
}
