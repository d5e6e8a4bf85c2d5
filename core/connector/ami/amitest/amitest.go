// Package amitest records and replays manager (AMI) sessions over real
// TCP on loopback, the way httptest serves HTTP: a Recorder logs in to a
// PBX and keeps the bytes of every event it is sent; a Server plays such a
// stream to every client that logs in. Tests run the production connector
// against recorded streams with them, so one call flow can be fed to any
// number of engines, byte for byte the same.
package amitest

import (
	"bufio"
	"bytes"
	"context"
	"fmt"
	"net"
	"strings"
	"sync"
	"time"
)

// Banner is the greeting a Server sends, as Asterisk 22 sends it.
const Banner = "Asterisk Call Manager/11.0.0\r\n"

// Server plays one recorded stream to every client that logs in: the
// banner, a successful Login response, then the stream; it answers every
// other action (Ping, …) with Success until the client leaves.
type Server struct {
	ln     net.Listener
	stream []byte
	wg     sync.WaitGroup
	mu     sync.Mutex
	conns  map[net.Conn]bool
}

// NewServer listens on 127.0.0.1:0 and serves stream.
func NewServer(stream []byte) (*Server, error) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return nil, fmt.Errorf("listen amitest server: %w", err)
	}
	s := &Server{ln: ln, stream: stream, conns: map[net.Conn]bool{}}
	s.wg.Add(1)
	go s.accept()
	return s, nil
}

// Addr is where the server listens.
func (s *Server) Addr() string { return s.ln.Addr().String() }

// Close stops listening, drops every session and waits for them to end.
func (s *Server) Close() {
	s.ln.Close()
	s.mu.Lock()
	for c := range s.conns {
		c.Close()
	}
	s.mu.Unlock()
	s.wg.Wait()
}

func (s *Server) accept() {
	defer s.wg.Done()
	for {
		c, err := s.ln.Accept()
		if err != nil {
			return
		}
		s.mu.Lock()
		s.conns[c] = true
		s.mu.Unlock()
		s.wg.Add(1)
		go func() {
			defer s.wg.Done()
			s.serve(c)
			s.mu.Lock()
			delete(s.conns, c)
			s.mu.Unlock()
			c.Close()
		}()
	}
}

func (s *Server) serve(c net.Conn) {
	var wmu sync.Mutex
	write := func(b []byte) error {
		wmu.Lock()
		defer wmu.Unlock()
		_, err := c.Write(b)
		return err
	}
	if write([]byte(Banner)) != nil {
		return
	}
	br := bufio.NewReader(c)
	for {
		fields, err := readPacket(br)
		if err != nil {
			return
		}
		action := strings.ToLower(fields["action"])
		resp := "Response: Success\r\nActionID: " + fields["actionid"] + "\r\n"
		switch action {
		case "login":
			resp += "Message: Authentication accepted\r\n\r\n"
		case "ping":
			resp += "Ping: Pong\r\n\r\n"
		case "logoff":
			resp = "Response: Goodbye\r\nActionID: " + fields["actionid"] + "\r\nMessage: Thanks for all the fish.\r\n\r\n"
		default:
			resp += "\r\n"
		}
		if write([]byte(resp)) != nil || action == "logoff" {
			return
		}
		if action == "login" {
			// Written in one piece after the response, so no response
			// lands inside an event.
			if write(s.stream) != nil {
				return
			}
		}
	}
}

// readPacket reads one "Key: Value" packet up to its blank line, keys in
// lower case.
func readPacket(br *bufio.Reader) (map[string]string, error) {
	fields := map[string]string{}
	for {
		line, err := br.ReadString('\n')
		if err != nil {
			return nil, err
		}
		line = strings.TrimRight(line, "\r\n")
		if line == "" {
			if len(fields) == 0 {
				continue
			}
			return fields, nil
		}
		if k, v, ok := strings.Cut(line, ":"); ok {
			fields[strings.ToLower(strings.TrimSpace(k))] = strings.TrimSpace(v)
		}
	}
}

