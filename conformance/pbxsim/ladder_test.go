package pbxsim_test

import (
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"

	"gopkg.in/yaml.v3"
)

// Line is one SIP message of a leg as the PBX saw it: Recv when the party
// sent it to the PBX.
type Line struct {
	Party   string
	Recv    bool
	Message string // method, or "<code> <method>"
	// CSeq is the recorded message's CSeq number (0 in fixtures): it tells
	// a retransmission from the dialog's next request of the same method.
	CSeq uint32
	// Optional marks a fixture line that may be missing ("?").
	Optional bool
}

func (l Line) String() string {
	arrow := "<-"
	if l.Recv {
		arrow = "->"
	}
	return l.Party + " " + arrow + " " + l.Message
}

// status and method split a line's message: status is 0 for a request.
func (l Line) status() (int, string) {
	code, method, ok := strings.Cut(l.Message, " ")
	if !ok {
		return 0, l.Message
	}
	n, err := strconv.Atoi(code)
	if err != nil {
		return 0, l.Message
	}
	return n, method
}

// normalize drops 100 Trying.
func normalize(in []Line) []Line {
	var out []Line
	for _, l := range in {
		if code, _ := l.status(); code != 100 {
			out = append(out, l)
		}
	}
	return out
}

// dropRetransmissions removes from got the lines that repeat the one
// before them: a received line the same as the previous received one
// where want has no such repeat (want's received lines are matched
// first), a sent line the same as the previous sent one with nothing
// received in between. Lines that carry different CSeq numbers are
// different messages (two NOTIFYs of one REFER), never repeats. The
// lines returned carry no CSeq, like the fixture's.
func dropRetransmissions(want, got []Line) []Line {
	recvW := received(want)
	var out []Line
	k := 0
	var lastRecv, lastSent *Line
	recvSince := false
	bare := func(l Line) Line { l.CSeq = 0; return l }
	for _, l := range got {
		if l.Recv {
			switch {
			case k < len(recvW) && bare(l) == recvW[k]:
				k++
			case lastRecv != nil && l == *lastRecv:
				continue
			}
			l := l
			lastRecv, recvSince = &l, true
			out = append(out, bare(l))
			continue
		}
		if lastSent != nil && l == *lastSent && !recvSince {
			continue
		}
		l := l
		lastSent, recvSince = &l, false
		out = append(out, bare(l))
	}
	return out
}

// sameLadder holds a recorded leg (got) to the expected one (want), both
// normalized. The PBX's trace lists what it received in the order it read
// it, but what it sent once the write returned, by which time the party
// may have reacted to it and the PBX answered that. So the received lines
// must be want's, in want's order; each sent line must be there as often
// as in want, and its k-th occurrence may come where want puts it or
// later, past at most the party's reactions to it (see reaction), never
// earlier.
func sameLadder(want, got []Line) error {
	recvW, recvG := received(want), received(got)
	if !equal(recvW, recvG) {
		return fmt.Errorf("received %s, want %s", show(recvG), show(recvW))
	}
	// Where each sent line sits among the received ones, by occurrence.
	place := func(ls []Line) map[Line][]int {
		m := map[Line][]int{}
		n := 0
		for _, l := range ls {
			if l.Recv {
				n++
				continue
			}
			m[l] = append(m[l], n)
		}
		return m
	}
	pw, pg := place(want), place(got)
	for _, l := range want {
		if l.Recv {
			continue
		}
		if len(pg[l]) != len(pw[l]) {
			return fmt.Errorf("sent %q %d times, want %d", l, len(pg[l]), len(pw[l]))
		}
	}
	for l := range pg {
		if len(pw[l]) == 0 {
			return fmt.Errorf("sent %q, which is not expected", l)
		}
	}
	for l, ws := range pw {
		for k, w := range ws {
			g := pg[l][k]
			late := 0
			for w+late < len(recvW) && reaction(recvW[w+late], l) {
				late++
			}
			if g < w || g > w+late {
				return fmt.Errorf("sent %q (#%d) after %d received lines, want after %d (up to %d)", l, k+1, g, w, w+late)
			}
		}
	}
	return nil
}

func received(ls []Line) []Line {
	var out []Line
	for _, l := range ls {
		if l.Recv {
			out = append(out, l)
		}
	}
	return out
}

// reaction reports whether received line r can be the party's immediate
// reaction to sent line s: a response to s (for CANCEL, the 487 of the
// INVITE too); the ACK of a final response to INVITE; the request sent
// again with credentials after a 401 or 407.
func reaction(r, s Line) bool {
	sc, sm := s.status()
	rc, rm := r.status()
	switch {
	case sc == 0:
		return rc != 0 && (rm == sm || (sm == "CANCEL" && r.Message == "487 INVITE"))
	case sm == "INVITE" && sc >= 200 && rc == 0 && rm == "ACK":
		return true
	case sc == 401 || sc == 407:
		return rc == 0 && rm == sm
	}
	return false
}

// ExpectedLeg is one leg of a scenario's ladder fixture.
type ExpectedLeg struct {
	Party  string   `yaml:"party"`
	Ladder []string `yaml:"ladder"`
}

