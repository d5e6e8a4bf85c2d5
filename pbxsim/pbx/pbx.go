// Package pbx is pbxsim's PBX core: a registrar with digest authentication,
// a back-to-back user agent that routes carrier calls on DIDs to registered
// extensions, a media relay that anchors RTP on the PBX (like Asterisk's
// direct_media=no), and the manager-interface events a real Asterisk 22
// emits for the same calls, delivered to an Observer.
package pbx

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"github.com/emiago/sipgo"
	"github.com/emiago/sipgo/sip"
)

// Extension is a phone account on the PBX (a PJSIP endpoint).
type Extension struct{ Number, Name, Password string }

// DID is a carrier number routed to an extension, as
// Dial(PJSIP/<Target>,<RingTimeout>,tU(sub-record)) would route it.
type DID struct {
	Number, Name, Target string
	RingTimeout          time.Duration
}

// Config describes a PBX. The zero value of every field but Extensions and
// DIDs has a usable default.
type Config struct {
	// Addr is where SIP is served, UDP and TCP on the same port
	// ("127.0.0.1:0" picks a port free for both).
	Addr       string
	Extensions []Extension
	DIDs       []DID
	// TrunkEndpoint names the endpoint carrier calls arrive on ("trunk").
	TrunkEndpoint string
	// Trunk is where extensions' outside calls (9 + number) go; nil
	// leaves the outbound route out of the dialplan.
	Trunk *Trunk
	// InternalRingTimeout is Dial's timeout for extension-to-extension
	// calls (DefaultInternalRingTimeout).
	InternalRingTimeout time.Duration
	// Queues are app_queue queues, each reached on its own DID.
	Queues []Queue
	// RingGroups ring several extensions together, each on its own DID.
	RingGroups []RingGroup
	// IVRs are voice menus, each on its own DID.
	IVRs []IVR
	// Faxes are fax lines: DIDs the PBX answers to receive faxes itself.
	Faxes []FaxLine
	// Recordings is the folder answered conversations are recorded to
	// (one WAV file per link, named as the sub-record subroutine names
	// them); empty records nothing but still announces MixMonitor.
	Recordings string
	// Ladder keeps every SIP message the PBX sends or receives, per
	// Call-ID (PBX.Ladder).
	Ladder bool
	// MediaPortPerCall puts a dialled leg's RTP on the calling leg's port
	// (told apart by the far ends' addresses) instead of a port of its
	// own: one socket per call rather than two, for load tests that would
	// otherwise run out of open files. Far ends must send from the address
	// their SDP names, and not share it.
	MediaPortPerCall bool
	// Observer gets every Event; nil drops them.
	Observer Observer
	Logger   *slog.Logger
	// Now is the clock events and ids use (time.Now).
	Now func() time.Time
}

// DefaultRingTimeout is Dial's ring timeout when a DID sets none.
const DefaultRingTimeout = 20 * time.Second

// DefaultTopology is the topology of the Asterisk 22 captures pbxsim is
// compared with: extensions 101-104 and DID 2125550100 ringing 101 for 20 s,
// queue 800, ring group 600, the IVR and the fax line 2125550700.
func DefaultTopology() Config {
	return Config{
		Addr: "127.0.0.1:0",
		Extensions: []Extension{
			{Number: "101", Name: "Alice 101", Password: "secret101"},
			{Number: "102", Name: "Bob 102", Password: "secret102"},
			{Number: "103", Name: "Carol 103", Password: "secret103"},
			{Number: "104", Name: "Dave 104", Password: "secret104"},
		},
		DIDs: []DID{
			{Number: "2125550100", Name: "Main line", Target: "101", RingTimeout: DefaultRingTimeout},
		},
		Queues: []Queue{{
			Number: "800", DID: "2125550800", Strategy: "ringall",
			Members:       []QueueMember{{Ext: "101", Name: "Alice 101"}, {Ext: "102", Name: "Bob 102"}},
			MemberTimeout: DefaultMemberTimeout, Retry: DefaultQueueRetry, Timeout: DefaultQueueTimeout,
		}},
		RingGroups: []RingGroup{{
			Number: "600", DID: "2125550600", Members: []string{"101", "102", "103"}, RingTimeout: DefaultRingTimeout,
		}},
		IVRs: []IVR{{
			DID: "2125550500", Timeout: DefaultIVRTimeout,
			Choices: map[string]IVRChoice{
				"1": {Kind: "ext", Target: "2125550100"},
				"2": {Kind: "queue", Target: "800"},
				"3": {Kind: "group", Target: "600"},
			},
		}},
		Faxes:         []FaxLine{{DID: "2125550700"}},
		TrunkEndpoint: "trunk",
	}
}

