package sim

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"net"
	"strconv"
	"strings"
	"time"

	"github.com/callhook/callhook/pbxsim/ami"
	"github.com/callhook/callhook/pbxsim/pbx"
	"github.com/callhook/callhook/pbxsim/phone"
	"github.com/callhook/callhook/pbxsim/scenario"
)

// queueActions are app_queue's manager actions (QueueAdd, QueueRemove,
// QueuePause, QueueStatus) on the PBX, answered with Asterisk's messages.
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
		"QueueStatus": func(req ami.Message) []ami.Message {
			p := get()
			if p == nil {
				return notReady(req)
			}
			// app_queue's manager_queues_status: a list of QueueParams,
			// QueueMember and QueueEntry events, each closed by the
			// request's ActionID, then QueueStatusComplete counting them.
			id := field(req, "ActionID")
			out := []ami.Message{ami.ListStart(req, "Queue status will follow")}
			event := func(name string, fields []pbx.Field) {
				m := ami.Message{{Key: "Event", Value: name}}
				for _, f := range fields {
					m = append(m, ami.Field{Key: f.Key, Value: f.Value})
				}
				if id != "" {
					m = append(m, ami.Field{Key: "ActionID", Value: id})
				}
				out = append(out, m)
			}
			for _, q := range p.QueueStatus(field(req, "Queue"), field(req, "Member")) {
				if q.Params != nil {
					event("QueueParams", q.Params)
				}
				for _, m := range q.Members {
					event("QueueMember", m)
				}
				for _, e := range q.Entries {
					event("QueueEntry", e)
				}
			}
			return append(out, ami.ListComplete(req, "QueueStatusComplete", len(out)-1))
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

// Originate asks the simulator's own AMI, as a CRM would, to place a call
// from ext to number (Action: Originate, async), and returns ext's phone's
// new call (scenario.OriginateWorld).
func (s *Sim) Originate(ctx context.Context, ext, number string) (*phone.Call, error) {
	ph, ok := s.phones[ext]
	if !ok {
		return nil, fmt.Errorf("originate from %s: no such extension", ext)
	}
	before := map[*phone.Call]bool{}
	for _, c := range ph.Calls() {
		before[c] = true
	}
	var d net.Dialer
	conn, err := d.DialContext(ctx, "tcp", s.AMIAddr())
	if err != nil {
		return nil, fmt.Errorf("originate: %w", err)
	}
	defer conn.Close()
	if dl, ok := ctx.Deadline(); ok {
		_ = conn.SetDeadline(dl)
	}
	r := bufio.NewReader(conn)
	if _, err := r.ReadString('\n'); err != nil {
		return nil, fmt.Errorf("originate: read banner: %w", err)
	}
	act := func(id string, fields ...string) (ami.Message, error) {
		m := ami.Message{{Key: "ActionID", Value: id}}
		for i := 0; i+1 < len(fields); i += 2 {
			m = append(m, ami.Field{Key: fields[i], Value: fields[i+1]})
		}
		if _, err := conn.Write(m.Bytes()); err != nil {
			return nil, err
		}
		for {
			res, err := ami.ReadMessage(r)
			if err != nil {
				return nil, err
			}
			if res.Get("ActionID") == id && res.Get("Response") != "" {
				return res, nil
			}
		}
	}
	if res, err := act("login", "Action", "Login", "Username", s.cfg.AMIUser, "Secret", s.cfg.AMISecret, "Events", "off"); err != nil || res.Get("Response") != "Success" {
		return nil, fmt.Errorf("originate: login: %v %v", res, err)
	}
	res, err := act("orig", "Action", "Originate", "Channel", "PJSIP/"+ext, "Context", "from-internal",
		"Exten", number, "Priority", "1", "CallerID", ext, "Async", "true")
	if err != nil {
		return nil, fmt.Errorf("originate: %w", err)
	}
	if res.Get("Response") != "Success" {
		return nil, fmt.Errorf("originate: %s", res.Get("Message"))
	}
	tick := time.NewTicker(5 * time.Millisecond)
	defer tick.Stop()
	for {
		for _, c := range ph.Calls() {
			if !before[c] && c.Outgoing() {
				return c, nil
			}
		}
		select {
		case <-ctx.Done():
			return nil, fmt.Errorf("originate: %s placed no call: %w", ext, ctx.Err())
		case <-tick.C:
		}
	}
}
