// Package sim assembles a complete simulated PBX: the SIP core with its
// default topology, its AMI server, and a registered scripted phone for
// every extension, ready to play scenarios. It is what `callhook sim run`,
// `callhook demo` and the conformance suites start.
package sim

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"strconv"
	"sync/atomic"
	"time"

	"github.com/callhook/callhook/pbxsim/ami"
	"github.com/callhook/callhook/pbxsim/callcontrol"
	"github.com/callhook/callhook/pbxsim/esl"
	"github.com/callhook/callhook/pbxsim/pbx"
	"github.com/callhook/callhook/pbxsim/phone"
	"github.com/callhook/callhook/pbxsim/scenario"
)

// Config says how to start the simulator. The zero value is usable.
type Config struct {
	// SIPAddr and AMIAddr default to 127.0.0.1:0.
	SIPAddr, AMIAddr string
	// Transport the phones use: "udp" (default) or "tcp".
	Transport string
	// AMIUser and AMISecret default to "admin" / "secret".
	AMIUser, AMISecret string
	// Speed plays scenarios faster: timers run Speed times faster and the
	// PBX's clock (the Timestamp of its events) runs Speed times faster
	// too, so the engine sees the scenario's own durations. Default 1.
	Speed float64
	// Recordings is the folder answered conversations are recorded to as
	// WAV files (one per link, as MixMonitor names them); empty records
	// nothing (MixMonitor is still announced).
	Recordings string
	// Topology defaults to pbx.DefaultTopology.
	Topology *pbx.Config
	Logger   *slog.Logger
	// ESLAddr, when set, also serves FreeSWITCH's event socket there
	// (pbxsim/esl), translated from the same PBX events as the AMI;
	// "127.0.0.1:0" picks a port. ESLPassword defaults to
	// esl.DefaultPassword.
	ESLAddr, ESLPassword string
	// ESLOriginate makes scenarios' originate steps ask the event socket
	// (bgapi originate) rather than the AMI, as a CRM of a FreeSWITCH
	// would.
	ESLOriginate bool
	// ThreeCXAddr, when set, also serves the PBX as 3CX v20's Call
	// Control API and XAPI do (pbxsim/callcontrol), e.g. "127.0.0.1:0".
	ThreeCXAddr string
}

// Sim is a running simulator.
type Sim struct {
	cfg    Config
	pbx    *pbx.PBX
	ami    *ami.Server
	esl    *esl.Server         // nil unless Config.ESLAddr is set
	cc     *callcontrol.Server // nil unless Config.ThreeCXAddr
	phones map[string]*phone.Phone
	// carrier answers the trunk's outbound calls (any outside number).
	carrier *phone.Phone
	runner  scenario.Runner
	syncs   atomic.Int64
	now     func() time.Time
}

