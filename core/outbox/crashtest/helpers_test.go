package crashtest_test

import (
	"net"
	"os/exec"
	"path/filepath"
	"testing"
	"time"

	"github.com/callhook/callhook/core/waitfor"
)

func netListen() (net.Listener, error) { return net.Listen("tcp", "127.0.0.1:0") }

// waitFor polls cond until it reports done; if timeout passes first, the
// test fails naming what it waited for and the state cond last reported.
func waitFor(t testing.TB, timeout time.Duration, what string, cond func() (done bool, state string)) {
	t.Helper()
	waitfor.Condition(t, timeout, what, func() string {
		done, state := cond()
		switch {
		case done:
			return ""
		case state == "":
			return "not yet"
		}
		return state
	})
}

// buildCallhook builds the engine binary once per test binary run.
func buildCallhook(t *testing.T) string {
	t.Helper()
	bin := filepath.Join(t.TempDir(), "callhook")
	out, err := exec.Command("go", "build", "-o", bin, "github.com/callhook/callhook/cmd/callhook").CombinedOutput()
	if err != nil {
		t.Fatalf("build callhook: %v\n%s", err, out)
	}
	return bin
}
