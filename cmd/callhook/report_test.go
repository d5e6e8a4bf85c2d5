package main

import (
	"context"
	"encoding/xml"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/callhook/callhook/core/webhooktest"
)

type junitFile struct {
	Suites []struct {
		Tests    int `xml:"tests,attr"`
		Failures int `xml:"failures,attr"`
		Cases    []struct {
			Name      string `xml:"name,attr"`
			Classname string `xml:"classname,attr"`
			Failure   *struct {
				Message string `xml:"message,attr"`
				Text    string `xml:",chardata"`
			} `xml:"failure"`
		} `xml:"testcase"`
	} `xml:"testsuite"`
}

func readJUnit(t *testing.T, path string) junitFile {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	var f junitFile
	if err := xml.Unmarshal(b, &f); err != nil || len(f.Suites) != 1 {
		t.Fatalf("junit report (%v):\n%s", err, b)
	}
	return f
}

// A receiver that answers 500 fails the run, and the JUnit report's case
// for the scenario carries why.
func TestSimRunReportsFailures(t *testing.T) {
	recv := webhooktest.NewServer()
	defer recv.Close()
	recv.SetStatus(http.StatusInternalServerError)
	junit := filepath.Join(t.TempDir(), "sim.xml")
	ctx, cancel := context.WithTimeout(t.Context(), 2*time.Minute)
	defer cancel()
	out, errOut, code := callhook(t, ctx, "sim", "run", "inbound-missed", "--dialect", "3cx",
		"--target", recv.URL()+"/hook", "--speed", "20", "--report", "junit:"+junit)
	if code != 1 {
		t.Fatalf("exit %d, want 1\nstdout:\n%s\nstderr:\n%s", code, out, errOut)
	}
	if !strings.Contains(out, "<- 500 Internal Server Error") {
		t.Errorf("output does not show the 500:\n%s", out)
	}
	f := readJUnit(t, junit)
	s := f.Suites[0]
	if s.Tests != 1 || s.Failures != 1 || len(s.Cases) != 1 || s.Cases[0].Name != "inbound-missed" || s.Cases[0].Failure == nil {
		t.Fatalf("junit: %+v", s)
	}
	if msg := s.Cases[0].Failure.Text; !strings.Contains(msg, "not delivered after 3 attempt(s)") || !strings.Contains(msg, "500") {
		t.Errorf("failure says %q", msg)
	}
}

// callhook conformance --report junit lists one case per scenario and
// dialect variant.
func TestConformanceReport(t *testing.T) {
	junit := filepath.Join(t.TempDir(), "conformance.xml")
	ctx, cancel := context.WithTimeout(t.Context(), 2*time.Minute)
	defer cancel()
	out, errOut, code := callhook(t, ctx, "conformance", "--dialect", "3cx", "--speed", "20", "--report", "junit:"+junit, "inbound-missed")
	if code != 0 {
		t.Fatalf("exit %d\nstdout:\n%s\nstderr:\n%s", code, out, errOut)
	}
	s := readJUnit(t, junit).Suites[0]
	if s.Tests != 1 || s.Failures != 0 || s.Cases[0].Name != "inbound-missed" || s.Cases[0].Classname != "3cx" {
		t.Errorf("junit: %+v", s)
	}
}
