package pbx

import (
	"bytes"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/emiago/sipgo/sip"
)

// SIP ladders. With Config.Ladder set, the PBX keeps every SIP message it
// sends or receives, per Call-ID, as a line of a ladder diagram: what
// tests assert and an inspector shows. sipgo offers one process-wide
// transport trace hook; the PBX registers its listening address with it
// and takes the messages read or written there. sipgo reports a write
// once it returned, so the response to a request can be read first: the
// request is then listed before its response (answeredAt). Writes from
// different goroutines (a transaction's retransmission and the next
// request) can still be listed out of wire order; what was received is
// listed in the order it was read.

// LadderLine is one SIP message the PBX sent or received.
type LadderLine struct {
	Time time.Time
	// Dir is "recv" or "send"; Peer the far end's address.
	Dir, Peer string
	// Message is the request method or "<code> <method>" of a response.
	Message string
	// CSeq is the message's CSeq number: a retransmission repeats it, the
	// next request of the dialog does not.
	CSeq uint32
}

// ladder holds one PBX's lines by Call-ID.
type ladder struct {
	mu    sync.Mutex
	calls map[string][]LadderLine
	order []string          // Call-IDs by first message
	links map[string]string // Call-ID to the Linkedid of its call (ladder_call.go)
	now   func() time.Time
}

// tracer dispatches sipgo's trace hook to the PBXs by local address.
var tracer = struct {
	sync.Mutex
	byAddr map[string]*ladder
}{byAddr: map[string]*ladder{}}

type traceHook struct{}

func (traceHook) SIPTraceRead(_, laddr, raddr string, msg []byte) {
	tracer.Lock()
	l := tracer.byAddr[laddr]
	tracer.Unlock()
	if l != nil {
		l.add("recv", raddr, msg)
	}
}

func (traceHook) SIPTraceWrite(_, laddr, raddr string, msg []byte) {
	tracer.Lock()
	l := tracer.byAddr[laddr]
	tracer.Unlock()
	if l != nil {
		l.add("send", raddr, msg)
	}
}

// The hook is installed before any transport runs: sipgo reads it
// without synchronisation. Messages on addresses no PBX traces cost a
// map lookup.
func init() {
	sip.SIPDebugTracer(traceHook{})
	sip.SIPDebug = true
}

// traceAddr starts keeping the ladder of messages on local address addr.
func traceAddr(addr string, l *ladder) {
	tracer.Lock()
	tracer.byAddr[addr] = l
	tracer.Unlock()
}

func untraceAddr(addr string) {
	tracer.Lock()
	delete(tracer.byAddr, addr)
	tracer.Unlock()
}

// add records the messages in b (a datagram, or a TCP read that may hold
// several messages or part of one; parts are skipped).
func (l *ladder) add(dir, peer string, b []byte) {
	for len(b) > 0 {
		end := bytes.Index(b, []byte("\r\n\r\n"))
		if end < 0 {
			return
		}
		head := string(b[:end])
		n := end + 4
		if cl := headerValue(head, "Content-Length", "l"); cl != "" {
			if v, err := strconv.Atoi(cl); err == nil && v > 0 {
				n += v
			}
		}
		l.line(dir, peer, head)
		if n >= len(b) {
			return
		}
		b = b[n:]
	}
}

func (l *ladder) line(dir, peer, head string) {
	first, _, _ := strings.Cut(head, "\r\n")
	callID := headerValue(head, "Call-ID", "i")
	if callID == "" || first == "" {
		return
	}
	msg := first
	cseq := strings.Fields(headerValue(head, "CSeq", ""))
	var seq uint32
	if len(cseq) == 2 {
		if n, err := strconv.ParseUint(cseq[0], 10, 32); err == nil {
			seq = uint32(n)
		}
	}
	if f := strings.Fields(first); len(f) >= 2 {
		if strings.HasPrefix(f[0], "SIP/") {
			method := ""
			if len(cseq) == 2 {
				method = cseq[1]
			}
			msg = f[1] + " " + method
		} else {
			msg = f[0]
		}
	}
	l.mu.Lock()
	if _, seen := l.calls[callID]; !seen {
		l.order = append(l.order, callID)
	}
	ln := LadderLine{Time: l.now(), Dir: dir, Peer: peer, Message: msg, CSeq: seq}
	lines := l.calls[callID]
	at := len(lines)
	if dir == "send" && !strings.Contains(msg, " ") {
		at = answeredAt(lines, ln)
	}
	l.calls[callID] = slices.Insert(lines, at, ln)
	l.mu.Unlock()
}

// answeredAt is where a request the PBX sent belongs: before a response
// to it that was read before sipgo reported the write (the far end can
// answer before the writing goroutine gets back), else at the end. A
// retransmission, whose first copy is listed already, goes at the end.
func answeredAt(lines []LadderLine, req LadderLine) int {
	for i, ln := range lines {
		if ln.CSeq != req.CSeq {
			continue
		}
		if ln.Dir == "send" && ln.Message == req.Message {
			return len(lines)
		}
		if code, method, ok := strings.Cut(ln.Message, " "); ok && ln.Dir == "recv" && method == req.Message && code != "" {
			return i
		}
	}
	return len(lines)
}

// headerValue is the value of header name (or its compact form) in head.
func headerValue(head, name, compact string) string {
	for _, line := range strings.Split(head, "\r\n")[1:] {
		k, v, ok := strings.Cut(line, ":")
		if !ok {
			continue
		}
		k = strings.TrimSpace(k)
		if strings.EqualFold(k, name) || (compact != "" && strings.EqualFold(k, compact)) {
			return strings.TrimSpace(v)
		}
	}
	return ""
}

// Ladder is the SIP exchange of one leg (by its Call-ID) as the PBX saw
// it, in order; nil unless Config.Ladder is set.
func (p *PBX) Ladder(callID string) []LadderLine {
	if p.ladder == nil {
		return nil
	}
	p.ladder.mu.Lock()
	defer p.ladder.mu.Unlock()
	return append([]LadderLine(nil), p.ladder.calls[callID]...)
}

// LadderCallIDs lists the Call-IDs the PBX has seen, in the order of
// their first message: every leg a test may want the ladder of.
func (p *PBX) LadderCallIDs() []string {
	if p.ladder == nil {
		return nil
	}
	p.ladder.mu.Lock()
	defer p.ladder.mu.Unlock()
	return append([]string(nil), p.ladder.order...)
}