// Start starts the AMI server, the PBX and the phones, and returns once
// every phone is registered.
func Start(ctx context.Context, cfg Config) (*Sim, error) {
	if cfg.SIPAddr == "" {
		cfg.SIPAddr = "127.0.0.1:0"
	}
	if cfg.AMIAddr == "" {
		cfg.AMIAddr = "127.0.0.1:0"
	}
	if cfg.Transport == "" {
		cfg.Transport = "udp"
	}
	if cfg.AMIUser == "" {
		cfg.AMIUser, cfg.AMISecret = "admin", "secret"
	}
	if cfg.Speed <= 0 {
		cfg.Speed = 1
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.DiscardHandler)
	}
	now := clock(cfg.Speed)
	s := &Sim{now: now, cfg: cfg, phones: map[string]*phone.Phone{}, runner: scenario.Runner{Speed: cfg.Speed, Logger: cfg.Logger}}

	var started atomic.Pointer[pbx.PBX]
	actions := queueActions(started.Load)
	// Hangup: the manager hangs up a channel of a bridged call (pbx.Hangup).
	actions["Hangup"] = func(req ami.Message) []ami.Message {
		p := started.Load()
		if p == nil {
			return []ami.Message{ami.Error(req, "PBX not ready")}
		}
		ch := req.Get("Channel")
		if ch == "" {
			return []ami.Message{ami.Error(req, "No channel specified")}
		}
		if err := p.Hangup(ch); err != nil {
			return []ami.Message{ami.Error(req, "No such channel")}
		}
		return []ami.Message{ami.Success(req, "Channel Hungup")}
	}
	// Originate: the extension's phone places the call (pbx.Originate).
	actions["Originate"] = func(req ami.Message) []ami.Message {
		p := started.Load()
		if p == nil {
			return []ami.Message{ami.Error(req, "PBX not ready")}
		}
		msg, err := p.Originate(req.Get, func(ext, number string) error {
			ph, ok := s.phones[ext]
			if !ok {
				return pbx.ErrOriginateChannel
			}
			_, err := ph.Dial(context.WithoutCancel(ctx), number)
			return err
		})
		if err != nil {
			return []ami.Message{ami.Error(req, err.Error())}
		}
		return []ami.Message{ami.Success(req, msg)}
	}
	srv, err := ami.NewServer(ami.Config{
		Actions:         actions,
		Addr:            cfg.AMIAddr,
		Users:           map[string]string{cfg.AMIUser: cfg.AMISecret},
		TimestampEvents: true,
		Logger:          cfg.Logger.With("component", "ami"),
		Now:             now,
	})
	if err != nil {
		return nil, fmt.Errorf("start simulator: %w", err)
	}
	if err := srv.Start(ctx); err != nil {
		return nil, fmt.Errorf("start simulator AMI on %s: %w", cfg.AMIAddr, err)
	}
	s.ami = srv

	topo := pbx.DefaultTopology()
	if cfg.Topology != nil {
		topo = *cfg.Topology
	}
	topo.Addr = cfg.SIPAddr
	if cfg.Recordings != "" {
		topo.Recordings = cfg.Recordings
	}
	topo.Observer = srv
	// Every front-end sees every PBX event, in one order.
	observers := []pbx.Observer{srv}
	if cfg.ESLAddr != "" {
		es, err := s.startESL(ctx, started.Load)
		if err != nil {
			s.Close()
			return nil, err
		}
		observers = append(observers, es)
	}
	if cfg.ThreeCXAddr != "" {
		s.cc = callcontrol.New(callcontrol.Config{
			Addr: cfg.ThreeCXAddr, Topology: topo, Now: now, Logger: cfg.Logger,
			MakeCall: func(ctx context.Context, ext, number string) error {
				ph, ok := s.phones[ext]
				if !ok {
					return fmt.Errorf("makecall from %s: no device", ext)
				}
				_, err := ph.Dial(context.WithoutCancel(ctx), number)
				return err
			},
			Hangup: func(channel string) error { return started.Load().Hangup(channel) },
		})
		if err := s.cc.Start(ctx); err != nil {
			s.Close()
			return nil, fmt.Errorf("start simulator 3CX on %s: %w", cfg.ThreeCXAddr, err)
		}
		observers = append(observers, s.cc)
	}
	if len(observers) > 1 {
		topo.Observer = pbx.ObserverFunc(func(e pbx.Event) {
			for _, o := range observers {
				o.PBXEvent(e)
			}
		})
	}
	topo.Logger = cfg.Logger.With("component", "pbx")
	topo.Now = now
	dids := make([]pbx.DID, len(topo.DIDs))
	for i, d := range topo.DIDs {
		d.RingTimeout = time.Duration(float64(d.RingTimeout) / cfg.Speed)
		dids[i] = d
	}
	topo.DIDs = dids
	queues := make([]pbx.Queue, len(topo.Queues))
	for i, q := range topo.Queues {
		scale := func(d, def time.Duration) time.Duration {
			if d <= 0 {
				d = def
			}
			return time.Duration(float64(d) / cfg.Speed)
		}
		q.MemberTimeout = scale(q.MemberTimeout, pbx.DefaultMemberTimeout)
		q.Retry = scale(q.Retry, pbx.DefaultQueueRetry)
		q.Timeout = scale(q.Timeout, pbx.DefaultQueueTimeout)
		q.Members = append([]pbx.QueueMember(nil), q.Members...)
		queues[i] = q
	}
	topo.Queues = queues
	groups := make([]pbx.RingGroup, len(topo.RingGroups))
	for i, g := range topo.RingGroups {
		if g.RingTimeout <= 0 {
			g.RingTimeout = pbx.DefaultRingTimeout
		}
		g.RingTimeout = time.Duration(float64(g.RingTimeout) / cfg.Speed)
		g.Members = append([]string(nil), g.Members...)
		groups[i] = g
	}
	topo.RingGroups = groups
	ivrs := make([]pbx.IVR, len(topo.IVRs))
	for i, m := range topo.IVRs {
		if m.Timeout <= 0 {
			m.Timeout = pbx.DefaultIVRTimeout
		}
		m.Timeout = time.Duration(float64(m.Timeout) / cfg.Speed)
		ivrs[i] = m
	}
	topo.IVRs = ivrs
	if topo.InternalRingTimeout <= 0 {
		topo.InternalRingTimeout = pbx.DefaultInternalRingTimeout
	}
	topo.InternalRingTimeout = time.Duration(float64(topo.InternalRingTimeout) / cfg.Speed)
	trunk := pbx.Trunk{Transport: cfg.Transport, RingTimeout: pbx.DefaultOutboundRingTimeout}
	if topo.Trunk != nil {
		trunk = *topo.Trunk
		if trunk.RingTimeout <= 0 {
			trunk.RingTimeout = pbx.DefaultOutboundRingTimeout
		}
	}
	trunk.RingTimeout = time.Duration(float64(trunk.RingTimeout) / cfg.Speed)
	topo.Trunk = nil
	p, err := pbx.New(topo)
	if err != nil {
		s.Close()
		return nil, fmt.Errorf("start simulator: %w", err)
	}
	if err := p.Start(ctx); err != nil {
		s.Close()
		return nil, fmt.Errorf("start simulator SIP on %s: %w", cfg.SIPAddr, err)
	}
	s.pbx = p
	started.Store(p)

	// The carrier: the far end of the trunk, where 9 + number goes.
	if trunk.Addr == "" {
		carrier, err := phone.New(ctx, phone.Config{
			User: "carrier", Server: p.Addr(), Transport: cfg.Transport, Speed: cfg.Speed,
			Logger: cfg.Logger.With("component", "carrier"),
		})
		if err != nil {
			s.Close()
			return nil, fmt.Errorf("start carrier: %w", err)
		}
		s.carrier = carrier
		trunk.Addr = carrier.Addr()
	}
	p.SetTrunk(trunk)

	for _, ext := range topo.Extensions {
		ph, err := phone.New(ctx, phone.Config{
			User: ext.Number, DisplayName: ext.Name, Password: ext.Password,
			Server: p.Addr(), Transport: cfg.Transport, Speed: cfg.Speed,
			Logger: cfg.Logger.With("component", "phone", "ext", ext.Number),
		})
		if err != nil {
			s.Close()
			return nil, fmt.Errorf("start phone %s: %w", ext.Number, err)
		}
		s.phones[ext.Number] = ph
		if err := ph.Register(ctx); err != nil {
			s.Close()
			return nil, fmt.Errorf("register phone %s: %w", ext.Number, err)
		}
	}
	return s, nil
}

