package ami

import (
	"strings"
	"sync"

	"github.com/callhook/callhook/core/signal"
)

// dialFanout learns how many devices a channel's Dial rings at once: a
// ring group is Dial(PJSIP/101&PJSIP/102&PJSIP/103), which Asterisk
// announces in the Newexten before the DialBegins. The DialBegins come
// one by one, and a member's phone may ring before the next is dialled,
// so their count alone cannot tell a ring group from one extension.
type dialFanout struct {
	mu     sync.Mutex
	byChan map[string]int // Uniqueid -> devices its current Dial rings
}

func newDialFanout() *dialFanout { return &dialFanout{byChan: map[string]int{}} }

// observe notes the targets of a Dial starting on a channel.
func (d *dialFanout) observe(m Message) {
	if !strings.EqualFold(m.Get("Event"), "Newexten") || !strings.EqualFold(m.Get("Application"), "Dial") {
		return
	}
	id := m.Get("Uniqueid")
	if id == "" {
		return
	}
	targets, _, _ := strings.Cut(m.Get("AppData"), ",")
	n := 0
	for t := range strings.SplitSeq(targets, "&") {
		if strings.TrimSpace(t) != "" {
			n++
		}
	}
	d.mu.Lock()
	defer d.mu.Unlock()
	if n >= 2 {
		d.byChan[id] = n
	} else {
		delete(d.byChan, id)
	}
}

// attach adds the count to the channel's Dialling signals, and forgets
// the channel once it is gone.
func (d *dialFanout) attach(s *signal.Signal) {
	d.mu.Lock()
	defer d.mu.Unlock()
	switch s.Kind {
	case signal.Dialling:
		s.Fanout = d.byChan[s.Leg.ID]
	case signal.LegGone:
		delete(d.byChan, s.Leg.ID)
	}
}
