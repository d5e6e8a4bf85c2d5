// Package waitfor is the one way callhook's tests wait for something to
// happen: poll a condition until it holds, and when it does not within
// the time allowed, fail saying what was waited for and how things stood.
// A loaded machine makes things slow, never wrong, so tests wait on
// conditions with generous limits instead of sleeping fixed times.
package waitfor

import (
	"fmt"
	"testing"
	"time"
)

// Poll is how often a condition is checked.
const Poll = 5 * time.Millisecond

// Condition polls cond until it returns "" (done) or within passes; then
// it fails t naming what and cond's last word on how things stand.
func Condition(t testing.TB, within time.Duration, what string, cond func() (notYet string)) {
	t.Helper()
	if err := Until(within, what, cond); err != nil {
		t.Fatal(err)
	}
}

// True is Condition for a condition that has nothing to say.
func True(t testing.TB, within time.Duration, what string, cond func() bool) {
	t.Helper()
	Condition(t, within, what, func() string {
		if cond() {
			return ""
		}
		return "not yet"
	})
}

// Until is Condition for code that is not a test: it returns an error
// naming what, within and cond's last word when cond does not hold in
// time.
func Until(within time.Duration, what string, cond func() (notYet string)) error {
	deadline := time.Now().Add(within)
	for {
		state := cond()
		if state == "" {
			return nil
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("waited %s for %s: %s", within, what, state)
		}
		time.Sleep(Poll)
	}
}
