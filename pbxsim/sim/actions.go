package sim

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"strings"

	"github.com/callhook/callhook/pbxsim/ami"
	"github.com/callhook/callhook/pbxsim/pbx"
	"github.com/callhook/callhook/pbxsim/scenario"
)

// queueActions are app_queue's member manager actions (QueueAdd,
// QueueRemove, QueuePause) on the PBX, answered with Asterisk's messages.
// The PBX is set once it has started.
func queueActions(get func() *pbx.PBX) map[string]ami.Action {
	field := func(req ami.Message, k string) string {
		for _, f := range req {
			if strings.EqualFold(f.Key, k) {
				return f.Value
			}
		}
		return ""
	}
	truthy := func(v string) bool {
		v = strings.ToLower(v)
		return v == "true" || v == "yes" || v == "1" || v == "on"
	}
	notReady := func(req ami.Message) []ami.Message { return []ami.Message{ami.Error(req, "PBX not ready")} }
	return map[string]ami.Action{
		"QueueAdd": func(req ami.Message) []ami.Message {
			p := get()
			if p == nil {
				return notReady(req)
			}
			pen, _ := strconv.Atoi(field(req, "Penalty"))
			err := p.QueueAdd(field(req, "Queue"), field(req, "Interface"), field(req, "MemberName"), pen,
				truthy(field(req, "Paused")), field(req, "Reason"))
			switch {
			case err == nil:
				return []ami.Message{ami.Success(req, "Added interface to queue")}
			case errors.Is(err, pbx.ErrMemberExists):
				return []ami.Message{ami.Error(req, "Unable to add interface: Already there")}
			case errors.Is(err, pbx.ErrNoQueue):
				return []ami.Message{ami.Error(req, "Unable to add interface to queue: No such queue")}
			}
			return []ami.Message{ami.Error(req, "Out of memory")}
		},
		"QueueRemove": func(req ami.Message) []ami.Message {
			p := get()
			if p == nil {
				return notReady(req)
			}
			err := p.QueueRemove(field(req, "Queue"), field(req, "Interface"))
			switch {
			case err == nil:
				return []ami.Message{ami.Success(req, "Removed interface from queue")}
			case errors.Is(err, pbx.ErrNoQueue):
				return []ami.Message{ami.Error(req, "Unable to remove interface from queue: No such queue")}
			case errors.Is(err, pbx.ErrNotDynamic):
				return []ami.Message{ami.Error(req, "Unable to remove interface: 'Not Dynamic'")}
			}
			return []ami.Message{ami.Error(req, "Unable to remove interface: Not there")}
		},
		"QueuePause": func(req ami.Message) []ami.Message {
			p := get()
			if p == nil {
				return notReady(req)
			}
			paused := truthy(field(req, "Paused"))
			if err := p.QueuePause(field(req, "Queue"), field(req, "Interface"), paused, field(req, "Reason")); err != nil {
				return []ami.Message{ami.Error(req, "Interface not found")}
			}
			if paused {
				return []ami.Message{ami.Success(req, "Interface paused successfully")}
			}
			return []ami.Message{ami.Success(req, "Interface unpaused successfully")}
		},
	}
}

// Admin makes an administrative change on the PBX, as a scenario's admin
// step says (scenario.AdminWorld).
func (s *Sim) Admin(_ context.Context, a scenario.AdminStep) error {
	switch a.Action {
	case "forwarding-on":
		return s.pbx.SetForwarding(a.Ext, a.Destination)
	case "forwarding-off":
		return s.pbx.SetForwarding(a.Ext, "")
	case "extension-create":
		return s.pbx.CreateExtension(pbx.Extension{Number: a.Ext, Name: a.Name, Password: "secret" + a.Ext})
	case "extension-delete":
		return s.pbx.DeleteExtension(a.Ext)
	}
	return fmt.Errorf("admin: unknown action %q", a.Action)
}

// Agent logs a queue agent in or out, or pauses them, as a scenario's
// agent step says: log-in changes raise CallhookQueueLogin, pauses are
// app_queue's QueuePause (in every queue when a.Queue is empty).
func (s *Sim) Agent(_ context.Context, a scenario.AgentStep) error {
	switch a.Action {
	case "login", "logout":
		return s.pbx.AgentLogin(a.Ext, a.Queue, a.Action == "login")
	case "pause", "unpause":
		return s.pbx.QueuePause(a.Queue, "PJSIP/"+a.Ext, a.Action == "pause", a.Reason)
	}
	return fmt.Errorf("agent: unknown action %q", a.Action)
}
