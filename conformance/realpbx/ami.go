package realpbx

import (
	"bufio"
	"context"
	"fmt"
	"net"
	"net/textproto"
	"strconv"
	"strings"
	"sync/atomic"
	"time"
)

// amiConn is the few AMI actions the harness itself needs (the engine has
// its own connection): log in, count channels, raise a user event.
type amiConn struct {
	conn net.Conn
	r    *textproto.Reader
	ids  atomic.Int64
}

// dialAMI connects and logs in; events says whether the session receives
// events.
func dialAMI(ctx context.Context, addr, user, secret string, events bool) (*amiConn, error) {
	var d net.Dialer
	conn, err := d.DialContext(ctx, "tcp", addr)
	if err != nil {
		return nil, fmt.Errorf("dial AMI %s: %w", addr, err)
	}
	c := &amiConn{conn: conn, r: textproto.NewReader(bufio.NewReader(conn))}
	conn.SetDeadline(time.Now().Add(10 * time.Second))
	banner, err := c.r.ReadLine()
	if err != nil || !strings.HasPrefix(banner, "Asterisk Call Manager") {
		conn.Close()
		return nil, fmt.Errorf("read AMI banner from %s: %q: %v", addr, banner, err)
	}
	ev := "off"
	if events {
		ev = "on"
	}
	res, err := c.action("Login", "Username", user, "Secret", secret, "Events", ev)
	if err != nil {
		conn.Close()
		return nil, fmt.Errorf("log in to AMI %s: %w", addr, err)
	}
	if res["Response"] != "Success" {
		conn.Close()
		return nil, fmt.Errorf("log in to AMI %s as %s: %s", addr, user, res["Message"])
	}
	conn.SetDeadline(time.Time{})
	return c, nil
}

func (c *amiConn) Close() error { return c.conn.Close() }

// read reads one packet.
func (c *amiConn) read() (map[string]string, error) {
	m := map[string]string{}
	for {
		line, err := c.r.ReadLine()
		if err != nil {
			return nil, err
		}
		if line == "" {
			if len(m) == 0 {
				continue
			}
			return m, nil
		}
		k, v, _ := strings.Cut(line, ":")
		m[k] = strings.TrimSpace(v)
	}
}

// send writes an action and returns its ActionID.
func (c *amiConn) send(name string, kv ...string) (string, error) {
	id := strconv.FormatInt(c.ids.Add(1), 10)
	var b strings.Builder
	fmt.Fprintf(&b, "Action: %s\r\nActionID: %s\r\n", name, id)
	for i := 0; i+1 < len(kv); i += 2 {
		fmt.Fprintf(&b, "%s: %s\r\n", kv[i], kv[i+1])
	}
	b.WriteString("\r\n")
	_, err := c.conn.Write([]byte(b.String()))
	return id, err
}

// action sends an action and returns its response, skipping events.
func (c *amiConn) action(name string, kv ...string) (map[string]string, error) {
	id, err := c.send(name, kv...)
	if err != nil {
		return nil, fmt.Errorf("send %s: %w", name, err)
	}
	for {
		m, err := c.read()
		if err != nil {
			return nil, fmt.Errorf("read %s response: %w", name, err)
		}
		if m["ActionID"] == id && m["Response"] != "" {
			return m, nil
		}
	}
}

// waitEvent reads until an event of that name arrives.
func (c *amiConn) waitEvent(ctx context.Context, name string, within time.Duration) error {
	dl := time.Now().Add(within)
	if d, ok := ctx.Deadline(); ok && d.Before(dl) {
		dl = d
	}
	c.conn.SetReadDeadline(dl)
	defer c.conn.SetReadDeadline(time.Time{})
	for {
		m, err := c.read()
		if err != nil {
			return fmt.Errorf("wait for %s: %w", name, err)
		}
		if m["Event"] == name {
			return nil
		}
	}
}

// channels counts the PBX's active channels (CoreShowChannels).
func (c *amiConn) channels() (int, error) {
	names, err := c.channelNames()
	return len(names), err
}

