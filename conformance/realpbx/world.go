package realpbx

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"sort"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/callhook/callhook/pbxsim/phone"
	"github.com/callhook/callhook/pbxsim/scenario"
)

// World is the scripted phones registered on a real Asterisk: one per
// extension of fixtures/asterisk, and the carrier at the far end of the
// trunk. It implements scenario.World and scenario.CarrierWorld, so the
// scenarios play on it as they do on the simulator.
type World struct {
	target  *Target
	phones  map[string]*phone.Phone
	carrier *phone.Phone
	ami     *amiConn
	watch   *cdrWatch
	runner  scenario.Runner
	syncs   atomic.Int64
}

// cdrWatch follows an AMI session with events on: the channels created,
// those that hung up and those the Cdr events name (Channel,
// DestinationChannel). Asterisk publishes a channel's Hangup and its
// records asynchronously, after the channel is gone from
// CoreShowChannels (scenario-outbound-busy.log has the last Cdr 1 ms
// before the sync event), so Sync also waits until every channel created
// hung up and is named by a record: in every capture of
// fixtures/ami/asterisk22 each one is.
type cdrWatch struct {
	c       *amiConn
	mu      sync.Mutex
	created map[string]bool
	hungUp  map[string]bool
	inCdr   map[string]bool
	pauses  map[string]int // Interface + " " + Paused of QueueMemberPause events seen
	changed chan struct{}
	done    chan struct{}
}

func watchCdrs(c *amiConn) *cdrWatch {
	w := &cdrWatch{c: c, created: map[string]bool{}, hungUp: map[string]bool{}, inCdr: map[string]bool{},
		pauses: map[string]int{}, changed: make(chan struct{}), done: make(chan struct{})}
	go func() {
		defer close(w.done)
		for {
			m, err := c.read()
			if err != nil {
				return
			}
			w.mu.Lock()
			switch m["Event"] {
			case "Newchannel":
				w.created[m["Channel"]] = true
			case "Hangup":
				w.hungUp[m["Channel"]] = true
			case "Cdr":
				w.inCdr[m["Channel"]] = true
				w.inCdr[m["DestinationChannel"]] = true
			case "QueueMemberPause":
				w.pauses[m["Interface"]+" "+m["Paused"]]++
			default:
				w.mu.Unlock()
				continue
			}
			close(w.changed)
			w.changed = make(chan struct{})
			w.mu.Unlock()
		}
	}()
	return w
}

// unrecorded lists the channels created that have not both hung up and
// been named by a Cdr yet, and a channel that is closed when that may
// have changed.
func (w *cdrWatch) unrecorded() ([]string, <-chan struct{}) {
	w.mu.Lock()
	defer w.mu.Unlock()
	var out []string
	for ch := range w.created {
		if !w.hungUp[ch] || !w.inCdr[ch] {
			out = append(out, ch)
		}
	}
	for ch := range w.hungUp {
		if !w.created[ch] && !w.inCdr[ch] {
			out = append(out, ch)
		}
	}
	sort.Strings(out)
	return out, w.changed
}

// pausesSeen counts the QueueMemberPause events seen for iface with
// Paused paused, and returns a channel closed when that may have changed.
func (w *cdrWatch) pausesSeen(iface, paused string) (int, <-chan struct{}) {
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.pauses[iface+" "+paused], w.changed
}

