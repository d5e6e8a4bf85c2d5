package esl

import (
	"strconv"
	"strings"
	"time"

	"github.com/callhook/callhook/pbxsim/pbx"
)

// channel is what the translator keeps of one call leg: the AMI channel
// it follows and the FreeSWITCH channel it shows.
type channel struct {
	ami      string // AMI Uniqueid
	amiName  string // AMI channel name, for uuid_kill
	uuid     string // Unique-ID
	name     string // Channel-Name
	endpoint string // device or trunk ("101", "trunk")
	outbound bool   // Call-Direction outbound: the switch placed it
	seq      uint64 // creation order
	linked   string // AMI Linkedid: the call it belongs to

	cidNum, cidName       string // the party this leg presents (Caller-Caller-ID-*)
	calleeNum, calleeName string // Caller-Callee-ID-*
	dest                  string // Caller-Destination-Number
	rdnis                 string
	context               string

	originator *channel // Other-Leg of a leg the switch dialled for another
	announced  bool     // CHANNEL_CREATE fired
	ccAgent    bool     // placed by mod_callcenter for a queue caller

	state     string // Channel-State
	callstate string // Channel-Call-State
	created   time.Time
	progress  time.Time
	answered  time.Time
	bridged   time.Time
	hungup    time.Time
	transfer  time.Time

	hangupReq bool   // the leg's device hung up (AMI HangupRequest)
	dialFail  string // DIALSTATUS when the switch gave up dialling this leg
	bridgeErr string // the failure cause of this leg's own bridge attempt

	partner  *channel // the channel it is bridged with
	stale    bool     // left its AMI bridge without hanging up; partner stays
	pairedIn string   // the AMI bridge the pair stands for ("" for att_xfer's own pairs)
	leads    bool     // Bridge-A of its pair: the side that bridged the other

	local bool // half of an Asterisk Local channel pair: plumbing FreeSWITCH has none of

	app, appData string
	recording    string   // Record-File-Path of a running recording
	mixFile      string   // MIXMONITOR_FILENAME seen for it
	vars         []Header // channel variables beyond the common ones
}

func (c *channel) setVar(name, value string) {
	for i, h := range c.vars {
		if h.Name == name {
			c.vars[i].Value = value
			return
		}
	}
	c.vars = append(c.vars, Header{name, value})
}

func (c *channel) delVar(name string) {
	for i, h := range c.vars {
		if h.Name == name {
			c.vars = append(c.vars[:i:i], c.vars[i+1:]...)
			return
		}
	}
}

func (c *channel) getVar(name string) string {
	for _, h := range c.vars {
		if h.Name == name {
			return h.Value
		}
	}
	return ""
}

func (c *channel) direction() string {
	if c.outbound {
		return "outbound"
	}
	return "inbound"
}

// answerState is switch_channel_event_set_basic_data's Answer-State.
func (c *channel) answerState() string {
	switch {
	case !c.hungup.IsZero():
		return "hangup"
	case !c.answered.IsZero():
		return "answered"
	case !c.progress.IsZero() && c.outbound:
		return "early"
	}
	return "ringing"
}

// stateNumber is Channel-State-Number (switch_types.h switch_channel_state_t).
func stateNumber(s string) string {
	for i, n := range []string{"CS_NEW", "CS_INIT", "CS_ROUTING", "CS_SOFT_EXECUTE", "CS_EXECUTE", "CS_EXCHANGE_MEDIA",
		"CS_PARK", "CS_CONSUME_MEDIA", "CS_HIBERNATE", "CS_RESET", "CS_HANGUP", "CS_REPORTING", "CS_DESTROY"} {
		if n == s {
			return strconv.Itoa(i)
		}
	}
	return "0"
}

func micros(t time.Time) string {
	if t.IsZero() {
		return "0"
	}
	return strconv.FormatInt(t.UnixMicro(), 10)
}

// endpointOf is the device or trunk part of an AMI channel name,
// "PJSIP/101-00000001" → "101".
func endpointOf(name string) string {
	_, rest, ok := strings.Cut(name, "/")
	if !ok {
		return ""
	}
	if i := strings.LastIndexByte(rest, '-'); i > 0 {
		rest = rest[:i]
	}
	return rest
}

// known maps the AMI placeholder for an absent caller id to "".
func known(v string) string {
	if v == "<unknown>" {
		return ""
	}
	return v
}

// profile writes a caller profile's headers as
// switch_caller_profile_event_set_data does, with prefix "Caller" or
// "Other-Leg".
func (c *channel) profile(e *Event, prefix string) {
	add := func(k, v string) { e.Add(prefix+"-"+k, v) }
	add("Direction", c.direction())
	add("Logical-Direction", c.direction())
	if !c.outbound && isExtension(c.endpoint) {
		add("Username", c.endpoint)
	}
	add("Dialplan", "XML")
	add("Caller-ID-Name", c.cidName)
	add("Caller-ID-Number", c.cidNum)
	add("Orig-Caller-ID-Name", c.cidName)
	add("Orig-Caller-ID-Number", c.cidNum)
	add("Callee-ID-Name", c.calleeName)
	add("Callee-ID-Number", c.calleeNum)
	add("Network-Addr", "127.0.0.1")
	add("ANI", c.cidNum)
	add("Destination-Number", c.dest)
	add("Unique-ID", c.uuid)
	add("Source", "mod_sofia")
	add("Context", c.context)
	add("RDNIS", c.rdnis)
	add("Channel-Name", c.name)
	add("Profile-Index", "1")
	if prefix != "Caller" {
		return
	}
	add("Profile-Created-Time", micros(c.created))
	add("Channel-Created-Time", micros(c.created))
	add("Channel-Answered-Time", micros(c.answered))
	add("Channel-Progress-Time", micros(c.progress))
	add("Channel-Progress-Media-Time", "0")
	add("Channel-Hangup-Time", micros(c.hungup))
	add("Channel-Transfer-Time", micros(c.transfer))
	add("Channel-Resurrect-Time", "0")
	add("Channel-Bridged-Time", micros(c.bridged))
	add("Channel-Last-Hold", "0")
	add("Channel-Hold-Accum", "0")
	add("Screen-Bit", "true")
	add("Privacy-Hide-Name", "false")
	add("Privacy-Hide-Number", "false")
}

// isExtension: the simulator's extensions are numbered, its trunk named.
func isExtension(endpoint string) bool {
	if endpoint == "" {
		return false
	}
	for i := 0; i < len(endpoint); i++ {
		if endpoint[i] < '0' || endpoint[i] > '9' {
			return false
		}
	}
	return true
}

// update takes what an AMI channel block says of the leg now.
func (c *channel) update(pc *pbx.Channel) {
	if pc == nil {
		return
	}
	if n := known(pc.CallerIDNum); n != "" {
		if c.outbound {
			c.calleeNum = n
		} else {
			c.cidNum = n
		}
	}
	if n := known(pc.CallerIDName); n != "" {
		if c.outbound {
			c.calleeName = n
		} else {
			c.cidName = n
		}
	}
	if pc.Context != "" {
		c.context = pc.Context
	}
}
