package inspect

import (
	"bytes"
	"cmp"
	"encoding/json"
	"mime"
	"net/http"
	"net/url"
	"slices"
	"strings"

	"github.com/callhook/callhook/conformance/check"
	"github.com/callhook/callhook/core/webhook"
)

// fieldView is one field of a request as the page lists it.
type fieldView struct {
	Name  string `json:"name"`
	Value string `json:"value"`
	In    string `json:"in"` // query, body
	// Fail: a vendor rule this request breaks is about the field;
	// Missing: the field is not there, and a rule wants it.
	Fail    bool `json:"fail,omitempty"`
	Missing bool `json:"missing,omitempty"`
}

// failureView is one broken vendor rule as the page shows it.
type failureView struct {
	Field   string `json:"field,omitempty"`
	Message string `json:"message"`
	// Where the rule is written: the fixture's line, and the vendor
	// document's words with their line.
	RuleFile    string `json:"rule_file,omitempty"`
	RuleLine    int    `json:"rule_line,omitempty"`
	RuleText    string `json:"rule_text,omitempty"`
	DocDocument string `json:"doc_document,omitempty"`
	DocLine     int    `json:"doc_line,omitempty"`
	DocText     string `json:"doc_text,omitempty"`
}

// checkRequest lists req's fields and checks it against the vendor rules
// registered for its dialect (conformance/check), the failing fields
// marked. A dialect without registered rules gives no failures.
func checkRequest(dialect string, opts map[string]string, req webhook.Request) ([]fieldView, []failureView) {
	cr := checkable(req)
	fields := listFields(cr)
	d, err := check.Lookup(dialect)
	if err != nil || d.Request == nil {
		return fields, nil
	}
	var out []failureView
	seen := map[string]bool{}
	prefix := cr.String() + ": "
	for _, err := range d.Request(opts, cr) {
		for _, f := range check.RuleFailures(err) {
			msg := strings.TrimPrefix(f.Error(), prefix)
			if seen[f.Field+"\x00"+msg] {
				continue // a check that runs twice (a body that does not decode)
			}
			seen[f.Field+"\x00"+msg] = true
			out = append(out, failureView{
				Field: f.Field, Message: msg,
				RuleFile: f.Rule.File, RuleLine: f.Rule.Line, RuleText: f.Rule.Text,
				DocDocument: f.Rule.Doc.Document, DocLine: f.Rule.Doc.Line, DocText: f.Rule.Doc.Text,
			})
		}
	}
	for _, f := range out {
		if f.Field == "" || http.CanonicalHeaderKey(f.Field) == f.Field && req.Header.Get(f.Field) != "" {
			continue
		}
		i := slices.IndexFunc(fields, func(v fieldView) bool { return v.Name == f.Field })
		if i < 0 {
			fields = append(fields, fieldView{Name: f.Field, In: "missing", Fail: true, Missing: true})
			continue
		}
		fields[i].Fail = true
	}
	return fields, out
}

// checkable is req as a receiver gets it, for the checks.
func checkable(req webhook.Request) check.Request {
	r := check.Request{Method: cmp.Or(req.Method, http.MethodPost), Header: req.Header, Body: req.Body}
	if u, err := url.Parse(req.URL); err == nil {
		r.Path, r.RawQuery = u.Path, u.RawQuery
	}
	if r.Header == nil {
		r.Header = http.Header{}
	}
	return r
}

// listFields lists the query's parameters and the body's top-level keys,
// in the order they were sent.
func listFields(r check.Request) []fieldView {
	var out []fieldView
	for part := range strings.SplitSeq(r.RawQuery, "&") {
		if part == "" {
			continue
		}
		k, v, _ := strings.Cut(part, "=")
		k, _ = url.QueryUnescape(k)
		v, _ = url.QueryUnescape(v)
		out = append(out, fieldView{Name: k, Value: v, In: "query"})
	}
	if len(r.Body) == 0 {
		return out
	}
	mt, _, _ := mime.ParseMediaType(r.Header.Get("Content-Type"))
	if mt == "application/x-www-form-urlencoded" {
		for part := range strings.SplitSeq(string(r.Body), "&") {
			k, v, _ := strings.Cut(part, "=")
			k, _ = url.QueryUnescape(k)
			v, _ = url.QueryUnescape(v)
			out = append(out, fieldView{Name: k, Value: v, In: "body"})
		}
		return out
	}
	return append(out, jsonFields(r.Body)...)
}

// jsonFields lists a JSON object's keys in order, values as written.
func jsonFields(b []byte) []fieldView {
	dec := json.NewDecoder(bytes.NewReader(b))
	if t, err := dec.Token(); err != nil || t != json.Delim('{') {
		return nil
	}
	var out []fieldView
	for dec.More() {
		t, err := dec.Token()
		if err != nil {
			return out
		}
		k, _ := t.(string)
		var raw json.RawMessage
		if err := dec.Decode(&raw); err != nil {
			return out
		}
		v := string(raw)
		var s string
		if len(raw) > 0 && raw[0] == '"' && json.Unmarshal(raw, &s) == nil {
			v = s
		}
		out = append(out, fieldView{Name: k, Value: v, In: "body"})
	}
	return out
}
