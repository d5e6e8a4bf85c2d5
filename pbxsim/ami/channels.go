package ami

import (
	"cmp"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/callhook/callhook/pbxsim/pbx"
)

// channelTable is the server's own account of the PBX's live channels,
// kept from the very events it sends, as Asterisk keeps its channel cache
// from the snapshots its events carry (ast_channel_cache_by_name, which
// action_coreshowchannels in main/manager.c lists): a channel is listed
// from its Newchannel to its Hangup, with the channel block of the last
// event that showed it, the bridge it is in (BridgeEnter/BridgeLeave) and
// the dialplan application it runs (Newexten). A channel a Dial, a queue
// or an originate placed shows as app_dial, app_queue and main/dial.c set
// it: AppDial, AppQueue or AppDial2 with "(Outgoing Line)"; pbx_exec
// restores that after every application a U() subroutine runs on it, so
// the subroutine's steps do not change it.
//
// The table is read and written under Server.mu, the lock every broadcast
// holds: a CoreShowChannels answer shows the channels exactly as the
// events queued before it left them.
type channelTable struct {
	byID map[string]*tableEntry
}

type tableEntry struct {
	ch       pbx.Channel
	bridge   string
	app      string
	data     string
	created  time.Time
	outgoing bool
}

func newChannelTable() *channelTable { return &channelTable{byID: map[string]*tableEntry{}} }

// observe applies one event the server is about to send.
func (t *channelTable) observe(e pbx.Event) {
	if e.Name == "Newchannel" && e.Channel != nil && e.Channel.Uniqueid != "" {
		t.byID[e.Channel.Uniqueid] = &tableEntry{ch: *e.Channel, created: e.Time}
	}
	for _, c := range []*pbx.Channel{e.Channel, e.Dest} {
		if c == nil {
			continue
		}
		if en := t.byID[c.Uniqueid]; en != nil {
			en.ch = *c
		}
	}
	switch e.Name {
	case "Hangup":
		if e.Channel != nil {
			delete(t.byID, e.Channel.Uniqueid)
		}
	case "BridgeEnter", "BridgeLeave":
		if e.Channel == nil || e.Bridge == nil {
			return
		}
		if en := t.byID[e.Channel.Uniqueid]; en != nil {
			en.bridge = ""
			if e.Name == "BridgeEnter" {
				en.bridge = e.Bridge.Uniqueid
			}
		}
	case "Newexten":
		if e.Channel == nil {
			return
		}
		en := t.byID[e.Channel.Uniqueid]
		if en == nil || en.outgoing {
			return
		}
		app, data := field(e, "Application"), field(e, "AppData")
		switch app {
		case "AppDial", "AppQueue", "AppDial2":
			en.outgoing = true
		}
		en.app, en.data = app, data
	case "DialBegin":
		// A dialled channel is an outgoing line even before (or without)
		// its own Newexten.
		if e.Dest == nil {
			return
		}
		if en := t.byID[e.Dest.Uniqueid]; en != nil && !en.outgoing {
			en.outgoing, en.app, en.data = true, "AppDial", "(Outgoing Line)"
			if e.Channel == nil {
				en.app = "AppDial2" // an originate's dial: main/dial.c
			}
		}
	case "AgentCalled":
		if e.Dest == nil {
			return
		}
		if en := t.byID[e.Dest.Uniqueid]; en != nil {
			en.outgoing, en.app, en.data = true, "AppQueue", "(Outgoing Line)"
		}
	}
}

func field(e pbx.Event, key string) string {
	for _, f := range e.Fields {
		if strings.EqualFold(f.Key, key) {
			return f.Value
		}
	}
	return ""
}

// list is every live channel, oldest first (Asterisk lists its cache in
// no particular order).
func (t *channelTable) list() []ChannelInfo {
	out := make([]ChannelInfo, 0, len(t.byID))
	for _, en := range t.byID {
		out = append(out, ChannelInfo{Channel: en.ch, BridgeID: en.bridge, Application: en.app,
			ApplicationData: en.data, Created: en.created})
	}
	slices.SortFunc(out, func(a, b ChannelInfo) int {
		if c := a.Created.Compare(b.Created); c != 0 {
			return c
		}
		return cmp.Compare(idSeq(a.Channel.Uniqueid), idSeq(b.Channel.Uniqueid))
	})
	return out
}

// idSeq is the sequence part of a Uniqueid, "<epoch>.<sequence>".
func idSeq(id string) int {
	_, seq, _ := strings.Cut(id, ".")
	n, _ := strconv.Atoi(seq)
	return n
}
