package inspect

import (
	"encoding/json"
	"fmt"
	"net/http"
	"time"
)

// subscriber is one page following the calls over server-sent events.
// Changes are marked under the inspector's lock and sent by the page's
// own request goroutine, so a slow page holds up nothing else.
type subscriber struct {
	dirty map[string]bool // call keys changed since the last send
	wake  chan struct{}   // has a value when dirty has keys
}

// mark notes that call key changed. The caller holds in.mu.
func (s *subscriber) mark(key string) {
	s.dirty[key] = true
	select {
	case s.wake <- struct{}{}:
	default:
	}
}

// How often the SIP ladders of recent calls are looked at for new
// messages while a page follows the calls (the PBX keeps the ladders and
// says nothing when they grow), and how long after its last signal a
// call counts as recent.
const (
	sipPoll   = 300 * time.Millisecond
	sipRecent = 30 * time.Second
	keepAlive = 15 * time.Second
)

func (in *Inspector) serveEvents(w http.ResponseWriter, r *http.Request) {
	fl, ok := w.(http.Flusher)
	if !ok {
		http.Error(w, "streaming unsupported", http.StatusInternalServerError)
		return
	}
	w.Header().Set("Content-Type", "text/event-stream")
	w.Header().Set("Cache-Control", "no-store")
	w.Header().Set("X-Accel-Buffering", "no")
	sub := &subscriber{dirty: map[string]bool{}, wake: make(chan struct{}, 1)}
	in.mu.Lock()
	in.subs[sub] = struct{}{}
	in.mu.Unlock()
	defer func() {
		in.mu.Lock()
		delete(in.subs, sub)
		in.mu.Unlock()
	}()

	// The page asks for the list itself; this says the stream is on.
	fmt.Fprint(w, "retry: 1000\nevent: hello\ndata: {}\n\n")
	fl.Flush()
	var poll <-chan time.Time
	if in.opts.SIP != nil {
		t := time.NewTicker(sipPoll)
		defer t.Stop()
		poll = t.C
	}
	alive := time.NewTicker(keepAlive)
	defer alive.Stop()
	for {
		select {
		case <-r.Context().Done():
			return
		case <-alive.C:
			fmt.Fprint(w, ": keep-alive\n\n")
			fl.Flush()
			continue
		case <-poll:
			in.pollSIP()
			continue
		case <-sub.wake:
		}
		in.mu.Lock()
		var changed []summary
		for k := range sub.dirty {
			if c, ok := in.calls[k]; ok {
				changed = append(changed, c.summary())
			}
		}
		clear(sub.dirty)
		in.mu.Unlock()
		for _, s := range changed {
			b, _ := json.Marshal(s)
			fmt.Fprintf(w, "event: call\ndata: %s\n\n", b)
		}
		fl.Flush()
	}
}

// pollSIP marks changed the recent calls whose SIP ladder grew.
func (in *Inspector) pollSIP() {
	now := time.Now()
	type recent struct {
		key      string
		pbxCalls []string
	}
	var rs []recent
	in.mu.Lock()
	for _, k := range in.order {
		if c := in.calls[k]; now.Sub(c.Last) < sipRecent && len(c.pbxCalls) > 0 {
			rs = append(rs, recent{k, append([]string(nil), c.pbxCalls...)})
		}
	}
	in.mu.Unlock()
	for _, r := range rs {
		n := 0
		for _, l := range in.opts.SIP.Legs(r.pbxCalls) {
			n += len(l.Lines)
		}
		in.mu.Lock()
		if c, ok := in.calls[r.key]; ok && c.sipLines != n {
			c.sipLines = n
			// Not touch: a growing ladder does not make its call
			// recent again, only the call's signals and webhooks do.
			in.seq++
			c.rev = in.seq
			for s := range in.subs {
				s.mark(c.Key)
			}
		}
		in.mu.Unlock()
	}
}
