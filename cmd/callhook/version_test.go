package main

import (
	"runtime"
	"runtime/debug"
	"strings"
	"testing"
)

func TestVersion(t *testing.T) {
	out, _, code := callhook(t, t.Context(), "version")
	if code != 0 || !strings.HasPrefix(out, "callhook ") || !strings.Contains(out, runtime.Version()) {
		t.Errorf("callhook version: exit %d, %q", code, out)
	}
	for _, tt := range []struct {
		info *debug.BuildInfo
		want string
	}{
		{&debug.BuildInfo{Main: debug.Module{Version: "v1.2.3"}}, "callhook v1.2.3"},
		{&debug.BuildInfo{Main: debug.Module{Version: "(devel)"}, Settings: []debug.BuildSetting{
			{Key: "vcs.revision", Value: "3331d6e0"}, {Key: "vcs.time", Value: "2026-11-24T10:00:00Z"}, {Key: "vcs.modified", Value: "true"}}},
			"callhook (devel) (revision 3331d6e0, 2026-11-24T10:00:00Z, modified)"},
		{nil, "callhook (unknown)"},
	} {
		if got := versionOf(tt.info); got != tt.want {
			t.Errorf("versionOf = %q, want %q", got, tt.want)
		}
	}
}

// Every command answers --help on stdout-or-stderr with exit 0, sim and
// its subcommands included.
func TestHelp(t *testing.T) {
	for _, args := range [][]string{{"--help"}, {"help"}, {"sim", "--help"}, {"sim", "help"}, {"sim", "run", "--help"},
		{"sim", "list", "--help"}, {"sim", "serve", "--help"}, {"serve", "--help"}, {"demo", "--help"}, {"conformance", "--help"},
		{"deliveries", "list", "--help"}, {"deliveries", "--help"}, {"health", "--help"}, {"version", "--help"},
		{"help", "sim", "run"}, {"help", "deliveries"}} {
		out, errOut, code := callhook(t, t.Context(), args...)
		if code != 0 || !strings.Contains(out+errOut, "Usage") {
			t.Errorf("%v: exit %d\n%s%s", args, code, out, errOut)
		}
	}
}
