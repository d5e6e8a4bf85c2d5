package ami

import (
	"errors"
	"strings"

	"github.com/callhook/callhook/core/signal"
)

// Dialplan applications whose start says where a call is: a menu waiting
// for the caller's choice, or a fax being received. Asterisk raises no
// event of its own for "the call reached a menu"; its Newexten for these
// applications is that moment. They become the user events the call model
// knows (callmodel.UserEventMenu / UserEventFax), so a dialplan without
// such applications can raise the same events itself.
var (
	menuApps = []string{"background", "waitexten", "read"}
	faxApps  = []string{"receivefax"}
)

// User event names the connector raises from dialplan applications; they
// equal callmodel's UserEventMenu and UserEventFax.
const (
	userEventMenu = "CallhookMenu"
	userEventFax  = "CallhookFax"
)

// dialplanTranslators are the events translated only for some of their
// instances (most Newexten lines are plain dialplan steps and skipped).
var dialplanTranslators = map[string]translator{
	"newexten": newextenSignal,
	// ReceiveFAX: res_fax's event when a received fax completed; a fax
	// the dialplan's Newexten did not announce is reported by it.
	"receivefax": func(m Message) (signal.Signal, error) {
		return appSignal(m, userEventFax, nil)
	},
}

// newextenSignal reports a menu or fax application starting on a channel
// and skips every other dialplan step.
func newextenSignal(m Message) (signal.Signal, error) {
	app := strings.ToLower(m.Get("Application"))
	switch {
	case contains(menuApps, app):
		menu := m.Get("Exten")
		if menu == "" || menu == "s" || !isDigits(menu) {
			// A menu reached by Goto(ivr-main,s,1) has no number of its
			// own: its context names it.
			menu = m.Get("Context")
		}
		return appSignal(m, userEventMenu, map[string]string{"Menu": menu, "Application": m.Get("Application")})
	case contains(faxApps, app):
		return appSignal(m, userEventFax, map[string]string{"Application": m.Get("Application")})
	}
	return signal.Signal{}, errSkip
}

func appSignal(m Message, name string, data map[string]string) (signal.Signal, error) {
	leg := legOf(m, "")
	if leg.ID == "" {
		return signal.Signal{}, errors.New("no Uniqueid")
	}
	if data == nil {
		data = map[string]string{}
	}
	return signal.Signal{Kind: signal.UserEvent, Leg: leg, Name: name, Data: data}, nil
}

func contains(list []string, v string) bool {
	for _, x := range list {
		if x == v {
			return true
		}
	}
	return false
}
