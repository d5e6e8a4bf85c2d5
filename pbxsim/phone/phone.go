// Package phone is pbxsim's scripted SIP user agent: it registers with
// digest authentication, dials, rings, answers or rejects by policy, hangs
// up, and sends and counts PCMU RTP once a call is up. It speaks plain SIP
// over UDP or TCP, so it works against pbxsim and against a real PBX.
package phone

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/callhook/callhook/pbxsim/rtp"
	"github.com/emiago/sipgo"
	"github.com/emiago/sipgo/sip"
)

// Config describes one phone.
type Config struct {
	User, DisplayName string
	// Password is the digest password; empty for a carrier-side caller that
	// does not authenticate.
	Password string
	// Server is the PBX's host:port.
	Server string
	// Transport is "udp" (default) or "tcp".
	Transport string
	// NoRTP keeps the phone from sending media on its calls (load tests:
	// signalling only, as SIPp's built-in scenarios do). All its calls
	// then name one receiving socket in their SDP, so thousands of calls
	// do not hold thousands of sockets; per-call RTP counts are not kept.
	NoRTP bool
	// Speed is how many times faster than the clock the phone's world
	// plays (the simulator's --speed): above 1, a key press (RFC 4733)
	// goes out at once instead of over its 120 ms, which would otherwise
	// last Speed times longer in the world's time.
	Speed  float64
	Logger *slog.Logger
}

// Mode is what a phone does with an incoming call.
type Mode int

// Policies for incoming calls.
const (
	// AnswerAfter answers Delay after ringing starts.
	AnswerAfter Mode = iota
	// NeverAnswer rings until the caller gives up or the test acts.
	NeverAnswer
	// Reject answers with Code (486 if zero) after Delay.
	Reject
)

// Policy is how the phone treats incoming calls.
type Policy struct {
	Mode  Mode
	Delay time.Duration
	Code  int
}

// Errors of the phone API.
var (
	// ErrClosed is returned after Close.
	ErrClosed = errors.New("phone: closed")
	// ErrCallOver is returned for an action on a call that has ended.
	ErrCallOver = errors.New("phone: call is over")
	// ErrNotRinging is returned by Answer for a call not ringing here.
	ErrNotRinging = errors.New("phone: call is not ringing here")
)

// StatusError is a final SIP failure response to a phone's request.
type StatusError struct {
	Method string
	Code   int
	Reason string
}

func (e *StatusError) Error() string {
	return fmt.Sprintf("phone: %s got %d %s", e.Method, e.Code, e.Reason)
}

// Phone is one SIP user agent bound to 127.0.0.1.
type Phone struct {
	cfg       Config
	log       *slog.Logger
	transport string // "UDP" or "TCP"
	server    sip.Uri
	host      string
	port      int

	ua  *sipgo.UserAgent
	srv *sipgo.Server
	cli *sipgo.Client
	udp net.PacketConn
	tcp net.Listener

	incoming chan *Call
	closed   chan struct{}
	callSeq  atomic.Uint64
	once     sync.Once

	// sink receives the media of every call of a NoRTP phone.
	sinkOnce sync.Once
	sink     *rtp.Session
	sinkErr  error

	mu     sync.Mutex
	policy Policy
	calls  map[string]*Call
	regCID string
	regSeq uint32
}

