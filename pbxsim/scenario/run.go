package scenario

import (
	"context"
	"fmt"
	"log/slog"
	"time"

	"github.com/callhook/callhook/pbxsim/phone"
)

// World is what a scenario plays against: a PBX and the phones registered
// on it.
type World interface {
	// PBXAddr is the PBX's SIP address (host:port).
	PBXAddr() string
	// Transport is "udp" or "tcp".
	Transport() string
	// Phone is the registered phone of an extension.
	Phone(ext string) (*phone.Phone, bool)
}

// CarrierWorld is a World with a user agent at the far end of the PBX's
// trunk; phones listed under an outside number set how it answers.
type CarrierWorld interface {
	World
	// Carrier rings for every outside number an extension dials.
	Carrier() *phone.Phone
}

// Runner plays scenarios.
type Runner struct {
	// Speed divides every scenario time (pauses, answer delays, timeouts);
	// 1 plays in real time. Zero means 1.
	Speed  float64
	Logger *slog.Logger
	// OnCaller, when set, is told of each user agent the run starts for
	// a caller outside the PBX, before it dials: its SIP address is
	// known to no one else (tests name the parties of a SIP ladder).
	OnCaller func(number string, p *phone.Phone)
}

func (r *Runner) scale(d time.Duration) time.Duration {
	if r.Speed <= 0 {
		return d
	}
	return time.Duration(float64(d) / r.Speed)
}

func (r *Runner) logger() *slog.Logger {
	if r.Logger == nil {
		return slog.New(slog.DiscardHandler)
	}
	return r.Logger
}

type placed struct {
	from   string // the extension that placed it, "" for an outside caller
	call   *phone.Call
	caller *phone.Phone // owned by the run when the caller is outside the PBX
}

// Run plays sc against w and returns when its last step is done.
func (r *Runner) Run(ctx context.Context, w World, sc *Scenario) error {
	log := r.logger().With("scenario", sc.Name)
	for ext, spec := range sc.Phones {
		p, ok := w.Phone(ext)
		if !ok {
			if cw, isCW := w.(CarrierWorld); isCW && cw.Carrier() != nil {
				p, ok = cw.Carrier(), true
			}
		}
		if !ok {
			return fmt.Errorf("scenario %s: no phone for extension %s", sc.Name, ext)
		}
		pol := phone.Policy{Mode: phone.NeverAnswer}
		switch {
		case spec.Reject != 0:
			pol = phone.Policy{Mode: phone.Reject, Code: spec.Reject}
		case spec.AnswerAfter != 0:
			pol = phone.Policy{Mode: phone.AnswerAfter, Delay: r.scale(spec.AnswerAfter.D())}
		}
		p.SetPolicy(pol)
	}
	calls := map[string]*placed{}
	defer func() {
		for _, c := range calls {
			if c.caller != nil {
				c.caller.Close()
			}
		}
	}()
	for i, st := range sc.Steps {
		where := fmt.Sprintf("%s:%d: step %d", sc.File, st.Line, i+1)
		switch {
		case st.Call != nil:
			c, err := r.place(ctx, w, st.Call)
			if err != nil {
				return fmt.Errorf("%s: call %s: %w", where, st.Call.ID, err)
			}
			calls[st.Call.ID] = c
			log.Debug("call placed", "id", st.Call.ID, "from", st.Call.From, "to", st.Call.To)
		case st.Wait != nil:
			within := st.Wait.Within.D()
			if within == 0 {
				within = 60 * time.Second
			}
			c := calls[st.Wait.Call].call
			var ch <-chan struct{}
			switch st.Wait.For {
			case "ringing":
				ch = c.Ringing()
			case "answered":
				ch = c.Answered()
			default:
				ch = c.Done()
			}
			t := time.NewTimer(r.scale(within))
			select {
			case <-ch:
				t.Stop()
			case <-c.Done():
				t.Stop()
				reached := false
				select {
				case <-ch:
					// Both happened (a PBX that answers and hangs up at
					// once): the call did reach the state.
					reached = true
				default:
				}
				if st.Wait.For != "ended" && !reached {
					code, reason := c.Status()
					return fmt.Errorf("%s: call %s ended (%d %s) before it was %s", where, st.Wait.Call, code, reason, st.Wait.For)
				}
			case <-t.C:
				return fmt.Errorf("%s: call %s not %s within %s", where, st.Wait.Call, st.Wait.For, within)
			case <-ctx.Done():
				t.Stop()
				return ctx.Err()
			}
		case st.Pause != 0:
			t := time.NewTimer(r.scale(st.Pause.D()))
			select {
			case <-t.C:
			case <-ctx.Done():
				t.Stop()
				return ctx.Err()
			}
		case st.Hangup != "":
			if err := calls[st.Hangup].call.Hangup(ctx); err != nil {
				return fmt.Errorf("%s: hang up %s: %w", where, st.Hangup, err)
			}
		default:
			if err := r.midCall(ctx, w, calls, st); err != nil {
				return fmt.Errorf("%s: %w", where, err)
			}
		}
	}
	return nil
}

func (r *Runner) place(ctx context.Context, w World, c *CallStep) (*placed, error) {
	if p, ok := w.Phone(c.From); ok {
		call, err := p.Dial(ctx, c.To)
		return &placed{call: call, from: c.From}, err
	}
	// A caller outside the PBX: a trunk-side user agent of its own.
	p, err := phone.New(ctx, phone.Config{
		User:        c.From,
		DisplayName: c.Name,
		Server:      w.PBXAddr(),
		Transport:   w.Transport(),
		Speed:       r.Speed,
		Logger:      r.logger(),
	})
	if err != nil {
		return nil, fmt.Errorf("start caller %s: %w", c.From, err)
	}
	if r.OnCaller != nil {
		r.OnCaller(c.From, p)
	}
	call, err := p.Dial(ctx, c.To)
	if err != nil {
		p.Close()
		return nil, err
	}
	return &placed{call: call, caller: p}, nil
}
