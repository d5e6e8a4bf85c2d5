package inspect

import (
	"embed"
	"encoding/json"
	"fmt"
	"io/fs"
	"net/http"
	"slices"
	"sort"
	"time"
)

// The page: plain HTML, CSS and JavaScript, no build step.
//
//go:embed static
var static embed.FS

// The inspector's HTTP interface, relative to where it is mounted:
//
//	GET /                  the page
//	GET /static/...        its script and style
//	GET /api/info          what is inspected (title), whether SIP is shown
//	GET /api/calls         every call kept, newest first (summaries)
//	GET /api/calls/{key}   one call: SIP ladder, signals, events, webhooks
//	GET /api/events        server-sent events: "call" with a summary
//	                       whenever a call changes
func (in *Inspector) routes() *http.ServeMux {
	mux := http.NewServeMux()
	sub, _ := fs.Sub(static, "static")
	mux.Handle("GET /static/", http.StripPrefix("/static/", http.FileServerFS(sub)))
	mux.HandleFunc("GET /{$}", func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "text/html; charset=utf-8")
		w.Header().Set("Cache-Control", "no-store")
		b, _ := static.ReadFile("static/index.html")
		_, _ = w.Write(b)
	})
	mux.HandleFunc("GET /api/info", func(w http.ResponseWriter, _ *http.Request) {
		writeJSON(w, map[string]any{"title": in.opts.Title, "sip": in.opts.SIP != nil, "max_calls": in.opts.MaxCalls})
	})
	mux.HandleFunc("GET /api/calls", in.serveCalls)
	mux.HandleFunc("GET /api/calls/{key}", in.serveCall)
	mux.HandleFunc("GET /api/events", in.serveEvents)
	return mux
}

// ServeHTTP serves the page, its API and its live updates.
func (in *Inspector) ServeHTTP(w http.ResponseWriter, r *http.Request) { in.mux.ServeHTTP(w, r) }

// summary is what the list of calls shows of one.
type summary struct {
	Key      string    `json:"key"`
	Title    string    `json:"title"`
	CallID   string    `json:"call_id,omitempty"`
	Status   bool      `json:"status,omitempty"`
	First    time.Time `json:"first"`
	Last     time.Time `json:"last"`
	Rev      int64     `json:"rev"`
	Webhooks int       `json:"webhooks"`
	Failures int       `json:"failures"` // requests breaking a vendor rule
	Pending  int       `json:"pending"`
	Dead     int       `json:"dead"`
}

func (c *call) summary() summary {
	s := summary{Key: c.Key, Title: c.Title, CallID: c.CallID, Status: c.Status, First: c.First, Last: c.Last, Rev: c.rev, Webhooks: len(c.Hooks)}
	if s.Title == "" {
		s.Title = c.Key
	}
	for _, h := range c.Hooks {
		if len(h.Failures) > 0 {
			s.Failures++
		}
		switch h.State {
		case "dead":
			s.Dead++
		case "delivered":
		default:
			s.Pending++
		}
	}
	return s
}

// Summaries lists the calls kept, newest first.
func (in *Inspector) summaries() []summary {
	in.mu.Lock()
	defer in.mu.Unlock()
	out := make([]summary, 0, len(in.order))
	for _, k := range slices.Backward(in.order) {
		out = append(out, in.calls[k].summary())
	}
	return out
}

func (in *Inspector) serveCalls(w http.ResponseWriter, _ *http.Request) {
	writeJSON(w, in.summaries())
}

// detail is everything the page shows of one call.
type detail struct {
	summary
	PBXCalls []string     `json:"pbx_calls"`
	Signals  []signalView `json:"signals"`
	Events   []eventView  `json:"events"`
	Webhooks []hookView   `json:"webhooks"`
	SIP      *sipView     `json:"sip,omitempty"`
}

type hookView struct {
	ID       string              `json:"id"`
	Receiver string              `json:"receiver"`
	Dialect  string              `json:"dialect,omitempty"`
	Seen     time.Time           `json:"seen"`
	Seq      int64               `json:"seq"`
	State    string              `json:"state"`
	Method   string              `json:"method"`
	URL      string              `json:"url"`
	Header   map[string][]string `json:"header"`
	Body     string              `json:"body,omitempty"`
	Fields   []fieldView         `json:"fields"`
	Failures []failureView       `json:"failures"`
	Attempts []attemptView       `json:"attempts"`
}

func (in *Inspector) serveCall(w http.ResponseWriter, r *http.Request) {
	d, ok := in.detail(r.PathValue("key"))
	if !ok {
		http.Error(w, fmt.Sprintf("no call %q (it may have been dropped: the inspector keeps the last %d)", r.PathValue("key"), in.opts.MaxCalls), http.StatusNotFound)
		return
	}
	writeJSON(w, d)
}

func (in *Inspector) detail(key string) (detail, bool) {
	in.mu.Lock()
	c, ok := in.calls[key]
	if !ok {
		in.mu.Unlock()
		return detail{}, false
	}
	d := detail{summary: c.summary(), PBXCalls: slices.Clone(c.pbxCalls),
		Signals: slices.Clone(c.Signals), Events: slices.Clone(c.Events)}
	for _, h := range c.Hooks {
		d.Webhooks = append(d.Webhooks, hookView{
			ID: h.ID, Receiver: h.Receiver, Dialect: h.Dialect, Seen: h.Seen, Seq: h.Seq, State: h.State,
			Method: h.Method, URL: h.URL, Header: h.Header, Body: h.Body,
			Fields: slices.Clone(h.Fields), Failures: slices.Clone(h.Failures), Attempts: slices.Clone(h.Attempts),
		})
	}
	in.mu.Unlock()
	// The ladder is read outside the lock: the PBX keeps it.
	if in.opts.SIP != nil && len(d.PBXCalls) > 0 {
		d.SIP = ladder(in.opts.SIP.Legs(d.PBXCalls))
	}
	return d, true
}

// sipView is a call's SIP legs as one ladder: the parties as columns
// around the PBX, every message in the order the PBX saw it.
type sipView struct {
	Parties []string  `json:"parties"` // left to right; "PBX" among them
	Lines   []sipLine `json:"lines"`
	Legs    int       `json:"legs"`
}

type sipLine struct {
	Time    time.Time `json:"time"`
	From    string    `json:"from"`
	To      string    `json:"to"`
	Message string    `json:"message"`
	CallID  string    `json:"call_id"`
}

// ladder merges legs into one ladder, the first leg's party left of the
// PBX and the others to its right, as sngrep draws a B2BUA's call.
func ladder(legs []SIPLeg) *sipView {
	v := &sipView{Legs: len(legs)}
	if len(legs) == 0 {
		return v
	}
	right := []string{}
	for _, l := range legs[1:] {
		if l.Party != legs[0].Party && !slices.Contains(right, l.Party) {
			right = append(right, l.Party)
		}
	}
	v.Parties = append([]string{legs[0].Party, "PBX"}, right...)
	for _, l := range legs {
		for _, m := range l.Lines {
			from, to := "PBX", l.Party
			if m.Recv {
				from, to = l.Party, "PBX"
			}
			v.Lines = append(v.Lines, sipLine{Time: m.Time, From: from, To: to, Message: m.Message, CallID: l.CallID})
		}
	}
	sort.SliceStable(v.Lines, func(i, j int) bool { return v.Lines[i].Time.Before(v.Lines[j].Time) })
	return v
}

func writeJSON(w http.ResponseWriter, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("Cache-Control", "no-store")
	_ = json.NewEncoder(w).Encode(v)
}
