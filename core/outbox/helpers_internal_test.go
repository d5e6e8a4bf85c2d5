package outbox

import (
	"bytes"
	"sync"
	"testing"
	"time"

	"github.com/callhook/callhook/core/waitfor"
)

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

// syncBuffer is a log sink for several goroutines.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

// WaitFor and SyncBuffer serve the package's external tests.
var WaitFor = waitFor

type SyncBuffer = syncBuffer