// New binds a phone on 127.0.0.1 (a free port) and starts serving. ctx
// bounds the phone's life as Close does.
func New(ctx context.Context, cfg Config) (*Phone, error) {
	if cfg.User == "" || cfg.Server == "" {
		return nil, fmt.Errorf("new phone: user and server are required")
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.DiscardHandler)
	}
	tp := strings.ToUpper(cfg.Transport)
	if tp == "" {
		tp = "UDP"
	}
	if tp != "UDP" && tp != "TCP" {
		return nil, fmt.Errorf("new phone %s: transport %q: want udp or tcp", cfg.User, cfg.Transport)
	}
	shost, sport, err := net.SplitHostPort(cfg.Server)
	if err != nil {
		return nil, fmt.Errorf("new phone %s: server %q: %w", cfg.User, cfg.Server, err)
	}
	sp, _ := strconv.Atoi(sport)
	p := &Phone{
		cfg:       cfg,
		log:       cfg.Logger.With("component", "phone", "user", cfg.User),
		transport: tp,
		server:    sip.Uri{Scheme: "sip", Host: shost, Port: sp},
		host:      "127.0.0.1",
		incoming:  make(chan *Call, 256),
		closed:    make(chan struct{}),
		policy:    Policy{Mode: NeverAnswer},
		calls:     map[string]*Call{},
	}
	if p.ua, err = sipgo.NewUA(
		sipgo.WithUserAgent(cfg.User),
		sipgo.WithUserAgentHostname(p.host),
		sipgo.WithUserAgentTransactionLayerOptions(sip.WithTransactionLayerLogger(p.log)),
		sipgo.WithUserAgentTransportLayerOptions(sip.WithTransportLayerLogger(p.log)),
	); err != nil {
		return nil, fmt.Errorf("new phone %s: %w", cfg.User, err)
	}
	if p.srv, err = sipgo.NewServer(p.ua, sipgo.WithServerLogger(p.log)); err != nil {
		return nil, fmt.Errorf("new phone %s: %w", cfg.User, err)
	}
	if tp == "UDP" {
		if p.udp, err = net.ListenPacket("udp", "127.0.0.1:0"); err != nil {
			return nil, fmt.Errorf("new phone %s: listen udp: %w", cfg.User, err)
		}
		p.port = p.udp.LocalAddr().(*net.UDPAddr).Port
		p.cli, err = sipgo.NewClient(p.ua, sipgo.WithClientLogger(p.log), sipgo.WithClientConnectionAddr(p.udp.LocalAddr().String()))
	} else {
		// Requests from the PBX come back on the phone's own connection;
		// the listener makes the Contact reachable all the same.
		if p.tcp, err = net.Listen("tcp", "127.0.0.1:0"); err != nil {
			return nil, fmt.Errorf("new phone %s: listen tcp: %w", cfg.User, err)
		}
		p.port = p.tcp.Addr().(*net.TCPAddr).Port
		p.cli, err = sipgo.NewClient(p.ua, sipgo.WithClientLogger(p.log), sipgo.WithClientHostname(p.host))
	}
	if err != nil {
		p.closeSockets()
		return nil, fmt.Errorf("new phone %s: %w", cfg.User, err)
	}
	p.srv.OnInvite(p.onInvite)
	p.srv.OnAck(p.onAck)
	p.srv.OnBye(p.onBye)
	p.srv.OnCancel(func(req *sip.Request, tx sip.ServerTransaction) {
		p.respond(tx, req, 481, "Call/Transaction Does Not Exist", "", nil)
	})
	p.srv.OnNotify(p.onNotify)
	p.srv.OnOptions(func(req *sip.Request, tx sip.ServerTransaction) { p.respond(tx, req, 200, "OK", "", nil) })
	if p.udp != nil {
		go func() { _ = p.srv.ServeUDP(p.udp) }()
		if err := waitServing(ctx, p.ua.TransportLayer()); err != nil {
			p.closeSockets()
			return nil, fmt.Errorf("new phone %s: %w", cfg.User, err)
		}
	} else {
		go func() { _ = p.srv.ServeTCP(p.tcp) }()
	}
	go func() {
		select {
		case <-ctx.Done():
			_ = p.Close()
		case <-p.closed:
		}
	}()
	return p, nil
}

// Addr is the phone's own SIP address (host:port).
func (p *Phone) Addr() string { return net.JoinHostPort(p.host, strconv.Itoa(p.port)) }

// User is the phone's user (extension number).
func (p *Phone) User() string { return p.cfg.User }

// contact is the phone's Contact header.
func (p *Phone) contact() *sip.ContactHeader {
	u := sip.Uri{Scheme: "sip", User: p.cfg.User, Host: p.host, Port: p.port}
	if p.transport == "TCP" {
		u.UriParams = sip.NewParams()
		u.UriParams.Add("transport", "tcp")
	}
	return &sip.ContactHeader{Address: u}
}

// aor is the phone's address of record at the server.
func (p *Phone) aor() sip.Uri {
	return sip.Uri{Scheme: "sip", User: p.cfg.User, Host: p.server.Host, Port: p.server.Port}
}

// Register registers the phone's contact (Expires 3600), answering a
// digest challenge with the configured password.
func (p *Phone) Register(ctx context.Context) error { return p.register(ctx, 3600) }

// Unregister removes the phone's registration (Expires 0).
func (p *Phone) Unregister(ctx context.Context) error { return p.register(ctx, 0) }

