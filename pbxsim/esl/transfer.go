package esl

import (
	"strconv"
	"strings"

	"github.com/callhook/callhook/pbxsim/pbx"
)

// blindTransfer: a REFER without Replaces (sofia_handle_sip_i_refer):
// sofia::transferor on the referring leg, sofia::transferee on its
// partner, then the partner is transferred to the extension
// (switch_ivr_session_transfer sets transfer_source and rdnis).
func (t *translator) blindTransfer(out []*Event, e pbx.Event) []*Event {
	get := func(k string) string {
		for _, f := range e.Fields {
			if f.Key == k {
				return f.Value
			}
		}
		return ""
	}
	if !strings.EqualFold(get("Result"), "Success") {
		return out
	}
	er, ee := t.chanByPrefix(e, "Transferer"), t.chanByPrefix(e, "Transferee")
	if er == nil || ee == nil {
		return out
	}
	exten := get("Extension")
	er.setVar("transfer_to", "blind:"+ee.uuid)
	er.setVar("transfer_destination", "blind:"+exten)
	er.setVar("endpoint_disposition", "BLIND_TRANSFER")
	er.setVar("transfer_disposition", "recv_replace")
	ee.setVar("sip_refer_to", "<sip:"+exten+"@"+t.domain+">")
	out = append(out, t.xferEvent("sofia::transferor", er, nil), t.xferEvent("sofia::transferee", ee, nil))
	ee.transfer = e.Time
	ee.rdnis, ee.dest = ee.dest, exten
	src := strconv.FormatInt(e.Time.Unix(), 10) + ":" + ee.uuid + ":bl_xfer:" + exten + "/default/XML"
	ee.setVar("transfer_source", src)
	ee.setVar("transfer_history", src)
	return out
}

func (t *translator) xferEvent(sub string, c *channel, headers []Header) *Event {
	ev := custom(sub)
	t.channelData(ev, c)
	for _, h := range headers {
		ev.Add(h.Name, h.Value)
	}
	return ev
}

// attendedTransfer: a REFER with Replaces: sofia::replaced on the
// consultation leg, sofia::transferor on the original one,
// sofia::transferee on the transferee (sofia.c), then the transferee and
// the target are bridged.
func (t *translator) attendedTransfer(out []*Event, e pbx.Event) []*Event {
	get := func(k string) string {
		for _, f := range e.Fields {
			if f.Key == k {
				return f.Value
			}
		}
		return ""
	}
	if !strings.EqualFold(get("Result"), "Success") || strings.EqualFold(get("DestType"), "Fail") {
		return out
	}
	x1, x2 := t.chanByPrefix(e, "OrigTransferer"), t.chanByPrefix(e, "SecondTransferer")
	tee, target := t.chanByPrefix(e, "Transferee"), t.chanByPrefix(e, "TransferTarget")
	if x1 == nil || tee == nil {
		return out
	}
	if x := t.atx[x1]; x != nil && x.transferer == x1 {
		// The atxfer feature, no REFER: att_xfer's completion.
		return t.atxComplete(out, x, e.Time)
	}
	if target == nil && x2 != nil {
		target = x2.partner
	}
	if target == nil {
		return out
	}
	x1.setVar("transfer_to", "att:"+target.uuid)
	x1.setVar("endpoint_disposition", "ATTENDED_TRANSFER")
	if x2 != nil {
		out = append(out, t.xferEvent("sofia::replaced", x2, []Header{{"att_xfer_replaced_by", tee.uuid}}))
	}
	hs := []Header{{"att_xfer_original_call_id", tee.uuid}, {"att_xfer_destination_call_id", target.uuid}}
	if x2 != nil {
		hs = append(hs, Header{"att_xfer_destination_peer_uuid", x2.uuid})
	}
	out = append(out, t.xferEvent("sofia::transferor", x1, hs))
	var xs []Header
	if x2 != nil {
		xs = []Header{{"att_xfer_replaced_call_id", x2.uuid}}
	}
	out = append(out, t.xferEvent("sofia::transferee", tee, xs))
	return t.resolve(out, x1, x2, tee, target)
}

// userEvent translates the simulator's Callhook* user events into the
// events a FreeSWITCH raises for the same facts.
func (t *translator) userEvent(out []*Event, e pbx.Event, get func(string) string) []*Event {
	name := get("UserEvent")
	c := t.find(e.Channel)
	switch strings.ToLower(name) {
	case "callhooksync":
		return append(out, custom("callhook::sync", Header{"Token", get("Token")}))
	case "callhookqueuelogin":
		status := strings.ToLower(get("Status"))
		if q := get("Queue"); q != "" {
			return append(out, custom("callhook::queue-login", Header{"Extension", get("Extension")},
				Header{"Queue", q}, Header{"Status", status}))
		}
		// A login to every queue is mod_callcenter's agent status.
		st := "Logged Out"
		if status == "in" || status == "login" || status == "1" {
			st = "Available"
		}
		return append(out, custom("callcenter::info", Header{"CC-Agent", agentName(get("Extension"), t.domain)},
			Header{"CC-Action", "agent-status-change"}, Header{"CC-Agent-Status", st}))
	case "callhookforwarding":
		return append(out, custom("callhook::forwarding", Header{"Extension", get("Extension")},
			Header{"Status", get("Status")}, Header{"Destination", get("Destination")}))
	case "callhookextension":
		return append(out, custom("callhook::extension", Header{"Extension", get("Extension")},
			Header{"Status", get("Status")}, Header{"Name", get("Name")}))
	case "callhookcallback", "callhookmenu", "callhookfax":
		sub := "callhook::" + strings.TrimPrefix(strings.ToLower(name), "callhook")
		ev := custom(sub, Header{"Queue", get("Queue")}, Header{"Menu", get("Menu")})
		if c != nil {
			out = t.ensure(out, c)
			t.channelData(ev, c)
		} else if l := get("Linkedid"); l != "" {
			if first := t.byID(l); first != nil {
				ev.Add("Channel-Call-UUID", first.uuid)
			}
		}
		return append(out, ev)
	}
	return out
}