// Recorder keeps the event packets one manager session receives, as the
// PBX framed them (CRLF lines, a blank line after each packet).
type Recorder struct {
	conn net.Conn
	mu   sync.Mutex
	buf  bytes.Buffer
	more chan struct{} // closed and replaced when a packet arrives
	err  error
	done chan struct{}
}

// Record logs in to the AMI at addr with events on and records until
// Close.
func Record(ctx context.Context, addr, user, secret string) (*Recorder, error) {
	var d net.Dialer
	c, err := d.DialContext(ctx, "tcp", addr)
	if err != nil {
		return nil, fmt.Errorf("record ami %s: %w", addr, err)
	}
	if dl, ok := ctx.Deadline(); ok {
		c.SetDeadline(dl)
	}
	br := bufio.NewReader(c)
	if _, err := br.ReadString('\n'); err != nil {
		c.Close()
		return nil, fmt.Errorf("record ami %s: read banner: %w", addr, err)
	}
	login := "Action: Login\r\nActionID: amitest-login\r\nUsername: " + user + "\r\nSecret: " + secret + "\r\nEvents: on\r\n\r\n"
	if _, err := c.Write([]byte(login)); err != nil {
		c.Close()
		return nil, fmt.Errorf("record ami %s: login: %w", addr, err)
	}
	for {
		pkt, err := readRaw(br)
		if err != nil {
			c.Close()
			return nil, fmt.Errorf("record ami %s: login response: %w", addr, err)
		}
		if bytes.HasPrefix(pkt, []byte("Response:")) {
			if !bytes.Contains(pkt, []byte("Success")) {
				c.Close()
				return nil, fmt.Errorf("record ami %s: login refused: %q", addr, pkt)
			}
			break
		}
	}
	c.SetDeadline(time.Time{})
	r := &Recorder{conn: c, more: make(chan struct{}), done: make(chan struct{})}
	go r.read(br)
	return r, nil
}

func (r *Recorder) read(br *bufio.Reader) {
	defer close(r.done)
	for {
		pkt, err := readRaw(br)
		r.mu.Lock()
		if err != nil {
			r.err = err
			close(r.more)
			r.mu.Unlock()
			return
		}
		if bytes.HasPrefix(pkt, []byte("Event:")) {
			r.buf.Write(pkt)
			close(r.more)
			r.more = make(chan struct{})
		}
		r.mu.Unlock()
	}
}

// readRaw reads one packet with its framing.
func readRaw(br *bufio.Reader) ([]byte, error) {
	var pkt []byte
	for {
		line, err := br.ReadBytes('\n')
		if err != nil {
			return nil, err
		}
		if len(bytes.TrimRight(line, "\r\n")) == 0 {
			if len(pkt) == 0 {
				continue
			}
			return append(pkt, "\r\n"...), nil
		}
		pkt = append(pkt, bytes.TrimRight(line, "\r\n")...)
		pkt = append(pkt, "\r\n"...)
	}
}

// WaitFor waits until a recorded event contains the line "Key: Value",
// e.g. the Token of a sync user event the PBX raised last.
func (r *Recorder) WaitFor(ctx context.Context, key, value string) error {
	want := []byte("\r\n" + key + ": " + value + "\r\n")
	for {
		r.mu.Lock()
		found, err, more := bytes.Contains(r.buf.Bytes(), want), r.err, r.more
		r.mu.Unlock()
		if found {
			return nil
		}
		if err != nil {
			return fmt.Errorf("wait for %s: %s on the ami stream: session ended: %w", key, value, err)
		}
		select {
		case <-more:
		case <-ctx.Done():
			return fmt.Errorf("wait for %s: %s on the ami stream: %w", key, value, ctx.Err())
		}
	}
}

// Stream returns a copy of what was recorded so far.
func (r *Recorder) Stream() []byte {
	r.mu.Lock()
	defer r.mu.Unlock()
	return bytes.Clone(r.buf.Bytes())
}

// Close ends the session.
func (r *Recorder) Close() {
	r.conn.Close()
	<-r.done
}