// Ladders is fixtures/sip/ladders.yaml.
type Ladders struct {
	Registration []string                 `yaml:"registration"`
	Scenarios    map[string][]ExpectedLeg `yaml:"scenarios"`
}

func loadLadders() (*Ladders, error) {
	b, err := os.ReadFile(filepath.Join("..", "..", "fixtures", "sip", "ladders.yaml"))
	if err != nil {
		return nil, err
	}
	var l Ladders
	if err := yaml.Unmarshal(b, &l); err != nil {
		return nil, fmt.Errorf("fixtures/sip/ladders.yaml: %w", err)
	}
	return &l, nil
}

// parseLadder reads a fixture leg's lines ("-> INVITE", "<- 180 INVITE").
func parseLadder(party string, ladder []string) ([]Line, error) {
	var out []Line
	for _, s := range ladder {
		arrow, msg, ok := strings.Cut(strings.TrimSpace(s), " ")
		if !ok || (arrow != "->" && arrow != "<-") || msg == "" {
			return nil, fmt.Errorf("ladder line %q: want \"-> MESSAGE\" or \"<- MESSAGE\"", s)
		}
		msg = strings.TrimSpace(msg)
		opt := strings.HasSuffix(msg, "?")
		out = append(out, Line{Party: party, Recv: arrow == "->", Message: strings.TrimSuffix(msg, "?"), Optional: opt})
	}
	return out, nil
}

// matchLegs holds the recorded legs to the expected ones: every expected
// leg matches a recorded leg of the same party with the same lines after
// normalization (legs of one party in order), registrations aside, and no
// recorded leg is left over. REGISTER legs must each be the registration
// ladder.
func matchLegs(want []ExpectedLeg, registration []string, got []Leg) error {
	var calls []Leg
	var errs []string
	for _, g := range got {
		if isRegister(g) {
			exp, err := parseLadder(g.Party, registration)
			if err != nil {
				return err
			}
			if fitErr(exp, normalize(g.Lines)) != nil {
				errs = append(errs, fmt.Sprintf("registration of %s:\n  want %s\n  got  %s", g.Party, show(exp), show(g.Lines)))
			}
			continue
		}
		calls = append(calls, g)
	}
	used := make([]bool, len(calls))
	for i, w := range want {
		exp, err := parseLadder(w.Party, w.Ladder)
		if err != nil {
			return fmt.Errorf("leg %d: %w", i+1, err)
		}
		found := false
		for j, g := range calls {
			if !used[j] && g.Party == w.Party && fits(exp, normalize(g.Lines)) {
				used[j], found = true, true
				break
			}
		}
		if !found {
			var cands []string
			for j, g := range calls {
				if !used[j] && g.Party == w.Party {
					cands = append(cands, "  got  "+show(normalize(g.Lines)))
				}
			}
			if len(cands) == 0 {
				cands = []string{"  got  no (other) leg with " + w.Party}
			}
			errs = append(errs, fmt.Sprintf("leg %d (%s):\n  want %s\n%s", i+1, w.Party, show(exp), strings.Join(cands, "\n")))
			for j, g := range calls {
				if !used[j] && g.Party == w.Party {
					errs = append(errs, fmt.Sprintf("  (%v)", fitErr(exp, normalize(g.Lines))))
				}
			}
		}
	}
	if len(errs) == 0 {
		for j, g := range calls {
			if !used[j] {
				errs = append(errs, fmt.Sprintf("unexpected leg with %s: %s", g.Party, show(normalize(g.Lines))))
			}
		}
	}
	if len(errs) > 0 {
		return fmt.Errorf("SIP ladder differs:\n%s", strings.Join(errs, "\n"))
	}
	return nil
}

func isRegister(l Leg) bool {
	for _, x := range l.Lines {
		if _, m := x.status(); m != "REGISTER" {
			return false
		}
	}
	return len(l.Lines) > 0
}

func equal(a, b []Line) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if a[i] != b[i] {
			return false
		}
	}
	return true
}

func show(ls []Line) string {
	s := make([]string, len(ls))
	for i, l := range ls {
		s[i] = l.String()
	}
	return "[" + strings.Join(s, ", ") + "]"
}

// fits reports whether got matches want with or without each of want's
// optional lines.
func fits(want, got []Line) bool { return fitErr(want, got) == nil }

func fitErr(want, got []Line) error {
	var opt []int
	for i, l := range want {
		if l.Optional {
			opt = append(opt, i)
		}
	}
	var first error
	for mask := 0; mask < 1<<len(opt); mask++ {
		var w []Line
		for i, l := range want {
			skip := false
			for b, o := range opt {
				if o == i && mask&(1<<b) != 0 {
					skip = true
				}
			}
			if !skip {
				l.Optional = false
				w = append(w, l)
			}
		}
		w = normalize(w)
		err := sameLadder(w, dropRetransmissions(w, got))
		if err == nil {
			return nil
		}
		if first == nil {
			first = err
		}
	}
	return first
}
