package pbx

import (
	"encoding/binary"
	"fmt"
	"os"
	"path/filepath"
	"sync"

	"github.com/callhook/callhook/pbxsim/rtp"
)

// Recording, as the captures' sub-record subroutine does it: when a
// channel answers, Dial's U(sub-record) runs on it
//
//	NoOp(Recording answered call ${CHANNEL})
//	Set(MIXFILE=${STRFTIME(,,%Y%m%d-%H%M%S)}-${UNIQUEID}.wav)
//	MixMonitor(${MIXFILE},b)
//	Return()
//
// and the conversation (bridged audio only, option b) is mixed to mono
// 16-bit 8 kHz WAV from the PCMU RTP the PBX relays. The file is closed
// when the answering channel leaves the conversation. Asterisk raises
// MixMonitorStop only for StopMixMonitor, never on hangup (capture 01 has
// none), and pbxsim does the same.

// DefaultMonitorDir is where Asterisk's MixMonitor writes relative file
// names; the MIXMONITOR_FILENAME announced when Config.Recordings is empty.
const DefaultMonitorDir = "/var/spool/asterisk/monitor"

// mixFrame is how far one side may run ahead of the other before the
// other is taken as silent (60 ms, three frames).
const mixAhead = 3 * rtp.FrameSamples

// recording is one MixMonitor: two sides mixed into one WAV file.
type recording struct {
	mu     sync.Mutex
	f      *os.File
	path   string
	side   [2][]int16
	data   int64
	closed bool
}

// newRecording creates path and writes a WAV header whose sizes are
// patched on close.
func newRecording(path string) (*recording, error) {
	if err := os.MkdirAll(filepath.Dir(path), 0o750); err != nil {
		return nil, fmt.Errorf("create recording %s: %w", path, err)
	}
	f, err := os.Create(path)
	if err != nil {
		return nil, fmt.Errorf("create recording %s: %w", path, err)
	}
	if _, err := f.Write(wavHeader(0)); err != nil {
		f.Close()
		return nil, fmt.Errorf("write recording header %s: %w", path, err)
	}
	return &recording{f: f, path: path}, nil
}

// wavHeader is the 44-byte RIFF header of mono 16-bit 8 kHz PCM with
// dataLen bytes of samples.
func wavHeader(dataLen uint32) []byte {
	h := make([]byte, 44)
	copy(h[0:], "RIFF")
	binary.LittleEndian.PutUint32(h[4:], 36+dataLen)
	copy(h[8:], "WAVE")
	copy(h[12:], "fmt ")
	binary.LittleEndian.PutUint32(h[16:], 16)
	binary.LittleEndian.PutUint16(h[20:], 1) // PCM
	binary.LittleEndian.PutUint16(h[22:], 1) // mono
	binary.LittleEndian.PutUint32(h[24:], rtp.ClockRate)
	binary.LittleEndian.PutUint32(h[28:], rtp.ClockRate*2)
	binary.LittleEndian.PutUint16(h[32:], 2)
	binary.LittleEndian.PutUint16(h[34:], 16)
	copy(h[36:], "data")
	binary.LittleEndian.PutUint32(h[40:], dataLen)
	return h
}