// NewWorld starts and registers the phones and the carrier, and opens the
// AMI session it raises sync events on.
func NewWorld(ctx context.Context, t *Target, log *slog.Logger) (*World, error) {
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	w := &World{target: t, phones: map[string]*phone.Phone{}, runner: scenario.Runner{Speed: 1, Logger: log}}
	ami, err := dialAMI(ctx, t.AMI, t.AMIUser, t.AMISecret, false)
	if err != nil {
		return nil, err
	}
	w.ami = ami
	events, err := dialAMI(ctx, t.AMI, t.AMIUser, t.AMISecret, true)
	if err != nil {
		ami.Close()
		return nil, err
	}
	w.watch = watchCdrs(events)
	for _, ext := range Extensions {
		p, err := phone.New(ctx, phone.Config{
			User: ext.Number, DisplayName: ext.Name, Password: ext.Password,
			Server: t.SIP, Transport: t.Transport, Logger: log.With("ext", ext.Number),
		})
		if err != nil {
			w.Close()
			return nil, fmt.Errorf("start phone %s: %w", ext.Number, err)
		}
		w.phones[ext.Number] = p
		if err := p.Register(ctx); err != nil {
			w.Close()
			return nil, fmt.Errorf("register phone %s at %s: %w", ext.Number, t.SIP, err)
		}
	}
	// The carrier registers its contact on the trunk's AOR "carrier", where
	// the dialplan's 9 + number goes.
	c, err := phone.New(ctx, phone.Config{User: "carrier", Server: t.SIP, Transport: t.Transport, Logger: log.With("ext", "carrier")})
	if err != nil {
		w.Close()
		return nil, fmt.Errorf("start carrier: %w", err)
	}
	w.carrier = c
	if err := c.Register(ctx); err != nil {
		w.Close()
		return nil, fmt.Errorf("register carrier at %s: %w", t.SIP, err)
	}
	return w, nil
}

// PBXAddr is Asterisk's SIP address.
func (w *World) PBXAddr() string { return w.target.SIP }

// Transport is the phones' SIP transport.
func (w *World) Transport() string { return w.target.Transport }

// Phone is an extension's registered phone.
func (w *World) Phone(ext string) (*phone.Phone, bool) {
	p, ok := w.phones[ext]
	return p, ok
}

// Carrier rings for every outside number an extension dials.
func (w *World) Carrier() *phone.Phone { return w.carrier }

// Play runs one scenario in real time (a real PBX's timers cannot be sped
// up).
func (w *World) Play(ctx context.Context, sc *scenario.Scenario) error {
	return w.runner.Run(ctx, w, sc)
}

// Sync waits until Asterisk has no channel left, then raises the engine's
// barrier user event (CallhookSync) through AMI and returns its token.
func (w *World) Sync(ctx context.Context) (string, error) {
	for {
		n, err := w.ami.channels()
		if err != nil {
			return "", err
		}
		if n == 0 {
			break
		}
		t := time.NewTimer(100 * time.Millisecond)
		select {
		case <-ctx.Done():
			t.Stop()
			return "", fmt.Errorf("wait for %d channel(s) to end: %w", n, ctx.Err())
		case <-t.C:
		}
	}
	dl := time.NewTimer(15 * time.Second)
	defer dl.Stop()
	for {
		missing, changed := w.watch.unrecorded()
		if len(missing) == 0 {
			break
		}
		select {
		case <-changed:
		case <-w.watch.done:
			return "", fmt.Errorf("wait for the Cdrs of %v: AMI session ended", missing)
		case <-dl.C:
			return "", fmt.Errorf("channels %v: no Hangup or no Cdr naming them within 15 s of the PBX's last channel", missing)
		case <-ctx.Done():
			return "", fmt.Errorf("wait for the Cdrs of %v: %w", missing, ctx.Err())
		}
	}
	token := strconv.FormatInt(w.syncs.Add(1), 10)
	res, err := w.ami.action("UserEvent", "UserEvent", "CallhookSync", "Token", token)
	if err != nil {
		return "", err
	}
	if res["Response"] != "Success" {
		return "", fmt.Errorf("raise UserEvent CallhookSync: %s", res["Message"])
	}
	return token, nil
}

// Close unregisters nothing (Asterisk expires the contacts) and stops the
// phones and the AMI session.
func (w *World) Close() error {
	var errs []error
	for _, p := range w.phones {
		errs = append(errs, p.Close())
	}
	if w.carrier != nil {
		errs = append(errs, w.carrier.Close())
	}
	if w.ami != nil {
		errs = append(errs, w.ami.Close())
	}
	if w.watch != nil {
		errs = append(errs, w.watch.c.Close())
		<-w.watch.done
	}
	return errors.Join(errs...)
}