// clock runs speed times faster than the wall clock from now on.
func clock(speed float64) func() time.Time {
	start := time.Now()
	return func() time.Time {
		return start.Add(time.Duration(float64(time.Since(start)) * speed))
	}
}

// AMIAddr is the AMI server's address.
func (s *Sim) AMIAddr() string { return s.ami.Addr() }

// AMIUser and AMISecret are the AMI credentials.
func (s *Sim) AMIUser() string   { return s.cfg.AMIUser }
func (s *Sim) AMISecret() string { return s.cfg.AMISecret }

// DropAMI cuts every manager session (the engine's among them) as a
// network failure would; clients reconnect.
func (s *Sim) DropAMI() { s.ami.DropSessions() }

// AMI is the manager interface (Hold and Release keep clients out for a
// while).
func (s *Sim) AMI() *ami.Server { return s.ami }

// ThreeCX is the 3CX Call Control front-end, nil unless
// Config.ThreeCXAddr was set.
func (s *Sim) ThreeCX() *callcontrol.Server { return s.cc }

// DropThreeCX cuts every 3CX WebSocket as a network failure would.
func (s *Sim) DropThreeCX() {
	if s.cc != nil {
		s.cc.DropSessions()
	}
}

// PBXAddr is the PBX's SIP address.
func (s *Sim) PBXAddr() string { return s.pbx.Addr() }

// Transport is the phones' SIP transport.
func (s *Sim) Transport() string { return s.cfg.Transport }

// Phone is an extension's registered phone.
func (s *Sim) Phone(ext string) (*phone.Phone, bool) {
	p, ok := s.phones[ext]
	return p, ok
}

// Carrier is the user agent at the far end of the trunk: it rings for
// every outside number an extension dials.
func (s *Sim) Carrier() *phone.Phone { return s.carrier }

// PBX is the simulated PBX.
func (s *Sim) PBX() *pbx.PBX { return s.pbx }

// Play runs one scenario.
func (s *Sim) Play(ctx context.Context, sc *scenario.Scenario) error {
	if s.cfg.ESLOriginate && s.esl != nil {
		return s.runner.Run(ctx, eslWorld{s}, sc)
	}
	return s.runner.Run(ctx, s, sc)
}