// write adds one side's PCMU payload; mixed samples are written as soon
// as both sides have them, or when one side runs ahead by mixAhead.
func (r *recording) write(side int, payload []byte) {
	if r == nil {
		return
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.closed {
		return
	}
	for _, b := range payload {
		r.side[side] = append(r.side[side], rtp.LinearFromULaw(b))
	}
	other := 1 - side
	n := min(len(r.side[0]), len(r.side[1]))
	if ahead := len(r.side[side]) - len(r.side[other]); ahead > mixAhead {
		// The other side is silent (on hold, muted, not sending).
		r.side[other] = append(r.side[other], make([]int16, ahead-rtp.FrameSamples)...)
		n = min(len(r.side[0]), len(r.side[1]))
	}
	r.flush(n)
}

// flush mixes and writes the first n samples of both sides.
func (r *recording) flush(n int) {
	if n == 0 {
		return
	}
	buf := make([]byte, 2*n)
	for i := range n {
		var a, b int32
		if i < len(r.side[0]) {
			a = int32(r.side[0][i])
		}
		if i < len(r.side[1]) {
			b = int32(r.side[1][i])
		}
		binary.LittleEndian.PutUint16(buf[2*i:], uint16(int16(max(-32768, min(32767, a+b)))))
	}
	if _, err := r.f.Write(buf); err == nil {
		r.data += int64(len(buf))
	}
	for s := range r.side {
		if n >= len(r.side[s]) {
			r.side[s] = r.side[s][:0]
		} else {
			r.side[s] = append(r.side[s][:0], r.side[s][n:]...)
		}
	}
}

// close writes what is left, patches the header's sizes and closes the
// file. It is safe to call more than once.
func (r *recording) close() error {
	if r == nil {
		return nil
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.closed {
		return nil
	}
	r.closed = true
	r.flush(max(len(r.side[0]), len(r.side[1])))
	size := uint32(r.data)
	var sz [4]byte
	binary.LittleEndian.PutUint32(sz[:], 36+size)
	_, err1 := r.f.WriteAt(sz[:], 4)
	binary.LittleEndian.PutUint32(sz[:], size)
	_, err2 := r.f.WriteAt(sz[:], 40)
	err3 := r.f.Close()
	for _, err := range []error{err1, err2, err3} {
		if err != nil {
			return fmt.Errorf("close recording %s: %w", r.path, err)
		}
	}
	return nil
}

// mixFile is the sub-record file name for a channel answering now.
func (p *PBX) mixFile(ch *Channel) string {
	return fmt.Sprintf("%s-%s.wav", p.now().Format("20060102-150405"), ch.Uniqueid)
}

// subRecord plays the sub-record subroutine on ch (the answering
// channel) and starts recording the relay legs a and b. It returns nil
// when no recordings folder is configured (the events are raised all the
// same, as the dialplan runs either way).
func (p *PBX) subRecord(ch *Channel, a, b *relayLeg) *recording {
	file := p.mixFile(ch)
	full := filepath.Join(DefaultMonitorDir, file)
	if p.cfg.Recordings != "" {
		full = filepath.Join(p.cfg.Recordings, file)
	}
	ctx, exten, prio := ch.Context, ch.Exten, ch.Priority
	ch.Context, ch.Exten, ch.Priority = "sub-record", "s", 1
	p.chanEvent("VarSet", ch, Field{"Variable", "LOCAL(ARGC)"}, Field{"Value", "0"})
	p.newexten(ch, "NoOp", "Recording answered call "+ch.Name)
	ch.Priority = 2
	p.newexten(ch, "Set", "MIXFILE="+file)
	p.chanEvent("VarSet", ch, Field{"Variable", "MIXFILE"}, Field{"Value", file})
	ch.Priority = 3
	p.newexten(ch, "MixMonitor", file+",b")
	p.chanEvent("VarSet", ch, Field{"Variable", "MIXMONITOR_FILENAME"}, Field{"Value", full})
	p.chanEvent("MixMonitorStart", ch)
	ch.Priority = 4
	p.newexten(ch, "Return", "")
	ch.Context, ch.Exten, ch.Priority = ctx, exten, prio

	if p.cfg.Recordings == "" {
		return nil
	}
	rec, err := newRecording(full)
	if err != nil {
		p.log.Warn("recording not started", "file", full, "error", err)
		return nil
	}
	a.tap(rec, 0)
	b.tap(rec, 1)
	return rec
}

// startRecording records the call's conversation, announced on ch. Call
// with c.mu held.
func (c *call) startRecording(ch *Channel) {
	c.stopRecording()
	c.rec = c.p.subRecord(ch, c.mIn, c.mOut)
}

// stopRecording closes the call's recording, if any. Call with c.mu held.
func (c *call) stopRecording() {
	if c.rec == nil {
		return
	}
	c.mIn.untap(c.rec)
	c.mOut.untap(c.rec)
	if err := c.rec.close(); err != nil {
		c.p.log.Warn("recording", "error", err)
	}
	c.rec = nil
}