// channelNames lists the PBX's active channels (CoreShowChannels).
func (c *amiConn) channelNames() ([]string, error) {
	id, err := c.send("CoreShowChannels")
	if err != nil {
		return nil, fmt.Errorf("send CoreShowChannels: %w", err)
	}
	c.conn.SetReadDeadline(time.Now().Add(10 * time.Second))
	defer c.conn.SetReadDeadline(time.Time{})
	var names []string
	for {
		m, err := c.read()
		if err != nil {
			return nil, fmt.Errorf("read CoreShowChannels: %w", err)
		}
		if m["ActionID"] != id {
			continue
		}
		switch {
		case m["Response"] == "Error":
			return nil, fmt.Errorf("CoreShowChannels: %s", m["Message"])
		case m["Event"] == "CoreShowChannel":
			names = append(names, m["Channel"])
		case m["Event"] == "CoreShowChannelsComplete":
			if n, err := strconv.Atoi(m["ListItems"]); err != nil || n != len(names) {
				return nil, fmt.Errorf("CoreShowChannels: %d channels listed, ListItems %q", len(names), m["ListItems"])
			}
			return names, nil
		}
	}
}

// FilterProbe checks event filters on t's Asterisk: it logs in with
// events on, adds filters (an error if Asterisk refuses one), sets two
// global variables and empties them again, CALLHOOK_FILTER_PROBE and
// mixmonitor_filename (the connector's filters take MIXMONITOR_FILENAME
// in any case), raises the user event CallhookFilterProbe, and returns
// what the session got meanwhile: "VarSet <variable>=<value>",
// "UserEvent <name>", other events by name. Asterisk raises VarSet
// through its message bus, after the action's answer and in no fixed
// order with the user event, but in order among themselves: the last,
// emptying mixmonitor_filename, ends the probe.
func FilterProbe(ctx context.Context, t *Target, filters [][2]string) ([]string, error) {
	c, err := dialAMI(ctx, t.AMI, t.AMIUser, t.AMISecret, true)
	if err != nil {
		return nil, err
	}
	defer c.Close()
	c.conn.SetDeadline(time.Now().Add(10 * time.Second))
	for _, f := range filters {
		kv := []string{"Operation", "Add", "MatchCriteria", f[0]}
		if f[1] != "" {
			kv = append(kv, "Filter", f[1])
		}
		res, err := c.action("Filter", kv...)
		if err != nil {
			return nil, err
		}
		if res["Response"] != "Success" {
			return nil, fmt.Errorf("filter %s = %s: %s %s", f[0], f[1], res["Response"], res["Message"])
		}
	}
	probe := [][]string{
		{"Setvar", "Variable", "CALLHOOK_FILTER_PROBE", "Value", "1"},
		{"Setvar", "Variable", "mixmonitor_filename", "Value", "/tmp/probe.wav"},
		{"UserEvent", "UserEvent", "CallhookFilterProbe"},
		{"Setvar", "Variable", "CALLHOOK_FILTER_PROBE", "Value", ""},
		{"Setvar", "Variable", "mixmonitor_filename", "Value", ""},
	}
	for _, a := range probe {
		if _, err := c.send(a[0], a[1:]...); err != nil {
			return nil, err
		}
	}
	var got []string
	answered, user, last := 0, false, false
	for answered < len(probe) || !user || !last {
		m, err := c.read()
		if err != nil {
			return got, fmt.Errorf("read the probe's events (got %v): %w", got, err)
		}
		switch {
		case m["Response"] != "":
			if m["Response"] != "Success" {
				return got, fmt.Errorf("probe action: %s %s", m["Response"], m["Message"])
			}
			answered++
		case m["Event"] == "VarSet":
			got = append(got, "VarSet "+m["Variable"]+"="+m["Value"])
			last = last || m["Variable"] == "mixmonitor_filename" && m["Value"] == ""
		case m["Event"] == "UserEvent":
			got = append(got, "UserEvent "+m["UserEvent"])
			user = user || m["UserEvent"] == "CallhookFilterProbe"
		default:
			got = append(got, m["Event"])
		}
	}
	return got, nil
}
