package crashtest_test

import (
	"net"
	"os/exec"
	"path/filepath"
	"testing"
)

func netListen() (net.Listener, error) { return net.Listen("tcp", "127.0.0.1:0") }

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
