package crashtest_test

import (
	"bufio"
	"bytes"
	"context"
	"fmt"
	"net"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/callhook/callhook/core/connector/ami"
	"github.com/callhook/callhook/core/outbox/crashtest"
)

// sourceClient is the client side of one Source session.
type sourceClient struct {
	t    *testing.T
	conn net.Conn
	r    *bufio.Reader
}

func dialSource(t *testing.T, src *crashtest.Source) *sourceClient {
	t.Helper()
	conn, err := net.Dial("tcp", src.Addr())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { conn.Close() })
	_ = conn.SetDeadline(time.Now().Add(10 * time.Second))
	c := &sourceClient{t: t, conn: conn, r: bufio.NewReader(conn)}
	if _, err := c.r.ReadString('\n'); err != nil {
		t.Fatal(err)
	}
	return c
}

// action sends one action and returns the packet answering it.
func (c *sourceClient) action(lines ...string) string {
	c.t.Helper()
	if _, err := c.conn.Write([]byte(strings.Join(lines, "\r\n") + "\r\n\r\n")); err != nil {
		c.t.Fatal(err)
	}
	return c.packet()
}

func (c *sourceClient) packet() string {
	c.t.Helper()
	var b strings.Builder
	for {
		line, err := c.r.ReadString('\n')
		if err != nil {
			c.t.Fatalf("read (so far %q): %v", b.String(), err)
		}
		b.WriteString(line)
		if line == "\r\n" {
			return b.String()
		}
	}
}

// The source applies a session's filters to what Send gives it, as
// Asterisk would, and counts the session once it asked something else
// than Login and Filter.
func TestSourceFilters(t *testing.T) {
	src, err := crashtest.NewSource()
	if err != nil {
		t.Fatal(err)
	}
	defer src.Close()
	c := dialSource(t, src)
	c.action("Action: Login", "ActionID: 1", "Username: admin", "Secret: secret")
	for _, tt := range []struct{ criteria, filter, want string }{
		{"name(Newchannel)", "", "Response: Success\r\nActionID: f\r\nMessage: Success\r\n\r\n"},
		{"name(UserEvent),header(UserEvent),method(exact)", "CallhookSync", "Response: Success\r\nActionID: f\r\nMessage: Success\r\n\r\n"},
		{"name(VarSet),header(Variable)", "X", "Response: Error\r\nActionID: f\r\nMessage: Filter was formatted incorrectly.  Check the syntax of the filter given.\r\n\r\n"},
	} {
		lines := []string{"Action: Filter", "ActionID: f", "Operation: Add", "MatchCriteria: " + tt.criteria}
		if tt.filter != "" {
			lines = append(lines, "Filter: "+tt.filter)
		}
		if got := c.action(lines...); got != tt.want {
			t.Errorf("Filter %s = %s: got %q, want %q", tt.criteria, tt.filter, got, tt.want)
		}
	}
	ctx, cancel := context.WithTimeout(t.Context(), 10*time.Second)
	defer cancel()
	pending, cancelPending := context.WithCancel(ctx)
	cancelPending()
	if _, err := src.Session(pending, 0); err == nil {
		t.Fatal("a session still adding filters counts")
	}
	c.action("Action: Ping", "ActionID: 2")
	gen, err := src.Session(ctx, 0)
	if err != nil {
		t.Fatal(err)
	}

	calls, err := crashtest.Calls(filepath.Join("..", "..", "..", "fixtures", "ami", "asterisk22", "01_inbound_answered.log"), 1)
	if err != nil {
		t.Fatal(err)
	}
	stream := append(calls[0], crashtest.SyncEvent("t1")...)
	filtered, err := src.Filter(gen, stream)
	if err != nil {
		t.Fatal(err)
	}
	if err := src.Send(gen, stream); err != nil {
		t.Fatal(err)
	}
	var got []string
	for {
		p := c.packet()
		got = append(got, strings.SplitN(p, "\r\n", 2)[0])
		if strings.Contains(p, "UserEvent: CallhookSync") {
			break
		}
	}
	newchannels := bytes.Count(calls[0], []byte("Event: Newchannel\r\n"))
	if want := newchannels + 1; len(got) != want || events(filtered) != want {
		t.Errorf("got %d events %v, Filter kept %d; want the %d Newchannels and the sync", len(got), got, events(filtered), newchannels)
	}
}

// Unfiltered, every event is sent; the connector's filters keep what it
// reads.
func TestSourceWithTheConnectorsFilters(t *testing.T) {
	src, err := crashtest.NewSource()
	if err != nil {
		t.Fatal(err)
	}
	defer src.Close()
	calls, err := crashtest.Calls(filepath.Join("..", "..", "..", "fixtures", "ami", "asterisk22", "01_inbound_answered.log"), 2)
	if err != nil {
		t.Fatal(err)
	}
	stream := append(calls[0], calls[1]...)
	for _, tt := range []struct {
		name    string
		filters []ami.Filter
		events  int
	}{
		{"unfiltered", nil, events(stream)},
		{"the connector's filters", ami.EventFilters(""), 2 * 22},
	} {
		t.Run(tt.name, func(t *testing.T) {
			c := dialSource(t, src)
			c.action("Action: Login", "ActionID: 1", "Username: admin", "Secret: secret")
			for i, f := range tt.filters {
				got := c.action("Action: Filter", fmt.Sprintf("ActionID: f%d", i), "Operation: Add",
					"MatchCriteria: "+f.MatchCriteria, "Filter: "+f.Filter)
				if !strings.HasPrefix(got, "Response: Success\r\n") {
					t.Fatalf("filter %+v: %q", f, got)
				}
			}
			c.action("Action: Ping", "ActionID: 2")
			gen, err := src.Session(t.Context(), 0)
			if err != nil {
				t.Fatal(err)
			}
			out, err := src.Filter(gen, stream)
			if err != nil {
				t.Fatal(err)
			}
			if n := events(out); n != tt.events {
				t.Errorf("%d events pass, want %d", n, tt.events)
			}
		})
	}
}

// events counts the packets of b.
func events(b []byte) int { return bytes.Count(b, []byte("\r\n\r\n")) }
