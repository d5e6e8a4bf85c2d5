package pbxsim_test

import (
	"bufio"
	"context"
	"fmt"
	"net"
	"sync"
	"time"

	"github.com/callhook/callhook/pbxsim/ami"
	"github.com/callhook/callhook/pbxsim/pbx"
	"github.com/callhook/callhook/pbxsim/phone"
	"github.com/callhook/callhook/pbxsim/scenario"
	"github.com/callhook/callhook/pbxsim/sim"
)

// speed plays every scenario twenty times faster; the PBX's clock runs as
// fast, so its events keep the scenario's own durations. SIP timers (T1)
// are not scaled, so the shortest scenario delay (2 s → 100 ms) stays
// below the first retransmission.
const speed = 20

// run is one scenario played on a fresh simulator.
type run struct {
	sim *sim.Sim
	// parties names the user agents by SIP address: extensions by number,
	// the trunk's far end "carrier", outside callers by their number.
	mu      sync.Mutex
	parties map[string]string
	// events is pbxsim's AMI stream for the run, up to the sync event.
	events []ami.Message
}

// play starts a simulator recording SIP ladders, logs in to its AMI, plays
// sc and returns once the PBX is idle and every AMI event of the run has
// been read.
func play(ctx context.Context, sc *scenario.Scenario) (*run, error) {
	topo := pbx.DefaultTopology()
	topo.Ladder = true
	s, err := sim.Start(ctx, sim.Config{Speed: speed, Topology: &topo})
	if err != nil {
		return nil, err
	}
	r := &run{sim: s, parties: map[string]string{}}
	for _, ext := range topo.Extensions {
		if ph, ok := s.Phone(ext.Number); ok {
			r.parties[ph.Addr()] = ext.Number
		}
	}
	r.parties[s.Carrier().Addr()] = "carrier"

	conn, err := amiLogin(ctx, s)
	if err != nil {
		s.Close()
		return nil, err
	}
	defer conn.Close()
	read := make(chan []ami.Message, 1)
	readErr := make(chan error, 1)
	go func() {
		br := bufio.NewReader(conn)
		var evs []ami.Message
		for {
			m, err := ami.ReadMessage(br)
			if err != nil {
				readErr <- err
				return
			}
			if m.Get("UserEvent") == "CallhookSync" {
				read <- evs
				return
			}
			if ev := m.Get("Event"); ev != "" && ev != "FullyBooted" && ev != "SuccessfulAuth" {
				evs = append(evs, m)
			}
		}
	}()

	runner := scenario.Runner{Speed: speed, OnCaller: func(number string, p *phone.Phone) {
		r.mu.Lock()
		r.parties[p.Addr()] = number
		r.mu.Unlock()
	}}
	if err := runner.Run(ctx, s, sc); err != nil {
		s.Close()
		return nil, fmt.Errorf("play %s: %w", sc.Name, err)
	}
	if _, err := s.Sync(ctx); err != nil {
		s.Close()
		return nil, fmt.Errorf("sync %s: %w", sc.Name, err)
	}
	select {
	case r.events = <-read:
	case err := <-readErr:
		s.Close()
		return nil, fmt.Errorf("read AMI: %w", err)
	case <-ctx.Done():
		s.Close()
		return nil, ctx.Err()
	}
	return r, nil
}

// amiLogin connects to the simulator's AMI and logs in with events on.
func amiLogin(ctx context.Context, s *sim.Sim) (net.Conn, error) {
	var d net.Dialer
	conn, err := d.DialContext(ctx, "tcp", s.AMIAddr())
	if err != nil {
		return nil, err
	}
	br := bufio.NewReader(conn)
	_ = conn.SetReadDeadline(time.Now().Add(30 * time.Second))
	if _, err := br.ReadString('\n'); err != nil {
		conn.Close()
		return nil, fmt.Errorf("AMI banner: %w", err)
	}
	fmt.Fprintf(conn, "Action: Login\r\nActionID: login\r\nUsername: %s\r\nSecret: %s\r\n\r\n", s.AMIUser(), s.AMISecret())
	for {
		m, err := ami.ReadMessage(br)
		if err != nil {
			conn.Close()
			return nil, fmt.Errorf("AMI login: %w", err)
		}
		if m.Get("ActionID") == "login" {
			if m.Get("Response") != "Success" {
				conn.Close()
				return nil, fmt.Errorf("AMI login: %s", m.Get("Message"))
			}
			break
		}
	}
	_ = conn.SetReadDeadline(time.Time{})
	// The reader above buffered nothing past the login response: the
	// server sends events only after it.
	return &bufferedConn{Conn: conn, r: br}, nil
}

// bufferedConn reads through the reader that read the login, so no event
// it buffered is lost.
type bufferedConn struct {
	net.Conn
	r *bufio.Reader
}

func (c *bufferedConn) Read(p []byte) (int, error) { return c.r.Read(p) }

// Leg is one Call-ID's SIP exchange at the PBX, with the far end named.
type Leg struct {
	CallID string
	Party  string
	Lines  []Line
}

// legs returns the PBX's ladders of the run, in order of first message,
// with each line's peer named (an unknown address stays as it is).
func (r *run) legs() []Leg {
	r.mu.Lock()
	defer r.mu.Unlock()
	p := r.sim.PBX()
	var out []Leg
	for _, id := range p.LadderCallIDs() {
		lad := p.Ladder(id)
		if len(lad) == 0 {
			continue
		}
		leg := Leg{CallID: id}
		for _, l := range lad {
			name, ok := r.parties[l.Peer]
			if !ok {
				name = l.Peer
			}
			if leg.Party == "" {
				leg.Party = name
			}
			leg.Lines = append(leg.Lines, Line{Party: name, Recv: l.Dir == "recv", Message: l.Message, CSeq: l.CSeq})
		}
		out = append(out, leg)
	}
	return out
}