// Errors of the PBX's own API. SIP-level failures are SIP responses, not
// errors.
var (
	// ErrUnknownTarget is returned by New for a DID target or queue member
	// that is not an extension.
	ErrUnknownTarget = errors.New("pbx: target is not an extension")
	// ErrNotStarted is returned by calls that need Start first.
	ErrNotStarted = errors.New("pbx: not started")
	// ErrClosed is returned after Close.
	ErrClosed = errors.New("pbx: closed")
)

// PBX is a running simulated PBX. Create it with New, then Start it.
type PBX struct {
	cfg   Config
	log   *slog.Logger
	exts  map[string]Extension
	dids  map[string]DID
	host  string
	port  int
	addr  string
	now   func() time.Time
	start sync.Once

	ua     *sipgo.UserAgent
	srv    *sipgo.Server
	udpCli *sipgo.Client
	tcpCli *sipgo.Client
	udpLn  net.PacketConn
	tcpLn  net.Listener

	closing   chan struct{}
	closeOnce sync.Once
	calls     sync.WaitGroup

	mu         sync.Mutex
	regs       map[string]*binding
	regChanged chan struct{}
	nonces     map[string]time.Time
	legs       map[string]*legRef
	live       map[liveCall]struct{}
	queues     map[string]*queueState // by queue number
	queueDIDs  map[string]*queueState // by DID
	groups     map[string]RingGroup   // by DID
	ivrs       map[string]IVR         // by DID
	faxes      map[string]FaxLine     // by DID

	seqMu sync.Mutex
	seq   uint64

	devMu    sync.Mutex
	devLast  map[string]string
	devChan  map[string]map[*Channel]ChannelState
	devCount map[string]devCounts

	emitMu sync.Mutex
	admin  adminState

	trunk atomic.Pointer[Trunk]

	ladder *ladder
}

// New checks cfg and returns a PBX ready to Start.
func New(cfg Config) (*PBX, error) {
	if cfg.Addr == "" {
		cfg.Addr = "127.0.0.1:0"
	}
	if cfg.TrunkEndpoint == "" {
		cfg.TrunkEndpoint = "trunk"
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.DiscardHandler)
	}
	if cfg.InternalRingTimeout <= 0 {
		cfg.InternalRingTimeout = DefaultInternalRingTimeout
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	p := &PBX{
		cfg:        cfg,
		log:        cfg.Logger.With("component", "pbx"),
		exts:       map[string]Extension{},
		dids:       map[string]DID{},
		now:        cfg.Now,
		closing:    make(chan struct{}),
		regs:       map[string]*binding{},
		regChanged: make(chan struct{}),
		nonces:     map[string]time.Time{},
		legs:       map[string]*legRef{},
		live:       map[liveCall]struct{}{},
		queues:     map[string]*queueState{},
		queueDIDs:  map[string]*queueState{},
		groups:     map[string]RingGroup{},
		ivrs:       map[string]IVR{},
		faxes:      map[string]FaxLine{},
		devLast:    map[string]string{},
		devChan:    map[string]map[*Channel]ChannelState{},
		devCount:   map[string]devCounts{},
	}
	if cfg.Trunk != nil {
		p.SetTrunk(*cfg.Trunk)
	}
	for _, e := range cfg.Extensions {
		p.exts[e.Number] = e
	}
	for _, d := range cfg.DIDs {
		if _, ok := p.exts[d.Target]; !ok {
			return nil, fmt.Errorf("new pbx: DID %s target %q: %w", d.Number, d.Target, ErrUnknownTarget)
		}
		if d.RingTimeout <= 0 {
			d.RingTimeout = DefaultRingTimeout
		}
		p.dids[d.Number] = d
	}
	for _, g := range cfg.RingGroups {
		if len(g.Members) == 0 {
			return nil, fmt.Errorf("new pbx: ring group %s: no members: %w", g.Number, ErrUnknownTarget)
		}
		for _, m := range g.Members {
			if _, ok := p.exts[m]; !ok {
				return nil, fmt.Errorf("new pbx: ring group %s member %q: %w", g.Number, m, ErrUnknownTarget)
			}
		}
		if g.RingTimeout <= 0 {
			g.RingTimeout = DefaultRingTimeout
		}
		p.groups[g.DID] = g
	}
	for _, m := range cfg.IVRs {
		if m.Timeout <= 0 {
			m.Timeout = DefaultIVRTimeout
		}
		p.ivrs[m.DID] = m
	}
	for _, f := range cfg.Faxes {
		p.faxes[f.DID] = f
	}
	for _, q := range cfg.Queues {
		for _, m := range q.Members {
			if _, ok := p.exts[m.Ext]; !ok {
				return nil, fmt.Errorf("new pbx: queue %s member %q: %w", q.Number, m.Ext, ErrUnknownTarget)
			}
		}
		qs := newQueueState(q, cfg.Now())
		p.queues[q.Number] = qs
		if q.DID != "" {
			p.queueDIDs[q.DID] = qs
		}
	}
	return p, nil
}

