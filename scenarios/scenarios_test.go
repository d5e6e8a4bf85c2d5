package scenarios_test

import (
	"testing"

	"github.com/callhook/callhook/scenarios"
)

func TestBuiltinsParse(t *testing.T) {
	names := scenarios.Names()
	if len(names) == 0 {
		t.Fatal("no built-in scenarios")
	}
	for _, n := range names {
		sc, err := scenarios.Load(n)
		if err != nil {
			t.Errorf("%s: %v", n, err)
			continue
		}
		if sc.Name != n {
			t.Errorf("%s.yaml names itself %q", n, sc.Name)
		}
		if len(sc.Expect) == 0 {
			t.Errorf("%s: no expectations", n)
		}
	}
	if _, err := scenarios.Load("no-such"); err == nil {
		t.Error("unknown scenario loaded")
	}
}
