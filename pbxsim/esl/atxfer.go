package esl

import (
	"strconv"
	"time"

	"github.com/google/uuid"

	"github.com/callhook/callhook/pbxsim/pbx"
)

// Asterisk's atxfer feature (*2) consults the target through a Local
// channel pair: ;1 is bridged with the transferer, ;2 dials the target,
// and once the transferer hangs up the pair merges the bridges and
// optimises itself away. FreeSWITCH has no such plumbing. Its equivalent
// is mod_dptools' att_xfer (bound to a key with bind_meta_app), run on
// the transferer's channel (mod_dptools.c att_thread_run):
//
//   - CHANNEL_EXECUTE att_xfer on the transferer; its bridge partner
//     (the transferee) is its soft_holding_uuid, still bridged with it;
//   - switch_ivr_originate from the transferer's session: the target's
//     leg has the transferer as its originator (Other-Type originator);
//   - once the target answers, switch_ivr_multi_threaded_bridge of the
//     transferer and the target (an inner bridge): CHANNEL_BRIDGE with
//     the transferer as Bridge-A, CHANNEL_UNBRIDGE when it ends;
//   - the transferer hung up and the target up: switch_ivr_uuid_bridge
//     of the target with the transferee (att_xfer_result=success on the
//     target); the target gone (the cancel key hangs it up) with the
//     transferer still there: switch_ivr_uuid_bridge of the transferer
//     with the transferee again. uuid_bridge (switch_ivr_bridge.c) ends
//     the transferee's old bridge (CHANNEL_UNBRIDGE), pushes
//     "<epoch>:<uuid>:uuid_br:<other uuid>" onto both channels'
//     transfer_history and sets it as their transfer_source, and the
//     originator bridges the other (CHANNEL_BRIDGE, originator as A);
//   - an originate that fails (busy, no answer, cancelled) bridges
//     nothing: the transferer is back with the transferee as it was;
//   - CHANNEL_EXECUTE_COMPLETE att_xfer when the application returns.
//
// So the Local halves are never shown: the events about them are
// dropped, and what the pair does for the call is shown as above.
type atxfer struct {
	one, two   *channel // the Local pair's halves
	exten      string   // the number dialled
	transferer *channel // the leg running att_xfer
	bond       *channel // its partner when it started: the transferee
	target     *channel // the leg originated to the target
	up         bool     // the transferer and the target are bridged
	completing bool     // the transferer hung up while bridged with the target
}

// localBridge takes LocalBridge: the halves of a new Local pair.
func (t *translator) localBridge(e pbx.Event, exten string) {
	one, two := t.chanByPrefix(e, "LocalOne"), t.chanByPrefix(e, "LocalTwo")
	if one == nil || two == nil {
		return
	}
	x := &atxfer{one: one, two: two, exten: exten}
	t.atx[one], t.atx[two] = x, x
}

// atxTarget notes dest as the target ;2 dials and returns the leg that
// originates it, the transferer (nil when the pair is no att_xfer's).
func (t *translator) atxTarget(two, dest *channel) *channel {
	x := t.atx[two]
	if x == nil || x.two != two || x.transferer == nil {
		return nil
	}
	x.target = dest
	t.atx[dest] = x
	return x.transferer
}

// atxBridge takes a Local half meeting a real leg in an AMI bridge: the
// transferer joining ;1 starts att_xfer, the target joining ;2 is the
// consultation's bridge. Anything else of the pair shows nothing.
func (t *translator) atxBridge(out []*Event, c, o *channel, at time.Time) []*Event {
	l := c
	if o.local {
		l, o = o, c
	}
	if o.local {
		return out
	}
	x := t.atx[l]
	if x == nil {
		return out
	}
	switch {
	case l == x.one && x.transferer == nil && o.partner != nil:
		// The transferer left its bridge for ;1's: it runs att_xfer,
		// still bridged with the transferee as far as the switch says.
		x.transferer, x.bond = o, o.partner
		t.atx[o] = x
		o.stale = false
		out = t.ensure(out, o)
		ev := t.event("CHANNEL_EXECUTE", o)
		ev.Add("Application", "att_xfer")
		ev.Add("Application-Data", "user/"+x.exten+"@"+t.domain)
		ev.Add("Application-UUID", uuid.NewString())
		o.app, o.appData = "att_xfer", "user/"+x.exten+"@"+t.domain
		o.setVar("soft_holding_uuid", x.bond.uuid)
		return append(out, ev)
	case l == x.two && o == x.target && !x.up && x.transferer != nil && t.live[x.transferer.ami] != nil:
		// The target answered: the inner bridge of the transferer and the
		// target. The transferee's pair stays: it is bridged with the
		// transferer still.
		x.up = true
		return t.pair(out, x.transferer, o, "", at)
	}
	return out
}

