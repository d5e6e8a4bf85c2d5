package realpbx

import (
	"bytes"
	"context"
	"fmt"
	"net"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"time"
)

// Recorder keeps the raw bytes of one AMI session, banner to Goodbye, as
// the captures in fixtures/ami/asterisk22 are: it logs in with
// "ActionID: gt-1" and Events: on, and logs off with "ActionID: gt-2".
type Recorder struct {
	conn    net.Conn
	mu      sync.Mutex
	buf     bytes.Buffer
	changed chan struct{} // closed and replaced whenever buf grows
	done    chan struct{} // closed when the connection ends
	err     error
	rewrite []string // old, new pairs applied when saving
}

// Record connects to the target's AMI and starts recording.
func Record(ctx context.Context, t *Target) (*Recorder, error) {
	var d net.Dialer
	conn, err := d.DialContext(ctx, "tcp", t.AMI)
	if err != nil {
		return nil, fmt.Errorf("record AMI: %w", err)
	}
	r := &Recorder{conn: conn, changed: make(chan struct{}), done: make(chan struct{})}
	if t.Local != nil {
		// Install paths become those of a stock install, as in the
		// earlier captures.
		r.rewrite = []string{
			filepath.Join(t.Local.Dir, "spool"), "/var/spool/asterisk",
			filepath.Join(t.Local.Dir, "lib"), "/var/lib/asterisk",
			filepath.Join(t.Local.Dir, "log"), "/var/log/asterisk",
			filepath.Join(t.Local.Dir, "run"), "/var/run/asterisk",
			filepath.Join(t.Local.Prefix, "var", "lib", "asterisk"), "/var/lib/asterisk",
		}
		if etc, err := filepath.Abs(ConfigDir()); err == nil {
			r.rewrite = append(r.rewrite, etc, "/etc/asterisk")
		}
	}
	go r.read()
	login := fmt.Sprintf("Action: Login\r\nActionID: gt-1\r\nUsername: %s\r\nSecret: %s\r\nEvents: on\r\n\r\n", t.AMIUser, t.AMISecret)
	if _, err := conn.Write([]byte(login)); err != nil {
		conn.Close()
		return nil, fmt.Errorf("record AMI: log in: %w", err)
	}
	if err := r.waitFor(ctx, 10*time.Second, "Message: Authentication accepted"); err != nil {
		conn.Close()
		return nil, fmt.Errorf("record AMI: log in: %w", err)
	}
	return r, nil
}

func (r *Recorder) read() {
	b := make([]byte, 64<<10)
	for {
		n, err := r.conn.Read(b)
		r.mu.Lock()
		if n > 0 {
			r.buf.Write(b[:n])
			close(r.changed)
			r.changed = make(chan struct{})
		}
		r.mu.Unlock()
		if err != nil {
			r.err = err
			close(r.done)
			return
		}
	}
}

// hasPacket reports whether one packet of data holds every line of lines.
func hasPacket(data []byte, lines ...string) bool {
	for _, p := range bytes.Split(data, []byte("\r\n\r\n")) {
		all := true
		for _, l := range lines {
			if !bytes.Contains(append(append([]byte("\r\n"), p...), "\r\n"...), []byte("\r\n"+l+"\r\n")) {
				all = false
				break
			}
		}
		if all {
			return true
		}
	}
	return false
}

// waitFor waits until one packet of the recording holds every line.
func (r *Recorder) waitFor(ctx context.Context, within time.Duration, lines ...string) error {
	s := strings.Join(lines, ", ")
	t := time.NewTimer(within)
	defer t.Stop()
	for {
		r.mu.Lock()
		found := hasPacket(r.buf.Bytes(), lines...)
		ch := r.changed
		r.mu.Unlock()
		if found {
			return nil
		}
		select {
		case <-ch:
		case <-r.done:
			return fmt.Errorf("AMI session ended before %q arrived: %v", s, r.err)
		case <-t.C:
			return fmt.Errorf("no %q on the AMI session within %s", s, within)
		case <-ctx.Done():
			return fmt.Errorf("waiting for %q: %w", s, ctx.Err())
		}
	}
}

// Stop waits until the sync event with token arrived (the scenario's every
// event came before it), logs off, and writes the session to file.
func (r *Recorder) Stop(ctx context.Context, token, file string) error {
	defer r.conn.Close()
	if err := r.waitFor(ctx, 30*time.Second, "UserEvent: CallhookSync", "Token: "+token); err != nil {
		return fmt.Errorf("record AMI: %w", err)
	}
	if _, err := r.conn.Write([]byte("Action: Logoff\r\nActionID: gt-2\r\n\r\n")); err != nil {
		return fmt.Errorf("record AMI: log off: %w", err)
	}
	select {
	case <-r.done:
	case <-time.After(10 * time.Second):
		return fmt.Errorf("record AMI: session not closed within 10 s of Logoff")
	case <-ctx.Done():
		return ctx.Err()
	}
	r.mu.Lock()
	data := r.buf.Bytes()
	r.mu.Unlock()
	if !bytes.Contains(data, []byte("Response: Goodbye\r\n")) {
		return fmt.Errorf("record AMI: no Goodbye at the end of the session")
	}
	s := string(data)
	for i := 0; i+1 < len(r.rewrite); i += 2 {
		s = strings.ReplaceAll(s, r.rewrite[i], r.rewrite[i+1])
	}
	if err := os.MkdirAll(filepath.Dir(file), 0o755); err != nil {
		return err
	}
	return os.WriteFile(file, []byte(s), 0o644)
}

// Close drops the session without saving it.
func (r *Recorder) Close() error { return r.conn.Close() }
