package main

import (
	"flag"
	"fmt"
	"io"
	"runtime"
	"runtime/debug"
	"strings"
)

func cmdVersion(args []string, stdout, stderr io.Writer) error {
	fs := flag.NewFlagSet("callhook version", flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.Usage = func() {
		fmt.Fprint(stderr, "Usage: callhook version\n\nPrints the module version, the VCS revision it was built from (when the\nbuild recorded one) and the Go toolchain.\n")
	}
	if err := fs.Parse(args); err != nil {
		return err
	}
	if fs.NArg() > 0 {
		return fmt.Errorf("%w: version takes no arguments", errUsage)
	}
	fmt.Fprintln(stdout, versionLine())
	return nil
}

// versionLine is "callhook VERSION (revision R, TIME[, modified]) GO OS/ARCH"
// from the build information the Go toolchain embeds: the module version
// for `go install …@v1.2.3`, "(devel)" for a build from a checkout, whose
// git revision is then recorded instead (unless built with -buildvcs=false).
func versionLine() string {
	info, _ := debug.ReadBuildInfo()
	return versionOf(info) + " " + runtime.Version() + " " + runtime.GOOS + "/" + runtime.GOARCH
}

func versionOf(info *debug.BuildInfo) string {
	if info == nil {
		return "callhook (unknown)"
	}
	settings := map[string]string{}
	for _, s := range info.Settings {
		settings[s.Key] = s.Value
	}
	var vcs []string
	if r := settings["vcs.revision"]; r != "" {
		vcs = append(vcs, "revision "+r)
	}
	if t := settings["vcs.time"]; t != "" {
		vcs = append(vcs, t)
	}
	if settings["vcs.modified"] == "true" {
		vcs = append(vcs, "modified")
	}
	line := "callhook " + info.Main.Version
	if len(vcs) > 0 {
		line += " (" + strings.Join(vcs, ", ") + ")"
	}
	return line
}
