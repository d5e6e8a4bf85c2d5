package esl

import (
	"context"
	"fmt"
	"strconv"
	"strings"

	"github.com/google/uuid"

	"github.com/callhook/callhook/core/connector"
)

// keys of a [pbx] section of type esl, as event_socket.conf.xml sets the
// switch up (listen-ip, listen-port, password).
var keys = map[string]connector.Key{
	"address":  {Doc: "host:port of the event socket (event_socket.conf.xml listen-ip and listen-port, 8021 by default)", Required: true, Check: connector.HostPort},
	"password": {Doc: "the event socket password (event_socket.conf.xml password)", Required: true, Secret: true},
	"format":   {Doc: "event encoding asked for: plain (default) or json", Check: checkFormat},
}

func checkFormat(v string) error {
	switch strings.ToLower(v) {
	case "", "plain", "json":
		return nil
	}
	return fmt.Errorf("want plain or json, got %q", v)
}

func init() {
	connector.Register(connector.Spec{Type: "esl", Doc: "FreeSWITCH's event socket (mod_event_socket, inbound mode)", Keys: keys,
		New: func(p connector.PBX) (connector.Connector, error) {
			return New(Config{Addr: p.Option("address"), Password: Secret(p.Option("password")), Format: p.Option("format"),
				Location: p.Location, Logger: p.Logger})
		}})
}

// Originate starts a call with "bgapi originate" (mod_commands.c
// originate_function): FreeSWITCH rings From (user/<extension>, or
// sofia/gateway/<trunk>/<number>) and, once it answers, runs To in the
// dialplan (XML, Context or "default"). origination_uuid makes the
// origination's id the first channel's Unique-ID, and so the call's id.
// The command returns once the switch queued the job; its outcome comes
// later as a BACKGROUND_JOB event, which is logged.
func (c *Connector) Originate(ctx context.Context, o connector.Origination) (connector.Started, error) {
	s := c.cur.Load()
	if s == nil {
		return connector.Started{}, fmt.Errorf("originate %s to %s: %w", o.From, o.To, ErrNotConnected)
	}
	url := "user/" + o.From
	if o.FromIsNumber {
		url = "sofia/gateway/" + o.Trunk + "/" + o.From
	}
	vars := []string{"ignore_early_media=true"}
	if o.ID != "" {
		vars = append(vars, "origination_uuid="+o.ID, "callhook_autodial="+o.ID)
	}
	timeout := int(o.RingTimeout.Seconds())
	if timeout <= 0 {
		timeout = 60
	}
	vars = append(vars, "originate_timeout="+strconv.Itoa(timeout))
	ctxName := o.Context
	if ctxName == "" {
		ctxName = "default"
	}
	cid := o.CallerID
	if cid == "" {
		cid = o.From
	}
	for _, v := range append([]string{url, o.To, ctxName, cid}, vars...) {
		if strings.ContainsAny(v, " ',{}\r\n") {
			return connector.Started{}, fmt.Errorf("originate %s to %s: %w: %q would break the command", o.From, o.To, ErrInvalidCommand, v)
		}
	}
	// mod_event_socket takes a bgapi job's id from the command's Job-UUID
	// header (parse_command), so its BACKGROUND_JOB is known in advance.
	job := uuid.NewString()
	done := s.job(job)
	line := fmt.Sprintf("bgapi originate {%s}%s %s XML %s %s %s %d", strings.Join(vars, ","), url, o.To, ctxName, cid, cid, timeout)
	r, err := s.command(ctx, line, nil, Header{Name: "Job-UUID", Value: job})
	if err != nil {
		s.mu.Lock()
		delete(s.jobs, job)
		s.mu.Unlock()
		return connector.Started{}, fmt.Errorf("originate %s to %s: %w", url, o.To, err)
	}
	go func() {
		select {
		case ev := <-done:
			if res := strings.TrimSpace(ev.Body); strings.HasPrefix(res, "-ERR") {
				c.log.Warn("esl originate failed", "job", job, "from", o.From, "to", o.To, "result", res)
			} else {
				c.log.Info("esl originate done", "job", job, "result", res)
			}
		case <-s.readDone:
		}
	}()
	return connector.Started{Message: replyText(r)}, nil
}