// Start binds UDP and TCP on one port and serves SIP until ctx ends or
// Close is called. It returns once the PBX accepts requests.
func (p *PBX) Start(ctx context.Context) error {
	select {
	case <-p.closing:
		return ErrClosed
	default:
	}
	udp, tcp, err := listenPair(p.cfg.Addr)
	if err != nil {
		return err
	}
	p.udpLn, p.tcpLn = udp, tcp
	p.addr = udp.LocalAddr().String()
	host, port, _ := net.SplitHostPort(p.addr)
	p.host = host
	p.port, _ = strconv.Atoi(port)

	p.ua, err = sipgo.NewUA(
		sipgo.WithUserAgent("pbxsim"),
		sipgo.WithUserAgentHostname(host),
		sipgo.WithUserAgentTransactionLayerOptions(sip.WithTransactionLayerLogger(p.log)),
		sipgo.WithUserAgentTransportLayerOptions(sip.WithTransportLayerLogger(p.log)),
	)
	if err != nil {
		return fmt.Errorf("start pbx: %w", err)
	}
	if p.srv, err = sipgo.NewServer(p.ua, sipgo.WithServerLogger(p.log)); err != nil {
		return fmt.Errorf("start pbx: %w", err)
	}
	if p.udpCli, err = sipgo.NewClient(p.ua, sipgo.WithClientLogger(p.log), sipgo.WithClientConnectionAddr(p.addr)); err != nil {
		return fmt.Errorf("start pbx: %w", err)
	}
	if p.tcpCli, err = sipgo.NewClient(p.ua, sipgo.WithClientLogger(p.log), sipgo.WithClientHostname(host)); err != nil {
		return fmt.Errorf("start pbx: %w", err)
	}
	p.srv.OnRegister(p.onRegister)
	p.srv.OnInvite(p.onInvite)
	p.srv.OnAck(p.onAck)
	p.srv.OnBye(p.onBye)
	p.srv.OnCancel(p.onCancel)
	p.srv.OnOptions(p.onOptions)
	p.srv.OnRefer(p.onRefer)
	p.srv.OnNotify(p.onNotify)
	p.srv.OnInfo(p.onInfo)
	p.srv.OnNoRoute(p.onNoRoute)

	go func() { _ = p.srv.ServeUDP(udp) }()
	go func() { _ = p.srv.ServeTCP(tcp) }()
	if err := waitServing(ctx, p.ua.TransportLayer()); err != nil {
		return fmt.Errorf("start pbx: %w", err)
	}
	go func() {
		select {
		case <-ctx.Done():
			_ = p.Close()
		case <-p.closing:
		}
	}()
	if p.cfg.Ladder {
		p.ladder = &ladder{calls: map[string][]LadderLine{}, now: p.now}
		traceAddr(p.addr, p.ladder)
		// TCP connections are accepted on the same port: their local
		// address is the listener's.
	}
	p.log.Info("pbx listening", "addr", p.addr)
	return nil
}

