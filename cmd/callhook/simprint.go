package main

import (
	"encoding/base64"
	"fmt"
	"io"
	"maps"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/callhook/callhook/core/delivery"
)

// report prints what was sent and how the receiver answered, counts it,
// and files it under the scenario being played (for --report). With full
// (sim run) each request is printed as it went out and each answer as it
// came back; otherwise (demo) one line each.
type report struct {
	mu      sync.Mutex
	w       io.Writer
	full    bool
	sent    int
	failed  int
	lastErr error
	cur     *testCase
}

// begin files the results from now on under c.
func (r *report) begin(c *testCase) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.cur = c
}

func (r *report) result(res delivery.Result) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.sent++
	if r.cur != nil {
		r.cur.Webhooks++
	}
	if res.OK() {
		if r.cur != nil {
			r.cur.Delivered++
		}
	} else {
		r.failed++
		r.lastErr = res.Err
		if r.cur != nil {
			r.cur.Failures = append(r.cur.Failures, fmt.Sprintf("webhook %s to %s not delivered after %d attempt(s): %v",
				res.Request.ID, res.Request.Receiver, res.Attempts, res.Err))
		}
	}
	if r.full {
		fmt.Fprint(r.w, exchange(res))
		return
	}
	m := methodOf(res.Request)
	if res.OK() {
		fmt.Fprintf(r.w, "  -> %s %s\n     <- %d %s %s(%s)\n", m, res.Request.URL, res.Status, http.StatusText(res.Status),
			snippet(res.Body), res.Latency.Round(10*time.Microsecond))
		return
	}
	fmt.Fprintf(r.w, "  -> %s %s\n     !! not delivered after %d attempt(s): %v\n", m, res.Request.URL, res.Attempts, res.Err)
}

func (r *report) summary(target string) {
	r.mu.Lock()
	defer r.mu.Unlock()
	fmt.Fprintf(r.w, "%d webhook(s) sent to %s, %d delivered, %d failed\n", r.sent, target, r.sent-r.failed, r.failed)
}

func methodOf(req delivery.Request) string {
	if req.Method == "" {
		return http.MethodPost
	}
	return req.Method
}

// exchange is one webhook in full: the request as it went out (method,
// URL, headers, body) and the receiver's last answer (status, headers,
// the start of the body).
func exchange(res delivery.Result) string {
	var b strings.Builder
	req := res.Request
	fmt.Fprintf(&b, "-> %s %s\n", methodOf(req), redactURL(req.URL))
	fmt.Fprintf(&b, "   (webhook %s, receiver %s)\n", req.ID, req.Receiver)
	h := res.Sent
	if h == nil {
		h = req.Header
	}
	writeHeader(&b, h)
	writeBody(&b, req.Body, 0)
	attempts := "1 attempt"
	if res.Attempts != 1 {
		attempts = fmt.Sprintf("%d attempts", res.Attempts)
	}
	switch {
	case res.OK():
		fmt.Fprintf(&b, "<- %d %s  (%s, %s)\n", res.Status, http.StatusText(res.Status), res.Latency.Round(10*time.Microsecond), attempts)
	case res.Status != 0:
		fmt.Fprintf(&b, "<- %d %s  (%s) !! not delivered: %v\n", res.Status, http.StatusText(res.Status), attempts, res.Err)
	default:
		fmt.Fprintf(&b, "<- !! not delivered after %s: %v\n", attempts, res.Err)
	}
	if res.Status != 0 {
		writeHeader(&b, res.Header)
		writeBody(&b, res.Body, 1<<10)
	}
	b.WriteByte('\n')
	return b.String()
}

// writeHeader prints h sorted, basic auth with its password hidden: the
// user configured it and sees the user name, CI logs do not keep it.
func writeHeader(b *strings.Builder, h http.Header) {
	for _, k := range slices.Sorted(maps.Keys(h)) {
		for _, v := range h[k] {
			if k == "Authorization" {
				v = redactAuth(v)
			}
			fmt.Fprintf(b, "   %s: %s\n", k, v)
		}
	}
}

// redactURL hides a password written into the URL, as redactAuth does
// for basic auth.
func redactURL(raw string) string {
	if u, err := url.Parse(raw); err == nil && u.User != nil {
		return u.Redacted()
	}
	return raw
}

func redactAuth(v string) string {
	scheme, cred, ok := strings.Cut(v, " ")
	if !ok {
		return "[REDACTED]"
	}
	if strings.EqualFold(scheme, "Basic") {
		if raw, err := base64.StdEncoding.DecodeString(cred); err == nil {
			if user, _, ok := strings.Cut(string(raw), ":"); ok {
				return fmt.Sprintf("%s [user %s, password hidden]", scheme, user)
			}
		}
	}
	return scheme + " [REDACTED]"
}

// writeBody prints body after a blank line, indented; max > 0 cuts it.
func writeBody(b *strings.Builder, body []byte, max int) {
	s := strings.TrimRight(string(body), "\r\n")
	if s == "" {
		return
	}
	more := ""
	if max > 0 && len(s) > max {
		more = fmt.Sprintf(" … (%d more bytes)", len(s)-max)
		s = s[:max]
	}
	b.WriteString("\n")
	for line := range strings.SplitSeq(s+more, "\n") {
		fmt.Fprintf(b, "   %s\n", strings.TrimRight(line, "\r"))
	}
}

// snippet is the start of a response body, on one line, followed by a space.
func snippet(b []byte) string {
	s := strings.TrimSpace(string(b))
	if s == "" {
		return ""
	}
	if len(s) > 60 {
		s = s[:60] + "..."
	}
	return strings.ReplaceAll(s, "\n", " ") + " "
}
