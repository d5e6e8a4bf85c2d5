package realpbx

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"strconv"
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
	runner  scenario.Runner
	syncs   atomic.Int64
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
	return errors.Join(errs...)
}
