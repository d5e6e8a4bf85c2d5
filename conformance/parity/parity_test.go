package main

import (
	"bytes"
	"strings"
	"testing"
)

func TestNormaliseAndDiff(t *testing.T) {
	sim := normalise([]string{
		"event=ringing&user=101&id=261124010100_0-0",
		"event=incoming&user=101&duration=8&id=261124010100_0-1",
	})
	ast := normalise([]string{
		"event=ringing&user=101&id=261124020233_57-0",
		"event=incoming&user=102&duration=9&id=261124020233_57-1",
	})
	if got := strings.Join(sim[0], " "); got != "event=ringing id=#1-0 user=101" {
		t.Fatalf("normalised: %q", got)
	}
	if d := differences(sim[0], ast[0]); len(d) != 0 {
		t.Errorf("same call under different ids and dates differs: %v", d)
	}
	d := differences(sim[1], ast[1])
	if len(d) != 1 || !strings.Contains(d[0], `user: simulator "101", asterisk "102"`) {
		t.Errorf("want only the user difference (duration within 1 s), got %v", d)
	}
	var out bytes.Buffer
	if n := report(&out, "x", sim, ast[:1]); n != 1 || !strings.Contains(out.String(), "webhook 2: only on the simulator") {
		t.Errorf("missing webhook: %d differences, want 1\n%s", n, out.String())
	}
}

func TestAlignRinging(t *testing.T) {
	sim := normalise([]string{
		"event=ringing&user=101&id=261124010100_0-0", "event=ringing&user=102&id=261124010100_0-0",
		"event=ringing&user=103&id=261124010100_0-0", "event=incoming&user=102&id=261124010100_0-1",
	})
	ast := normalise([]string{
		"event=ringing&user=103&id=261124020233_57-0", "event=ringing&user=101&id=261124020233_57-0",
		"event=ringing&user=102&id=261124020233_57-0", "event=incoming&user=102&id=261124020233_57-1",
	})
	var out bytes.Buffer
	if n := report(&out, "ring-group", sim, alignRinging(sim, ast)); n != 0 {
		t.Errorf("members rung at once in another order: %d differences\n%s", n, out.String())
	}
	other := normalise([]string{
		"event=ringing&user=104&id=261124020233_57-0", "event=ringing&user=101&id=261124020233_57-0",
		"event=ringing&user=102&id=261124020233_57-0", "event=incoming&user=102&id=261124020233_57-1",
	})
	if n := report(&out, "ring-group", sim, alignRinging(sim, other)); n == 0 {
		t.Error("a different member ringing was taken for the same")
	}
}

func TestTitlesWithNearDurations(t *testing.T) {
	a := []string{"event=incoming", "title=Incoming call from 2125559876 answered by 101, duration 00:05"}
	b := []string{"event=incoming", "title=Incoming call from 2125559876 answered by 101, duration 00:06"}
	if d := differences(a, b); len(d) != 0 {
		t.Errorf("titles a second apart differ: %v", d)
	}
	c := []string{"event=incoming", "title=Incoming call from 2125559876 answered by 101, duration 00:08"}
	if d := differences(a, c); len(d) != 1 {
		t.Errorf("titles three seconds apart: %v", d)
	}
}