// atxLeave takes the transferer leaving ;1's bridge: hanging up, which
// ends the inner bridge (the transfer completes at AttendedTransfer), or
// handed back to the transferee (the target gone, failed or hung up by
// the cancel key; shown once the target's leg is gone).
func (t *translator) atxLeave(out []*Event, x *atxfer) []*Event {
	c := x.transferer
	if c.hangupReq {
		if x.up && c.partner == x.target {
			out = t.unbridge(out, c)
			x.completing = true
		}
		x.up = false
	}
	return out
}

// atxComplete is att_xfer's end when the transferer hung up bridged with
// the target: uuid_bridge of the target with the transferee.
func (t *translator) atxComplete(out []*Event, x *atxfer, at time.Time) []*Event {
	target, tee := x.target, x.bond
	if !x.completing || target == nil || tee == nil || t.live[target.ami] == nil || t.live[tee.ami] == nil {
		return out
	}
	out = t.uuidRecord(out, target, tee, at)
	target.setVar("att_xfer_result", "success")
	out = t.pair(out, target, tee, tee.pairedIn, at)
	// The application returns once the transferer's hangup is through
	// (hangup: CHANNEL_EXECUTE_COMPLETE after CHANNEL_HANGUP).
	t.atxForget(x)
	return out
}

// atxGone follows a leg of an att_xfer that hung up: the target gone
// with the transferer still there hands the transferer back to the
// transferee (uuid_bridge, when they had been bridged; nothing to show
// when the originate failed).
func (t *translator) atxGone(out []*Event, c *channel, at time.Time) []*Event {
	x := t.atx[c]
	if x == nil {
		return out
	}
	if c != x.target {
		if c == x.transferer && !x.completing {
			t.atxForget(x)
		}
		// A completing transfer's transferer stays known until
		// AttendedTransfer.
		return out
	}
	er, tee := x.transferer, x.bond
	if er == nil || x.completing || t.live[er.ami] == nil || er.hangupReq {
		t.atxForget(x)
		return out
	}
	if !x.up || tee == nil || t.live[tee.ami] == nil {
		return t.atxDone(out, x)
	}
	// uuid_bridge runs in att_xfer's thread; the transferer's own thread
	// bridges once the application has returned.
	out = t.uuidRecord(out, er, tee, at)
	er.setVar("att_xfer_result", "success")
	out = t.atxDone(out, x)
	return t.pair(out, er, tee, tee.pairedIn, at)
}

// uuidRecord is what switch_ivr_uuid_bridge(a, b) does before a bridges
// b: the old bridges end, both channels record the transfer.
func (t *translator) uuidRecord(out []*Event, a, b *channel, at time.Time) []*Event {
	if a.partner != nil {
		out = t.unbridge(out, a)
	}
	if b.partner != nil {
		out = t.unbridge(out, b)
	}
	for _, p := range [][2]*channel{{a, b}, {b, a}} {
		src := strconv.FormatInt(at.Unix(), 10) + ":" + p[0].uuid + ":uuid_br:" + p[1].uuid
		p[0].setVar("transfer_source", src)
		pushVar(p[0], "transfer_history", src)
		p[0].transfer = at
	}
	return out
}

// pushVar adds a value to an array variable, as
// switch_channel_add_variable_var_check with SWITCH_STACK_PUSH does: a
// second value makes it "ARRAY::first|:second".
func pushVar(c *channel, name, value string) {
	old := c.getVar(name)
	switch {
	case old == "":
		c.setVar(name, value)
	case len(old) > 7 && old[:7] == "ARRAY::":
		c.setVar(name, old+"|:"+value)
	default:
		c.setVar(name, "ARRAY::"+old+"|:"+value)
	}
}

// atxDone ends att_xfer on a transferer still up and forgets the
// transfer.
func (t *translator) atxDone(out []*Event, x *atxfer) []*Event {
	t.atxForget(x)
	if er := x.transferer; er != nil && t.live[er.ami] != nil {
		out = t.attXferReturns(out, er)
	}
	return out
}

// attXferReturns is CHANNEL_EXECUTE_COMPLETE of a leg's att_xfer, when it
// runs one.
func (t *translator) attXferReturns(out []*Event, c *channel) []*Event {
	if c.app != "att_xfer" {
		return out
	}
	ev := t.event("CHANNEL_EXECUTE_COMPLETE", c)
	ev.Add("Application", "att_xfer")
	ev.Add("Application-Data", c.appData)
	ev.Add("Application-Response", "_none_")
	ev.Add("Application-UUID", uuid.NewString())
	c.app, c.appData = "", ""
	return append(out, ev)
}

// atxForget forgets a transfer; att_thread_run clears the transferer's
// soft_holding_uuid before the application returns.
func (t *translator) atxForget(x *atxfer) {
	for k, v := range t.atx {
		if v == x {
			delete(t.atx, k)
		}
	}
	if er := x.transferer; er != nil {
		er.delVar("soft_holding_uuid")
	}
}