// managerAction runs one AMI action on the world's session and fails
// unless Asterisk answers Success.
func (w *World) managerAction(name string, kv ...string) error {
	res, err := w.ami.action(name, kv...)
	if err != nil {
		return err
	}
	if res["Response"] != "Success" {
		return fmt.Errorf("AMI %s: %s %s", name, res["Response"], res["Message"])
	}
	return nil
}

// Admin makes an administrative change as a provisioning system does on
// an Asterisk: Asterisk has no manager event for call forwarding or for
// extensions created and deleted, so the system stores the change (the
// forwarding target in AstDB, CF/<ext>) and tells the engine
// with the UserEvent action, raising the same CallhookForwarding and
// CallhookExtension events pbxsim raises (scenario.AdminWorld).
func (w *World) Admin(_ context.Context, a scenario.AdminStep) error {
	switch a.Action {
	case "forwarding-on":
		if err := w.managerAction("DBPut", "Family", "CF", "Key", a.Ext, "Val", a.Destination); err != nil {
			return err
		}
		return w.managerAction("UserEvent", "UserEvent", "CallhookForwarding", "Extension", a.Ext, "Status", "on",
			"Destination", a.Destination)
	case "forwarding-off":
		if err := w.managerAction("DBDel", "Family", "CF", "Key", a.Ext); err != nil {
			return err
		}
		return w.managerAction("UserEvent", "UserEvent", "CallhookForwarding", "Extension", a.Ext, "Status", "off")
	case "extension-create":
		return w.managerAction("UserEvent", "UserEvent", "CallhookExtension", "Extension", a.Ext, "Status", "created",
			"Name", a.Name)
	case "extension-delete":
		return w.managerAction("UserEvent", "UserEvent", "CallhookExtension", "Extension", a.Ext, "Status", "deleted")
	}
	return fmt.Errorf("admin: unknown action %q", a.Action)
}

// Agent logs a queue agent in or out (CallhookQueueLogin, raised with the
// UserEvent action as pbxsim raises it), or pauses them with app_queue's
// QueuePause (every queue when a.Queue is empty).
func (w *World) Agent(ctx context.Context, a scenario.AgentStep) error {
	switch a.Action {
	case "login", "logout":
		status := "out"
		if a.Action == "login" {
			status = "in"
		}
		kv := []string{"UserEvent", "CallhookQueueLogin", "Extension", a.Ext, "Status", status}
		if a.Queue != "" {
			kv = append(kv, "Queue", a.Queue)
		}
		return w.managerAction("UserEvent", kv...)
	case "pause", "unpause":
		kv := []string{"Interface", "PJSIP/" + a.Ext, "Paused", strconv.FormatBool(a.Action == "pause")}
		if a.Queue != "" {
			kv = append(kv, "Queue", a.Queue)
		}
		if a.Reason != "" {
			kv = append(kv, "Reason", a.Reason)
		}
		// app_queue publishes QueueMemberPause after it answered the
		// action, on another path than the UserEvent a sync raises next:
		// wait for it, so that no barrier overtakes it.
		paused := "0"
		if a.Action == "pause" {
			paused = "1"
		}
		before, _ := w.watch.pausesSeen("PJSIP/"+a.Ext, paused)
		if err := w.managerAction("QueuePause", kv...); err != nil {
			return err
		}
		return w.waitPause(ctx, "PJSIP/"+a.Ext, paused, before)
	}
	return fmt.Errorf("agent: unknown action %q", a.Action)
}

// waitPause waits until more than before QueueMemberPause events for
// iface with Paused paused have arrived.
func (w *World) waitPause(ctx context.Context, iface, paused string, before int) error {
	t := time.NewTimer(10 * time.Second)
	defer t.Stop()
	for {
		n, changed := w.watch.pausesSeen(iface, paused)
		if n > before {
			return nil
		}
		select {
		case <-changed:
		case <-w.watch.done:
			return fmt.Errorf("wait for QueueMemberPause %s Paused %s: AMI session ended", iface, paused)
		case <-t.C:
			return fmt.Errorf("no QueueMemberPause for %s with Paused %s within 10 s of QueuePause", iface, paused)
		case <-ctx.Done():
			return fmt.Errorf("wait for QueueMemberPause %s Paused %s: %w", iface, paused, ctx.Err())
		}
	}
}