func (p *Phone) register(ctx context.Context, expires int) error {
	select {
	case <-p.closed:
		return ErrClosed
	default:
	}
	p.mu.Lock()
	if p.regCID == "" {
		p.regCID = sip.GenerateTagN(24)
		p.regSeq = 1
	}
	p.regSeq++
	cid, seq := p.regCID, p.regSeq
	p.mu.Unlock()

	req := sip.NewRequest(sip.REGISTER, sip.Uri{Scheme: "sip", Host: p.server.Host, Port: p.server.Port})
	from := &sip.FromHeader{DisplayName: p.cfg.DisplayName, Address: p.aor()}
	from.Params.Add("tag", sip.GenerateTagN(16))
	to := &sip.ToHeader{DisplayName: p.cfg.DisplayName, Address: p.aor()}
	callID := sip.CallIDHeader(cid)
	req.AppendHeader(from)
	req.AppendHeader(to)
	req.AppendHeader(&callID)
	req.AppendHeader(&sip.CSeqHeader{SeqNo: seq, MethodName: sip.REGISTER})
	req.AppendHeader(p.contact())
	req.AppendHeader(sip.NewHeader("Expires", strconv.Itoa(expires)))
	req.SetTransport(p.transport)
	res, err := p.do(ctx, req)
	if err != nil {
		return fmt.Errorf("register %s: %w", p.cfg.User, err)
	}
	if (res.StatusCode == 401 || res.StatusCode == 407) && p.cfg.Password != "" {
		res, err = p.cli.DoDigestAuth(ctx, req, res, sipgo.DigestAuth{Username: p.cfg.User, Password: p.cfg.Password})
		if err != nil {
			return fmt.Errorf("register %s: %w", p.cfg.User, err)
		}
		p.mu.Lock()
		p.regSeq = req.CSeq().SeqNo
		p.mu.Unlock()
	}
	if res.StatusCode != 200 {
		return fmt.Errorf("register %s: %w", p.cfg.User, &StatusError{Method: "REGISTER", Code: res.StatusCode, Reason: res.Reason})
	}
	return nil
}

// SetPolicy sets how later incoming calls are treated.
func (p *Phone) SetPolicy(pol Policy) {
	p.mu.Lock()
	p.policy = pol
	p.mu.Unlock()
}

// Incoming delivers every call that rings this phone. It is buffered; when
// nobody reads and the buffer is full, calls are not queued (they still
// ring and follow the policy).
func (p *Phone) Incoming() <-chan *Call { return p.incoming }

// Close hangs up the phone's calls and stops it.
func (p *Phone) Close() error {
	p.once.Do(func() {
		p.mu.Lock()
		calls := make([]*Call, 0, len(p.calls))
		for _, c := range p.calls {
			calls = append(calls, c)
		}
		p.mu.Unlock()
		ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
		var wg sync.WaitGroup
		for _, c := range calls {
			wg.Add(1)
			go func() {
				defer wg.Done()
				_ = c.Hangup(ctx)
			}()
		}
		wg.Wait()
		cancel()
		close(p.closed)
		_ = p.ua.Close()
		p.closeSockets()
		if p.sink != nil {
			_ = p.sink.Close()
		}
		for _, c := range calls {
			c.finish(0, "phone closed")
		}
	})
	return nil
}

// waitServing returns once the UDP listener is in sipgo's connection pool,
// so that requests leave from the listening socket.
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

func (p *Phone) closeSockets() {
	if p.udp != nil {
		_ = p.udp.Close()
	}
	if p.tcp != nil {
		_ = p.tcp.Close()
	}
}

func (p *Phone) addCall(c *Call) {
	p.mu.Lock()
	p.calls[c.d.callID] = c
	p.mu.Unlock()
}

func (p *Phone) removeCall(c *Call) {
	p.mu.Lock()
	if p.calls[c.d.callID] == c {
		delete(p.calls, c.d.callID)
	}
	p.mu.Unlock()
}

// lookup finds the call an in-dialog request belongs to, checking tags.
func (p *Phone) lookup(req *sip.Request) *Call {
	cid, from, to := req.CallID(), req.From(), req.To()
	if cid == nil || from == nil || to == nil {
		return nil
	}
	p.mu.Lock()
	c := p.calls[cid.Value()]
	p.mu.Unlock()
	if c == nil {
		return nil
	}
	c.d.mu.Lock()
	defer c.d.mu.Unlock()
	if tagOf(from.Params) != c.d.remoteTag || tagOf(to.Params) != c.d.localTag {
		return nil
	}
	return c
}

func (p *Phone) respond(tx sip.ServerTransaction, req *sip.Request, code int, reason, localTag string, body []byte) *sip.Response {
	res := sip.NewResponseFromRequest(req, code, reason, body)
	if code != 100 && localTag != "" {
		if to := res.To(); to != nil {
			to.Params.Add("tag", localTag)
		}
	}
	if req.IsInvite() && code >= 180 && code < 300 {
		res.AppendHeader(p.contact())
	}
	if body != nil {
		res.AppendHeader(sip.NewHeader("Content-Type", "application/sdp"))
	}
	if err := tx.Respond(res); err != nil {
		p.log.Debug("respond failed", "code", code, "error", err)
	}
	return res
}

func tagOf(params sip.HeaderParams) string {
	t, _ := params.Get("tag")
	return t
}

// errNoResponse: a request's transaction ended with neither a response
// nor an error.
var errNoResponse = errors.New("phone: transaction ended without a response")

// do sends req and waits for its final response. sipgo's Do can end a
// transaction with neither a response nor an error; do turns that into
// errNoResponse.
func (p *Phone) do(ctx context.Context, req *sip.Request) (*sip.Response, error) {
	res, err := p.cli.Do(ctx, req)
	if err == nil && res == nil {
		err = errNoResponse
	}
	return res, err
}