// Sync waits until the PBX has finished every call, then raises the
// engine's barrier user event on the AMI stream, after every event of what
// was played so far, and returns its token.
func (s *Sim) Sync(ctx context.Context) (string, error) {
	if err := s.pbx.WaitIdle(ctx); err != nil {
		return "", err
	}
	token := strconv.FormatInt(s.syncs.Add(1), 10)
	ev := pbx.Event{
		Name: "UserEvent",
		Time: s.now(),
		Fields: []pbx.Field{
			{Key: "UserEvent", Value: "CallhookSync"},
			{Key: "Token", Value: token},
		},
	}
	s.ami.PBXEvent(ev)
	if s.esl != nil {
		s.esl.Flush()
		s.esl.PBXEvent(ev)
	}
	if s.cc != nil {
		s.cc.Barrier(token)
	}
	return token, nil
}

// Close stops phones, PBX and AMI server.
func (s *Sim) Close() error {
	var errs []error
	for _, p := range s.phones {
		errs = append(errs, p.Close())
	}
	if s.carrier != nil {
		errs = append(errs, s.carrier.Close())
	}
	if s.pbx != nil {
		errs = append(errs, s.pbx.Close())
	}
	if s.ami != nil {
		errs = append(errs, s.ami.Close())
	}
	if s.esl != nil {
		errs = append(errs, s.esl.Close())
	}
	if s.cc != nil {
		errs = append(errs, s.cc.Close())
	}
	return errors.Join(errs...)
}

// startESL starts the event socket front-end: originate has an
// extension's phone place the call, uuid_kill hangs up through the PBX.
func (s *Sim) startESL(ctx context.Context, get func() *pbx.PBX) (*esl.Server, error) {
	cfg := s.cfg
	es, err := esl.NewServer(esl.Config{
		Addr: cfg.ESLAddr, Password: cfg.ESLPassword, RecordingsDir: cfg.Recordings,
		Logger: cfg.Logger.With("component", "esl"), Now: s.now,
		Originate: func(octx context.Context, ext, number, _ string) error {
			ph, ok := s.phones[ext]
			if !ok {
				return fmt.Errorf("originate from %s: %w", ext, pbx.ErrOriginateChannel)
			}
			_, err := ph.Dial(context.WithoutCancel(ctx), number)
			return err
		},
		Hangup: func(channel string) error {
			p := get()
			if p == nil {
				return errors.New("PBX not ready")
			}
			return p.Hangup(channel)
		},
	})
	if err != nil {
		return nil, fmt.Errorf("start simulator: %w", err)
	}
	if err := es.Start(ctx); err != nil {
		return nil, fmt.Errorf("start simulator event socket on %s: %w", cfg.ESLAddr, err)
	}
	s.esl = es
	return es, nil
}

// ESL is the event socket front-end, nil unless Config.ESLAddr was set.
func (s *Sim) ESL() *esl.Server { return s.esl }

// ESLAddr is the event socket's address ("" without one).
func (s *Sim) ESLAddr() string {
	if s.esl == nil {
		return ""
	}
	return s.esl.Addr()
}

// ESLPassword is the event socket's password.
func (s *Sim) ESLPassword() string {
	if s.esl == nil {
		return ""
	}
	return s.esl.Password()
}

// DropESL cuts every event socket client, as a network failure would.
func (s *Sim) DropESL() {
	if s.esl != nil {
		s.esl.DropSessions()
	}
}

// eslWorld is the simulator as a scenario world whose originate steps go
// through the event socket.
type eslWorld struct{ *Sim }

// Originate asks the event socket to place the call (bgapi originate)
// and returns ext's phone's new call.
func (w eslWorld) Originate(ctx context.Context, ext, number string) (*phone.Call, error) {
	ph, ok := w.phones[ext]
	if !ok {
		return nil, fmt.Errorf("originate from %s: no such extension", ext)
	}
	before := map[*phone.Call]bool{}
	for _, c := range ph.Calls() {
		before[c] = true
	}
	if _, err := esl.Originate(ctx, w.ESLAddr(), w.ESLPassword(), ext, number); err != nil {
		return nil, err
	}
	tick := time.NewTicker(5 * time.Millisecond)
	defer tick.Stop()
	for {
		for _, c := range ph.Calls() {
			if !before[c] && c.Outgoing() {
				return c, nil
			}
		}
		select {
		case <-ctx.Done():
			return nil, fmt.Errorf("originate: %s placed no call: %w", ext, ctx.Err())
		case <-tick.C:
		}
	}
}
