package main

import (
	"encoding/json"
	"encoding/xml"
	"fmt"
	"os"
	"strings"
	"time"
)

// A test report for CI (--report junit:FILE, --report json:FILE): one
// case per scenario (sim run) or per scenario and dialect (conformance),
// with the messages of what failed.

// testReport is one run.
type testReport struct {
	Name  string // the command: "callhook sim run"
	Start time.Time
	Cases []*testCase
}

// testCase is one scenario (for one dialect).
type testCase struct {
	Name  string // the scenario
	Class string // what ran it: "sim run", or the dialect variant
	Time  time.Duration
	// Webhooks sent and delivered with a 2xx (sim run), or received and
	// checked (conformance).
	Webhooks, Delivered, Checks int
	Failures                    []string
	Skipped                     string // why the case did not run
}

func (c *testCase) failed() bool { return len(c.Failures) > 0 }

func (r *testReport) add(c *testCase) *testCase {
	r.Cases = append(r.Cases, c)
	return c
}

func (r *testReport) counts() (passed, failed, skipped int) {
	for _, c := range r.Cases {
		switch {
		case c.Skipped != "":
			skipped++
		case c.failed():
			failed++
		default:
			passed++
		}
	}
	return
}

// reportFlag collects --report FORMAT:FILE values.
type reportFlag []reportTarget

type reportTarget struct{ format, file string }

var reportFormats = []string{"junit", "json"}

func (f *reportFlag) String() string {
	var out []string
	for _, t := range *f {
		out = append(out, t.format+":"+t.file)
	}
	return strings.Join(out, ",")
}

func (f *reportFlag) Set(v string) error {
	format, file, ok := strings.Cut(v, ":")
	if !ok || file == "" {
		return fmt.Errorf("want FORMAT:FILE, e.g. junit:report.xml (formats: %s)", strings.Join(reportFormats, ", "))
	}
	switch format {
	case "junit", "json":
	default:
		return fmt.Errorf("unknown report format %q (want %s)", format, strings.Join(reportFormats, ", "))
	}
	*f = append(*f, reportTarget{format, file})
	return nil
}

// write writes the report to every target.
func (f reportFlag) write(r *testReport) error {
	for _, t := range f {
		var b []byte
		var err error
		switch t.format {
		case "junit":
			b, err = r.junit()
		default:
			b, err = r.json()
		}
		if err != nil {
			return fmt.Errorf("write %s report %s: %w", t.format, t.file, err)
		}
		if err := os.WriteFile(t.file, b, 0o644); err != nil {
			return fmt.Errorf("write %s report: %w", t.format, err)
		}
	}
	return nil
}

// The JUnit XML schema CI systems read (Jenkins, GitLab, GitHub actions).
type junitSuites struct {
	XMLName  xml.Name     `xml:"testsuites"`
	Name     string       `xml:"name,attr"`
	Tests    int          `xml:"tests,attr"`
	Failures int          `xml:"failures,attr"`
	Skipped  int          `xml:"skipped,attr"`
	Time     string       `xml:"time,attr"`
	Suites   []junitSuite `xml:"testsuite"`
}

type junitSuite struct {
	Name      string      `xml:"name,attr"`
	Tests     int         `xml:"tests,attr"`
	Failures  int         `xml:"failures,attr"`
	Errors    int         `xml:"errors,attr"`
	Skipped   int         `xml:"skipped,attr"`
	Time      string      `xml:"time,attr"`
	Timestamp string      `xml:"timestamp,attr"`
	Cases     []junitCase `xml:"testcase"`
}

type junitCase struct {
	Name      string        `xml:"name,attr"`
	Classname string        `xml:"classname,attr"`
	Time      string        `xml:"time,attr"`
	Failure   *junitFailure `xml:"failure,omitempty"`
	Skipped   *junitSkipped `xml:"skipped,omitempty"`
	SystemOut string        `xml:"system-out,omitempty"`
}

type junitFailure struct {
	Message string `xml:"message,attr"`
	Type    string `xml:"type,attr"`
	Text    string `xml:",chardata"`
}

type junitSkipped struct {
	Message string `xml:"message,attr"`
}

func seconds(d time.Duration) string { return fmt.Sprintf("%.3f", d.Seconds()) }

func (r *testReport) junit() ([]byte, error) {
	passed, failed, skipped := r.counts()
	total := time.Since(r.Start) // cases of one play share its time
	s := junitSuite{Name: r.Name, Tests: passed + failed + skipped, Failures: failed, Skipped: skipped,
		Timestamp: r.Start.UTC().Format(time.RFC3339)}
	for _, c := range r.Cases {
		jc := junitCase{Name: c.Name, Classname: c.Class, Time: seconds(c.Time), SystemOut: c.summary()}
		switch {
		case c.Skipped != "":
			jc.Skipped = &junitSkipped{Message: c.Skipped}
		case c.failed():
			jc.Failure = &junitFailure{Message: c.Failures[0], Type: "failure", Text: strings.Join(c.Failures, "\n")}
		}
		s.Cases = append(s.Cases, jc)
	}
	s.Time = seconds(total)
	out, err := xml.MarshalIndent(junitSuites{Name: r.Name, Tests: s.Tests, Failures: failed, Skipped: skipped,
		Time: s.Time, Suites: []junitSuite{s}}, "", "  ")
	if err != nil {
		return nil, err
	}
	return append([]byte(xml.Header), append(out, '\n')...), nil
}

// summary is the case's one line for people: what it sent or checked.
func (c *testCase) summary() string {
	switch {
	case c.Skipped != "":
		return ""
	case c.Checks > 0:
		return fmt.Sprintf("%d webhooks, %d checks", c.Webhooks, c.Checks)
	}
	return fmt.Sprintf("%d webhooks sent, %d delivered", c.Webhooks, c.Delivered)
}

type jsonReport struct {
	Name    string     `json:"name"`
	Start   time.Time  `json:"start"`
	Passed  int        `json:"passed"`
	Failed  int        `json:"failed"`
	Skipped int        `json:"skipped"`
	Cases   []jsonCase `json:"cases"`
}

type jsonCase struct {
	Name      string   `json:"name"`
	Class     string   `json:"class"`
	Status    string   `json:"status"` // passed, failed or skipped
	Seconds   float64  `json:"seconds"`
	Webhooks  int      `json:"webhooks"`
	Delivered int      `json:"delivered,omitempty"`
	Checks    int      `json:"checks,omitempty"`
	Failures  []string `json:"failures,omitempty"`
	Skipped   string   `json:"skipped,omitempty"`
}

func (r *testReport) json() ([]byte, error) {
	passed, failed, skipped := r.counts()
	out := jsonReport{Name: r.Name, Start: r.Start, Passed: passed, Failed: failed, Skipped: skipped, Cases: []jsonCase{}}
	for _, c := range r.Cases {
		status := "passed"
		switch {
		case c.Skipped != "":
			status = "skipped"
		case c.failed():
			status = "failed"
		}
		out.Cases = append(out.Cases, jsonCase{Name: c.Name, Class: c.Class, Status: status, Seconds: c.Time.Seconds(),
			Webhooks: c.Webhooks, Delivered: c.Delivered, Checks: c.Checks, Failures: c.Failures, Skipped: c.Skipped})
	}
	b, err := json.MarshalIndent(out, "", "  ")
	return append(b, '\n'), err
}
