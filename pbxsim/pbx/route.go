package pbx

import (
	"fmt"
	"math"
	"net"
	"strconv"
	"strings"
	"time"

	"github.com/emiago/sipgo/sip"
)

// routeKind tells which dialplan context placed a call.
type routeKind int

const (
	// routeInbound: a carrier call on a DID ringing an extension
	// (from-trunk, Dial(PJSIP/<ext>,20,tU(sub-record))).
	routeInbound routeKind = iota
	// routeInternal: an extension dialling another
	// (from-internal _10X, Dial(PJSIP/${EXTEN},20,tTU(sub-record))).
	routeInternal
	// routeOutbound: an extension dialling 9 + number through the trunk
	// (from-internal _9X., Dial(PJSIP/${EXTEN:1}@trunk,30,TU(sub-record))).
	routeOutbound
)

// route is what the dialplan decided for one call: both endpoints, the
// Dial application's arguments and what each channel shows.
type route struct {
	kind        routeKind
	callerEP    string // endpoint the call came in on ("trunk", "101")
	callerCtx   string // "from-trunk" or "from-internal"
	exten       string // the number dialled, as the caller channel's Exten
	noop        string // the dialplan's NoOp text before Dial
	calleeEP    string // endpoint dialled ("101", "trunk")
	dialString  string // Dial's PJSIP/ argument and DialBegin's DialString
	opts        string // Dial's options
	ringTimeout time.Duration
	// calleeNum and calleeName are the callee channel's own caller id when
	// it is created (empty for the trunk, which has none configured).
	calleeNum, calleeName string
	// reqUser is the Request-URI user of the INVITE to the callee.
	reqUser string
	// group is set for a ring group's Dial of several members.
	group *RingGroup
}

// Trunk is the carrier the outbound route dials (a PJSIP endpoint with a
// static contact).
type Trunk struct {
	// Addr is the carrier's SIP address (host:port).
	Addr string
	// Transport is "udp" (default) or "tcp".
	Transport string
	// RingTimeout is Dial's timeout on outbound calls (30 s).
	RingTimeout time.Duration
}

// DefaultOutboundRingTimeout and DefaultInternalRingTimeout are the
// capture dialplan's Dial timeouts for 9+number and extension calls.
const (
	DefaultOutboundRingTimeout = 30 * time.Second
	DefaultInternalRingTimeout = 20 * time.Second
)

// OutboundPrefix is the digit an extension dials before an outside number.
const OutboundPrefix = "9"

func (r *route) dialData() string {
	secs := int(math.Ceil(r.ringTimeout.Seconds()))
	return fmt.Sprintf("PJSIP/%s,%d,%s", r.dialString, secs, r.opts)
}

// inboundRoute is the from-trunk route for DID d.
func (p *PBX) inboundRoute(d DID, cidNum, cidName string) route {
	ext, _ := p.ext(d.Target)
	return route{
		kind: routeInbound, callerEP: p.cfg.TrunkEndpoint, callerCtx: "from-trunk",
		exten: d.Number, noop: fmt.Sprintf("Inbound DID %s from \"%s\" <%s>", d.Number, cidName, cidNum),
		calleeEP: ext.Number, dialString: ext.Number, opts: "tU(sub-record)", ringTimeout: d.RingTimeout,
		calleeNum: ext.Number, calleeName: ext.Name, reqUser: ext.Number,
	}
}

// internalRoute resolves what extension from dialled: another extension,
// or 9 + an outside number when a trunk is configured. ok is false for a
// number the dialplan does not know.
func (p *PBX) internalRoute(from Extension, dialled string) (route, bool) {
	if to, ok := p.ext(dialled); ok && to.Number != from.Number {
		return route{
			kind: routeInternal, callerEP: from.Number, callerCtx: "from-internal",
			exten: dialled, noop: fmt.Sprintf("Internal call to %s by \"%s\" <%s>", dialled, from.Name, from.Number),
			calleeEP: to.Number, dialString: to.Number, opts: "tTU(sub-record)", ringTimeout: p.cfg.InternalRingTimeout,
			calleeNum: to.Number, calleeName: to.Name, reqUser: to.Number,
		}, true
	}
	num, ok := strings.CutPrefix(dialled, OutboundPrefix)
	trunk := p.trunk.Load()
	if !ok || num == "" || trunk == nil {
		return route{}, false
	}
	return route{
		kind: routeOutbound, callerEP: from.Number, callerCtx: "from-internal",
		exten: dialled, noop: fmt.Sprintf("Outbound call to %s by \"%s\" <%s>", num, from.Name, from.Number),
		calleeEP: p.cfg.TrunkEndpoint, dialString: num + "@" + p.cfg.TrunkEndpoint, opts: "TU(sub-record)",
		ringTimeout: trunk.RingTimeout, reqUser: num,
	}, true
}

// calleeTarget is where the callee leg's INVITE goes: the extension's
// registered contact, or the trunk's static address.
func (p *PBX) calleeTarget(r *route) *binding {
	if r.kind != routeOutbound {
		return p.lookupBinding(r.calleeEP)
	}
	t := p.trunk.Load()
	if t == nil {
		return nil
	}
	host, port := splitHostPort(t.Addr)
	u := sip.Uri{Scheme: "sip", User: r.reqUser, Host: host, Port: port}
	tp := strings.ToUpper(t.Transport)
	if tp == "" {
		tp = "UDP"
	}
	return &binding{contact: u, transport: tp, dest: t.Addr}
}

func splitHostPort(addr string) (string, int) {
	h, ps, err := net.SplitHostPort(addr)
	if err != nil {
		return addr, 0
	}
	port, _ := strconv.Atoi(ps)
	return h, port
}

// SetTrunk points the outbound route at t (for a carrier that starts after
// the PBX, which must know the PBX's address first).
func (p *PBX) SetTrunk(t Trunk) {
	if t.RingTimeout <= 0 {
		t.RingTimeout = DefaultOutboundRingTimeout
	}
	p.trunk.Store(&t)
}
