package ami

import (
	"context"
	"fmt"
	"strconv"
	"strings"

	"github.com/callhook/callhook/core/connector"
)

// keys of a [pbx] section of type ami (Asterisk's manager interface, as
// manager.conf sets it up) or pbxsim (the simulator, which speaks AMI).
var keys = map[string]connector.Key{
	"address":  {Doc: "host:port of the manager interface (manager.conf bindaddr and port)", Required: true, Check: connector.HostPort},
	"username": {Doc: "the manager.conf user", Required: true},
	"secret":   {Doc: "that user's secret", Required: true, Secret: true},
	"callback_key": {Doc: "the key a caller waiting in a queue presses to order a callback (default " + DefaultCallbackKey + ")",
		Check: CheckCallbackKey},
	"event_filter": {Doc: "yes (default): ask the PBX to send only the events the engine reads (the manager action Filter; " +
		"its user needs the system write class, else everything is sent and filtered here); no: every event",
		Check: checkYesNo},
}

// checkYesNo accepts the boolean words of the engine's configuration.
func checkYesNo(v string) error {
	if _, ok := yesNo(v); !ok {
		return fmt.Errorf("want yes or no, got %q", v)
	}
	return nil
}

// yesNo reads yes/no, true/false, on/off, 1/0.
func yesNo(v string) (value, ok bool) {
	switch strings.ToLower(strings.TrimSpace(v)) {
	case "yes", "true", "on", "1":
		return true, true
	case "no", "false", "off", "0":
		return false, true
	}
	return false, false
}

func init() {
	for _, s := range []struct{ typ, doc string }{
		{"ami", "Asterisk's manager interface (AMI)"},
		{"pbxsim", "callhook's PBX simulator, which speaks AMI exactly as Asterisk does"},
	} {
		connector.Register(connector.Spec{Type: s.typ, Doc: s.doc, Keys: keys, New: func(p connector.PBX) (connector.Connector, error) {
			return New(Config{
				Addr: p.Option("address"), Username: p.Option("username"), Secret: Secret(p.Option("secret")),
				Location: p.Location, Logger: p.Logger, MonitorDir: p.RecordingsDir,
				CallbackKey: p.Option("callback_key"), NoEventFilter: noEventFilter(p.Option("event_filter")),
			})
		}})
	}
}

// noEventFilter reads the event_filter key: unset means yes.
func noEventFilter(v string) bool {
	on, ok := yesNo(v)
	return ok && !on
}

// Originate starts a call with the Originate action: Asterisk rings From
// (PJSIP/<extension>, or PJSIP/<number>@<trunk>) and, once it answers,
// runs the dialplan at To in Context. ChannelId asks Asterisk to use the
// origination's id as the first channel's Uniqueid, and so as the call's
// Linkedid. Async: the action returns once Asterisk accepted it.
func (c *Connector) Originate(ctx context.Context, o connector.Origination) (connector.Started, error) {
	channel := "PJSIP/" + o.From
	if o.FromIsNumber {
		channel = "PJSIP/" + o.From + "@" + o.Trunk
	}
	ctxName := o.Context
	if ctxName == "" {
		ctxName = "from-internal"
	}
	fields := []Field{
		{Key: "Channel", Value: channel},
		{Key: "Context", Value: ctxName},
		{Key: "Exten", Value: o.To},
		{Key: "Priority", Value: "1"},
		{Key: "CallerID", Value: o.CallerID},
		{Key: "Timeout", Value: strconv.FormatInt(o.RingTimeout.Milliseconds(), 10)},
	}
	if o.ID != "" {
		fields = append(fields, Field{Key: "ChannelId", Value: o.ID}, Field{Key: "Variable", Value: "CALLHOOK_AUTODIAL=" + o.ID})
	}
	fields = append(fields, Field{Key: "Async", Value: "true"})
	resp, err := c.Action(ctx, "Originate", fields...)
	if err != nil {
		return connector.Started{}, fmt.Errorf("originate %s to %s: %w", channel, o.To, err)
	}
	return connector.Started{Message: resp.Get("Message")}, nil
}
