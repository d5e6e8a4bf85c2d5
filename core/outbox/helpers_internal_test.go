package outbox

import (
	"bytes"
	"sync"
	"testing"
	"time"
)

// waitFor polls cond until it reports done; if timeout passes first, the
// test fails naming what it waited for and the state cond last reported.
func waitFor(t testing.TB, timeout time.Duration, what string, cond func() (done bool, state string)) {
	t.Helper()
	deadline := time.Now().Add(timeout)
	for {
		done, state := cond()
		if done {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("waited %s for %s; now: %s", timeout, what, state)
		}
		time.Sleep(5 * time.Millisecond) // poll interval
	}
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
