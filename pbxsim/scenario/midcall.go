package scenario

import (
	"context"
	"errors"
	"fmt"

	"github.com/callhook/callhook/pbxsim/phone"
)

// AdminWorld is a World whose PBX takes administrative changes and queue
// agent changes, as a PBX's administrator or an agent's phone makes them.
type AdminWorld interface {
	World
	Admin(ctx context.Context, a AdminStep) error
	Agent(ctx context.Context, a AgentStep) error
}

// OriginateWorld is a World whose PBX places calls on request (AMI
// Originate).
type OriginateWorld interface {
	World
	// Originate has the PBX place a call from ext to number and returns
	// once ext's phone has the call.
	Originate(ctx context.Context, ext, number string) (*phone.Call, error)
}

// ErrNoLeg is returned when a step names a phone that has no side of the
// call up.
var ErrNoLeg = errors.New("scenario: no such leg")

// leg finds ext's side of call id: the call itself when ext placed it (or
// ext is empty), else the oldest up call on ext's phone that the scenario
// did not place (the PBX rang the phone for it).
func leg(w World, calls map[string]*placed, id, ext string) (*phone.Call, error) {
	pc := calls[id]
	if ext == "" || pc.from == ext {
		return pc.call, nil
	}
	ph, ok := w.Phone(ext)
	if !ok {
		return nil, fmt.Errorf("call %s: no phone for extension %s: %w", id, ext, ErrNoLeg)
	}
	own := map[*phone.Call]bool{}
	for _, c := range calls {
		own[c.call] = true
	}
	for _, c := range ph.Calls() {
		if c.Up() && !own[c] {
			return c, nil
		}
	}
	return nil, fmt.Errorf("call %s: extension %s has no answered call: %w", id, ext, ErrNoLeg)
}

// midCall plays transfer, hold, unhold, t38, drop, reconnect, dtmf,
// originate, admin and agent steps.
func (r *Runner) midCall(ctx context.Context, w World, calls map[string]*placed, st Step) error {
	switch {
	case st.Transfer != nil:
		t := st.Transfer
		c, err := leg(w, calls, t.Call, t.By)
		if err != nil {
			return err
		}
		if t.To != "" {
			err = c.BlindTransfer(ctx, t.To)
		} else {
			err = c.AttendedTransfer(ctx, calls[t.Attended].call)
		}
		switch {
		case t.Fails && err == nil:
			return fmt.Errorf("transfer %s: succeeded, the scenario expects it to fail", t.Call)
		case t.Fails && errors.Is(err, phone.ErrTransferFailed):
			return nil
		case err != nil:
			return fmt.Errorf("transfer %s: %w", t.Call, err)
		}
	case st.Hold != nil, st.Unhold != nil:
		l, hold := st.Hold, true
		if l == nil {
			l, hold = st.Unhold, false
		}
		c, err := leg(w, calls, l.Call, l.By)
		if err != nil {
			return err
		}
		if hold {
			err = c.Hold(ctx)
		} else {
			err = c.Unhold(ctx)
		}
		if err != nil {
			return fmt.Errorf("hold %s: %w", l.Call, err)
		}
	case st.T38 != nil:
		c, err := leg(w, calls, st.T38.Call, st.T38.By)
		if err != nil {
			return err
		}
		if err := c.SwitchToT38(ctx); err != nil {
			return fmt.Errorf("t38 on %s: %w", st.T38.Call, err)
		}
	case st.Drop != nil:
		c, err := leg(w, calls, st.Drop.Call, st.Drop.By)
		if err != nil {
			return err
		}
		if err := c.Hangup(ctx); err != nil {
			return fmt.Errorf("drop %s by %s: %w", st.Drop.Call, st.Drop.By, err)
		}
	case st.Reconnect != nil:
		l := st.Reconnect
		c, err := leg(w, calls, l.Call, l.By)
		if err != nil {
			return err
		}
		ext := l.By
		if ext == "" {
			ext = calls[l.Call].from
		}
		ph, ok := w.Phone(ext)
		if !ok {
			return fmt.Errorf("reconnect %s: no phone for %q: %w", l.Call, ext, ErrNoLeg)
		}
		back, err := ph.Reconnect(ctx, c)
		if err != nil {
			return fmt.Errorf("reconnect %s: %w", l.Call, err)
		}
		if pc := calls[l.Call]; pc.call == c {
			pc.call = back
		}
		select {
		case <-back.Answered():
		case <-back.Done():
			code, reason := back.Status()
			return fmt.Errorf("reconnect %s: %d %s", l.Call, code, reason)
		case <-ctx.Done():
			return ctx.Err()
		}
	case st.DTMF != nil:
		d := st.DTMF
		c, err := leg(w, calls, d.Call, d.By)
		if err != nil {
			return err
		}
		if err := c.SendDTMF(ctx, d.Digits, d.Method); err != nil {
			select {
			case <-c.Done():
				// The PBX ended the call on the keys (a transfer code
				// hangs the transferer up); the expectations judge
				// whether it heard them all.
				r.logger().Debug("call ended during key presses", "call", d.Call, "digits", d.Digits, "err", err)
			default:
				return fmt.Errorf("dtmf on %s: %w", d.Call, err)
			}
		}
	case st.Originate != nil:
		o := st.Originate
		ow, ok := w.(OriginateWorld)
		if !ok {
			return errors.New("originate steps need a PBX that takes AMI Originate")
		}
		c, err := ow.Originate(ctx, o.Ext, o.To)
		if err != nil {
			return fmt.Errorf("originate %s: %w", o.ID, err)
		}
		calls[o.ID] = &placed{call: c, from: o.Ext}
	case st.Admin != nil, st.Agent != nil:
		aw, ok := w.(AdminWorld)
		if !ok {
			return errors.New("admin and agent steps need a PBX that takes them")
		}
		if st.Admin != nil {
			return aw.Admin(ctx, *st.Admin)
		}
		return aw.Agent(ctx, *st.Agent)
	}
	return nil
}
