package ami

import (
	"errors"
	"fmt"
	"slices"
	"strings"

	"github.com/callhook/callhook/core/signal"
)

// Dialplan applications whose start says where a call is: a menu waiting
// for the caller's choice, or a fax being received. Asterisk raises no
// event of its own for "the call reached a menu"; its Newexten for these
// applications is that moment.
var (
	menuApps = []string{"background", "waitexten", "read"}
	faxApps  = []string{"receivefax"}
)

// newextenApps are the applications whose Newexten the connector reads
// (lower case): MixMonitor names a recording's file (recording.go), Dial
// what a channel rings (fanout.go), and the menu and fax applications.
var newextenApps = slices.Concat([]string{"mixmonitor", "dial"}, menuApps, faxApps)

// User events a dialplan (or an AMI client, through the UserEvent action)
// raises where Asterisk has no event of its own: Asterisk reports neither
// call forwarding, nor extensions being created. Header names are
// case-insensitive.
const (
	// UserEventCallback, raised on the caller's channel while it waits in
	// a queue (or by a client naming the call in a Linkedid header), says
	// the caller ordered a callback. The connector also takes the
	// callback key itself from the waiting caller's DTMF (queuekey.go);
	// the event is for dialplans that order callbacks some other way.
	UserEventCallback = "CallhookCallback"
	// UserEventForwarding: headers Extension, Status (on|off), Destination.
	UserEventForwarding = "CallhookForwarding"
	// UserEventQueueLogin: headers Extension, Status (in|out) and, for one
	// queue only, Queue; without Queue it is the global login.
	UserEventQueueLogin = "CallhookQueueLogin"
	// UserEventExtension: headers Extension, Status (created|deleted), Name.
	UserEventExtension = "CallhookExtension"
	// UserEventMenu: the call reached a menu; header Menu, the menu's
	// number (without one it is named by its dialplan context). For
	// dialplans whose menus use none of the menu applications.
	UserEventMenu = "CallhookMenu"
	// UserEventFax: the channel receives a fax.
	UserEventFax = "CallhookFax"
	// UserEventSync: a barrier (header Token); see signal.Sync.
	UserEventSync = "CallhookSync"
)

// newextenSignal reports a menu or fax application starting on a channel
// and skips every other dialplan step.
func newextenSignal(m Message) (signal.Signal, error) {
	app := m.Get("Application")
	switch {
	case contains(menuApps, app):
		menu := m.Get("Exten")
		if menu == "" || menu == "s" || !isDigits(menu) {
			// A menu reached by Goto(ivr-main,s,1) has no number of its
			// own: its context names it.
			menu = m.Get("Context")
		}
		s, err := channelSignal(m, signal.MenuEntered)
		s.Menu = menu
		return s, err
	case contains(faxApps, app):
		return channelSignal(m, signal.FaxReceiving)
	}
	return signal.Signal{}, errSkip
}

// userSignal translates the UserEvents callhook knows (see the
// UserEvent* names) and skips the others.
func userSignal(m Message) (signal.Signal, error) {
	name := m.Get("UserEvent")
	if name == "" {
		return signal.Signal{}, errors.New("no UserEvent name")
	}
	get := func(key string) string { return strings.TrimSpace(m.Get(key)) }
	status := strings.ToLower(get("Status"))
	st := signal.Status{Extension: get("Extension"), Name: get("Name"), Queue: get("Queue"), Reason: get("Reason")}
	s := signal.Signal{Leg: legOf(m, ""), Status: st}
	switch {
	case strings.EqualFold(name, UserEventSync):
		return signal.Signal{Kind: signal.Sync, Token: m.Get("Token")}, nil
	case strings.EqualFold(name, UserEventCallback):
		s.Kind = signal.CallbackRequested
		if s.Leg.ID == "" && s.Leg.Call == "" {
			// Raised by a client through the UserEvent action, naming the
			// call by its Linkedid.
			s.Leg.Call = get("Linkedid")
		}
		return s, nil
	case strings.EqualFold(name, UserEventMenu):
		s.Kind, s.Menu = signal.MenuEntered, get("Menu")
		if s.Leg.ID == "" || s.Menu == "" {
			return signal.Signal{}, fmt.Errorf("%s needs a channel and a Menu header", name)
		}
		return s, nil
	case strings.EqualFold(name, UserEventFax):
		if s.Leg.ID == "" {
			return signal.Signal{}, fmt.Errorf("%s needs a channel", name)
		}
		s.Kind = signal.FaxReceiving
		return s, nil
	case strings.EqualFold(name, UserEventForwarding):
		s.Kind = signal.ForwardingChanged
		s.Status.On = status == "on" || status == "1" || status == "yes"
		s.Status.Destination = get("Destination")
	case strings.EqualFold(name, UserEventQueueLogin):
		s.Kind = signal.QueueLoginChanged
		s.Status.On = status == "in" || status == "login" || status == "1"
	case strings.EqualFold(name, UserEventExtension):
		switch status {
		case "created":
			s.Kind = signal.ExtensionCreated
		case "deleted":
			s.Kind = signal.ExtensionDeleted
		default:
			return signal.Signal{}, fmt.Errorf("%s: Status %q, want created or deleted", name, status)
		}
	default:
		return signal.Signal{}, errSkip
	}
	if s.Status.Extension == "" {
		return signal.Signal{}, fmt.Errorf("%s without Extension header", name)
	}
	s.Leg = signal.Leg{}
	return s, nil
}

// contains says whether v is in list (lower case), compared without
// case, as Asterisk compares application names.
func contains(list []string, v string) bool {
	for _, x := range list {
		if strings.EqualFold(x, v) {
			return true
		}
	}
	return false
}