// listenPair binds UDP and TCP on the same port of addr's host.
func listenPair(addr string) (net.PacketConn, net.Listener, error) {
	host, port, err := net.SplitHostPort(addr)
	if err != nil {
		return nil, nil, fmt.Errorf("listen %q: %w", addr, err)
	}
	var lastErr error
	for range 20 {
		tcp, err := net.Listen("tcp", net.JoinHostPort(host, port))
		if err != nil {
			return nil, nil, fmt.Errorf("listen tcp %q: %w", addr, err)
		}
		_, bound, _ := net.SplitHostPort(tcp.Addr().String())
		udp, err := net.ListenPacket("udp", net.JoinHostPort(host, bound))
		if err == nil {
			return udp, tcp, nil
		}
		tcp.Close()
		lastErr = err
		if port != "0" {
			break
		}
	}
	return nil, nil, fmt.Errorf("listen udp %q: %w", addr, lastErr)
}

// Addr is the host:port the PBX serves SIP on (UDP and TCP).
func (p *PBX) Addr() string { return p.addr }

// Close hangs up live calls (BYE or CANCEL on every leg) and stops serving.
func (p *PBX) Close() error {
	p.closeOnce.Do(func() {
		close(p.closing)
		p.mu.Lock()
		calls := make([]liveCall, 0, len(p.live))
		for c := range p.live {
			calls = append(calls, c)
		}
		p.mu.Unlock()
		var wg sync.WaitGroup
		for _, c := range calls {
			wg.Add(1)
			go func() {
				defer wg.Done()
				c.shutdown()
			}()
		}
		wg.Wait()
		waitTimeout(&p.calls, 3*time.Second)
		if p.ua != nil {
			_ = p.ua.Close()
		}
		if p.udpLn != nil {
			_ = p.udpLn.Close()
		}
		if p.tcpLn != nil {
			_ = p.tcpLn.Close()
		}
		if p.ladder != nil {
			untraceAddr(p.addr)
		}
	})
	return nil
}

// waitServing returns once the UDP listener is in sipgo's connection pool:
// until then requests sent from the listening socket would bind a second
// socket on the same port and fail.
func waitServing(ctx context.Context, tp *sip.TransportLayer) error {
	tick := time.NewTicker(time.Millisecond)
	defer tick.Stop()
	deadline := time.After(2 * time.Second)
	for tp.Pool("udp").Size() == 0 {
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-deadline:
			return errors.New("udp listener not serving")
		case <-tick.C:
		}
	}
	return nil
}

func waitTimeout(wg *sync.WaitGroup, d time.Duration) {
	done := make(chan struct{})
	go func() {
		wg.Wait()
		close(done)
	}()
	select {
	case <-done:
	case <-time.After(d):
	}
}

// emit hands e to the observer, one event at a time.
func (p *PBX) emit(e Event) {
	if p.cfg.Observer == nil {
		return
	}
	p.emitMu.Lock()
	defer p.emitMu.Unlock()
	p.cfg.Observer.PBXEvent(e)
}

// nextSeq is Asterisk's global channel sequence: it numbers Uniqueids and
// channel-name suffixes alike.
func (p *PBX) nextSeq() uint64 {
	p.seqMu.Lock()
	defer p.seqMu.Unlock()
	s := p.seq
	p.seq++
	return s
}

// WaitIdle returns once no call is in progress: every call's events have
// been emitted and its legs released. A phone may see its call end (the 200
// to its BYE) before the PBX has finished tearing down the other leg.
func (p *PBX) WaitIdle(ctx context.Context) error {
	t := time.NewTicker(5 * time.Millisecond)
	defer t.Stop()
	for {
		p.mu.Lock()
		n := len(p.live)
		p.mu.Unlock()
		if n == 0 {
			return nil
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("wait for %d call(s) to end: %w", n, ctx.Err())
		case <-t.C:
		}
	}
}