// Originate asks Asterisk, as a CRM's click-to-call does, to place a call
// from ext to number (Action: Originate, Channel PJSIP/<ext>, Context
// from-internal, async). Asterisk first calls ext's phone, which answers
// at once (a click-to-call phone auto-answers), then runs the dialplan for
// number from that channel. It returns ext's side of the call once the
// far end (the carrier or another phone) answered, so that the scenario's
// "answered" means what it means on the simulator, where ext's phone
// dials the number itself (scenario.OriginateWorld).
func (w *World) Originate(ctx context.Context, ext, number string) (*phone.Call, error) {
	ph, ok := w.phones[ext]
	if !ok {
		return nil, fmt.Errorf("originate from %s: no such extension", ext)
	}
	others := []*phone.Phone{w.carrier}
	for n, p := range w.phones {
		if n != ext {
			others = append(others, p)
		}
	}
	before := map[*phone.Call]bool{}
	for _, p := range append(others, ph) {
		for _, c := range p.Calls() {
			before[c] = true
		}
	}
	ph.SetPolicy(phone.Policy{Mode: phone.AnswerAfter})
	if err := w.managerAction("Originate", "Channel", "PJSIP/"+ext, "Context", "from-internal", "Exten", number,
		"Priority", "1", "CallerID", ext, "Async", "true"); err != nil {
		return nil, fmt.Errorf("originate: %w", err)
	}
	ctx, cancel := context.WithTimeout(ctx, 60*time.Second)
	defer cancel()
	tick := time.NewTicker(20 * time.Millisecond)
	defer tick.Stop()
	var mine *phone.Call
	for {
		if mine == nil {
			for _, c := range ph.Calls() {
				if !before[c] && !c.Outgoing() {
					mine = c
				}
			}
		}
		if mine != nil {
			select {
			case <-mine.Done():
				code, reason := mine.Status()
				return nil, fmt.Errorf("originate: %s's call ended (%d %s) before %s answered", ext, code, reason, number)
			default:
			}
			for _, p := range others {
				for _, c := range p.Calls() {
					if !before[c] && c.Up() {
						return mine, nil
					}
				}
			}
		}
		select {
		case <-ctx.Done():
			if mine == nil {
				return nil, fmt.Errorf("originate: Asterisk did not call %s's phone: %w", ext, ctx.Err())
			}
			return nil, fmt.Errorf("originate: %s did not answer %s's call: %w", number, ext, ctx.Err())
		case <-tick.C:
		}
	}
}

// Channel is the name of the one channel of ext's device that is up now
// (PJSIP/<ext>-xxxxxxxx), as AMI actions on a call need it.
func (w *World) Channel(ext string) (string, error) {
	names, err := w.ami.channelNames()
	if err != nil {
		return "", err
	}
	var found []string
	for _, n := range names {
		if strings.HasPrefix(n, "PJSIP/"+ext+"-") {
			found = append(found, n)
		}
	}
	if len(found) != 1 {
		return "", fmt.Errorf("extension %s has %d channels (%v), want one", ext, len(found), found)
	}
	return found[0], nil
}

// Action runs one AMI action (Atxfer, CancelAtxfer, BlindTransfer, ...)
// on the world's session and fails unless Asterisk answers Success.
func (w *World) Action(name string, kv ...string) error { return w.managerAction(name, kv...) }

// UpCall is ext's phone's oldest call that is up: the leg the PBX rang it
// for, or the one it placed.
func (w *World) UpCall(ext string) (*phone.Call, error) {
	p, ok := w.phones[ext]
	if !ok {
		return nil, fmt.Errorf("no phone %s", ext)
	}
	for _, c := range p.Calls() {
		if c.Up() {
			return c, nil
		}
	}
	return nil, fmt.Errorf("extension %s has no call up", ext)
}
