package ami

import (
	"errors"
	"fmt"
	"testing"

	"github.com/callhook/callhook/pbxsim/pbx"
)

const (
	newchannelEvent = "Event: Newchannel\r\nChannel: XXX\r\nSomeheader: YYY\r\n"
	varsetEvent     = "Event: VarSet\r\nChannel: ABC\r\nSomeheader: XXX\r\n"
)

// The table of Asterisk 22's own test of filter parsing (main/manager.c,
// eventfilter_test_creation): each filter alone, then one event against it.
func TestFilterAddAsAsterisk(t *testing.T) {
	for _, tt := range []struct {
		criteria, pattern string
		err               error // nil, errFilterFormat or errFilterCompile
		exclude           bool
		event             string
		pass              bool
	}{
		{"eventfilter", "XXX", nil, false, newchannelEvent, true},
		{"eventfilter", "!XXX", nil, true, varsetEvent, false},
		{"eventfilter(name(VarSet),method(none))", "", nil, false, varsetEvent, true},
		{"eventfilter(name(Newchannel),method(regex))", "X[XYZ]X", nil, false, newchannelEvent, true},
		{"eventfilter(name(Newchannel),method(regex))", "X[abc]X", nil, false, newchannelEvent, false},
		{"eventfilter(action(exclude),name(Newchannel),method(regex))", "X[XYZ]X", nil, true, newchannelEvent, false},
		{"eventfilter(action(exclude),name(Newchannel),method(regex))", "X[abc]X", nil, true, newchannelEvent, true},
		{"eventfilter(action(include),name(VarSet),header(Channel),method(starts_with))", "AB", nil, false, varsetEvent, true},
		{"eventfilter(action(include),name(VarSet),header(Channel),method(ends_with))", "BC", nil, false, varsetEvent, true},
		{"eventfilter(action(include),name(VarSet),header(Channel),method(exact))", "ABC", nil, false, varsetEvent, true},
		{"eventfilter(action(include),name(VarSet),header(Channel),method(exact))", "XXX", nil, false, varsetEvent, false},
		{"eventfilter(name(VarSet),header(Channel),method(exact))", "!ZZZ", nil, true, varsetEvent, true},
		{"eventfilter(action(exclude),name(VarSet),header(Channel),method(exact))", "ZZZ", nil, true, varsetEvent, true},
		// action() wins over "!".
		{"eventfilter(action(include),name(VarSet),header(Someheader),method(exact))", "!XXX", nil, false, varsetEvent, true},

		{"eventfilter(action(include)", "", errFilterFormat, false, "", false},
		{"eventfilter(action(inlude)", "", errFilterFormat, false, "", false},
		{"eventfilter(nnnn(yyy)", "XXX", errFilterFormat, false, "", false},
		{"eventfilter(eader(VarSet)", "XXX", errFilterFormat, false, "", false},
		{"eventfilter(ethod(contains)", "XXX", errFilterFormat, false, "", false},
		{"eventfilter(nnnn(yyy),header(VarSet),method(contains)", "XXX", errFilterFormat, false, "", false},
		{"eventfilter(name(yyy),heder(VarSet),method(contains)", "XXX", errFilterFormat, false, "", false},
		{"eventfilter(name(yyy),header(VarSet),mehod(contains)", "XXX", errFilterFormat, false, "", false},
		{"eventfilter(name(yyy),header(VarSet),method(coains)", "XXX", errFilterFormat, false, "", false},
		{"eventfilter(method(yyy))", "XXX", errFilterFormat, false, "", false},
		{"eventfilter", "", errFilterFormat, false, "", false},
		{"eventfilter", "!", errFilterFormat, false, "", false},
		{"eventfilter()", "XXX", errFilterFormat, false, "", false},
		{"eventfilter", "XX[X", errFilterCompile, false, "", false},
		{"eventfilter(method(regex))", "XX[X", errFilterCompile, false, "", false},

		// Further rules of manager_add_filter: a pattern needs a method,
		// method(none) a name or header; action() alone is no filter.
		{"eventfilter(name(VarSet),header(Variable))", "^MIXMONITOR_FILENAME$", errFilterFormat, false, "", false},
		{"eventfilter(header(Channel))", "", nil, false, varsetEvent, true},
		{"eventfilter(action(include))", "", errFilterFormat, false, "", false},
		{"eventfilter(name(VarSet),method(none))", "XXX", errFilterFormat, false, "", false},
		{"eventfilter(name(VarSet),method(exact))", "", errFilterFormat, false, "", false},
		{"eventfilter(name())", "", errFilterFormat, false, "", false},
		{"eventfilter(name)", "", errFilterFormat, false, "", false},
	} {
		t.Run(tt.criteria+" = "+tt.pattern, func(t *testing.T) {
			var f Filters
			err := f.Add(tt.criteria, tt.pattern)
			if tt.err != nil {
				if !errors.Is(err, tt.err) {
					t.Fatalf("Add: %v, want %v", err, tt.err)
				}
				if !f.Empty() {
					t.Fatal("a refused filter was added")
				}
				return
			}
			if err != nil {
				t.Fatalf("Add: %v", err)
			}
			if got := f.exclude.n == 1; got != tt.exclude || f.include.n+f.exclude.n != 1 {
				t.Fatalf("include %d, exclude %d filters; want one, exclude %v", f.include.n, f.exclude.n, tt.exclude)
			}
			if got := f.Pass([]byte(tt.event)); got != tt.pass {
				t.Errorf("Pass(%q) = %v, want %v", tt.event, got, tt.pass)
			}
		})
	}
}

// Asterisk 22's test of include and exclude together
// (eventfilter_test_matching): an event must match an include filter and
// no exclude filter.
func TestFilterPrecedenceAsAsterisk(t *testing.T) {
	var f Filters
	for _, a := range [][2]string{
		{"eventfilter(name(VarSet),method(none))", ""},
		{"eventfilter(name(Newchannel),method(regex))", "X[XYZ]X"},
		{"eventfilter(name(Newchannel),method(regex))", "X[abc]X"},
		{"eventfilter(name(Newchannel),header(Someheader),method(regex))", "ZZZ"},
		{"eventfilter(action(exclude),name(Newchannel),method(regex))", "X[a]X"},
		{"eventfilter(action(exclude),name(Newchannel),method(regex))", "X[Z]X"},
		{"eventfilter(action(exclude),name(VarSet),header(Channel),method(regex))", "YYY"},
	} {
		if err := f.Add(a[0], a[1]); err != nil {
			t.Fatal(err)
		}
	}
	for _, tt := range []struct {
		event string
		pass  bool
	}{
		{"Event: Newchannel\r\nChannel: XXX\r\nSomeheader: YYY\r\n", true},
		{"Event: Newchannel\r\nChannel: XZX\r\nSomeheader: YYY\r\n", false},
		{"Event: Newchannel\r\nChannel: XaX\r\nSomeheader: YYY\r\n", false},
		{"Event: Newchannel\r\nChannel: XbX\r\nSomeheader: YYY\r\n", true},
		{"Event: Newchannel\r\nChannel: XcX\r\nSomeheader: YYY\r\n", true},
		{"Event: Newchannel\r\nChannel: YYY\r\nSomeheader: YYY\r\n", false},
		{"Event: Newchannel\r\nChannel: YYY\r\nSomeheader: ZZZ\r\n", true},
		{"Event: VarSet\r\nChannel: XXX\r\nSomeheader: YYY\r\n", true},
		{"Event: VarSet\r\nChannel: YYY\r\nSomeheader: YYY\r\n", false},
	} {
		if got := f.Pass([]byte(tt.event)); got != tt.pass {
			t.Errorf("Pass(%q) = %v, want %v", tt.event, got, tt.pass)
		}
	}
}

// How events are read: names case-sensitively, headers at the start of a
// line, their first non-empty value that matches, regular expressions over
// the whole event with its line ends (regcomp without REG_NEWLINE).
func TestFilterMatching(t *testing.T) {
	const varset = "Event: VarSet\r\nPrivilege: dialplan,all\r\nChannel: PJSIP/101-00000001\r\n" +
		"Variable: MIXMONITOR_FILENAME\r\nValue: /var/spool/asterisk/monitor/a.wav\r\n\r\n"
	const dtmf = "Event: DTMFEnd\r\nPrivilege: dtmf,all\r\nChannel: PJSIP/trunk-00000000\r\n" +
		"Digit: 1\r\nDurationMs: 120\r\nDirection: Received\r\n\r\n"
	for _, tt := range []struct {
		name    string
		filters [][2]string // criteria, pattern
		event   string
		pass    bool
	}{
		{"no filters", nil, varset, true},
		{"name", [][2]string{{"eventfilter(name(VarSet))", ""}}, varset, true},
		{"name of another event", [][2]string{{"eventfilter(name(Newexten))", ""}}, varset, false},
		{"name is case-sensitive", [][2]string{{"eventfilter(name(varset))", ""}}, varset, false},
		{"header regex", [][2]string{{"eventfilter(name(VarSet),header(Variable),method(regex))", "^MIXMONITOR_FILENAME$"}}, varset, true},
		{"header regex on another value", [][2]string{{"eventfilter(name(VarSet),header(Variable),method(regex))", "^BRIDGEPEER$"}}, varset, false},
		{"header with its colon", [][2]string{{"eventfilter(name(VarSet),header(Variable:),method(exact))", "MIXMONITOR_FILENAME"}}, varset, true},
		{"header is case-sensitive", [][2]string{{"eventfilter(header(variable),method(exact))", "MIXMONITOR_FILENAME"}}, varset, false},
		{"header is a line's start", [][2]string{{"eventfilter(header(Channel),method(contains))", "PJSIP"}}, "Event: X\r\nDestChannel: PJSIP/1\r\n\r\n", false},
		{"empty header value never matches", [][2]string{{"eventfilter(header(Channel))", ""}}, "Event: X\r\nChannel: \r\n\r\n", false},
		{"a later header line", [][2]string{{"eventfilter(header(Variable),method(exact))", "B"}}, "Event: X\r\nVariable: A\r\nVariable: B\r\n\r\n", true},
		{"exact digit", [][2]string{{"eventfilter(name(DTMFEnd),header(Digit),method(exact))", "1"}}, dtmf, true},
		{"another digit", [][2]string{{"eventfilter(name(DTMFEnd),header(Digit),method(exact))", "2"}}, dtmf, false},
		{"legacy regex over the event", [][2]string{{"eventfilter", "Event: VarSet.*Variable: MIXMONITOR"}}, varset, true},
		{"legacy ^ is the event's start only", [][2]string{{"eventfilter", "^Variable"}}, varset, false},
		{"legacy exclude only", [][2]string{{"eventfilter", "!Variable: MIXMONITOR_FILENAME"}}, varset, false},
		{"legacy exclude of something else", [][2]string{{"eventfilter", "!Event: Newexten"}}, varset, true},
		{"exclude only", [][2]string{{"eventfilter(action(exclude),name(VarSet))", ""}}, dtmf, true},
		{"include, then exclude", [][2]string{
			{"eventfilter(name(VarSet))", ""},
			{"eventfilter(action(exclude),header(Value),method(ends_with))", ".wav"},
		}, varset, false},
		{"any include", [][2]string{
			{"eventfilter(name(Newchannel))", ""},
			{"eventfilter(name(DTMFEnd),header(Digit),method(exact))", "1"},
		}, dtmf, true},
		{"spaces in the options", [][2]string{{"eventfilter( name(VarSet) , header(Variable) ,method(starts_with) )", "MIXMON"}}, varset, true},
	} {
		t.Run(tt.name, func(t *testing.T) {
			var f Filters
			for _, a := range tt.filters {
				if err := f.Add(a[0], a[1]); err != nil {
					t.Fatal(err)
				}
			}
			if got := f.Pass([]byte(tt.event)); got != tt.pass {
				t.Errorf("Pass = %v, want %v", got, tt.pass)
			}
		})
	}
}

// The Filter action's answers are action_filter's texts.
func TestFilterAction(t *testing.T) {
	for _, tt := range []struct {
		name                  string
		op, criteria, pattern string
		ok                    bool
		msg                   string
	}{
		{"advanced", "Add", "name(Newchannel)", "", true, "Success"},
		{"operation read case-insensitively", "add", "", "Event: Hangup", true, "Success"},
		{"legacy without a pattern", "Add", "", "", false, msgFilterFormat},
		{"bad option", "Add", "nam(Newchannel)", "", false, msgFilterFormat},
		{"bad regex", "Add", "", "Event: (", false, msgFilterCompile},
		{"no operation", "", "name(Newchannel)", "", false, "Unknown operation"},
		{"another operation", "Remove", "name(Newchannel)", "", false, "Unknown operation"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			var f Filters
			ok, msg := FilterAction(&f, tt.op, tt.criteria, tt.pattern)
			if ok != tt.ok || msg != tt.msg {
				t.Errorf("FilterAction = %v %q, want %v %q", ok, msg, tt.ok, tt.msg)
			}
		})
	}
}

// A session's filters apply to the events broadcast to it, from the
// moment they are added; responses, event lists and other sessions are
// untouched. Adding one needs the system write class.
func TestFilterSession(t *testing.T) {
	s := startServer(t, func(c *Config) {
		c.Users["reader"] = "secret"
		c.Write = map[string]string{"reader": "call,reporting"}
	})
	a, b := dial(t, s.Addr()), dial(t, s.Addr())
	a.login()
	b.login()
	if m := a.msg(); m.Get("Event") != "SuccessfulAuth" { // b's login, seen by a
		t.Fatalf("a got %v, want b's SuccessfulAuth", m)
	}
	a.send("Action: Filter", "ActionID: f1", "Operation: Add", "MatchCriteria: name(Cdr)")
	a.expect("Response: Success\r\nActionID: f1\r\nMessage: Success\r\n\r\n")
	a.send("Action: Filter", "ActionID: f2", "Operation: Add", "MatchCriteria: name(Hangup),header(Seq),method(exact)", "Filter: 3")
	a.expect("Response: Success\r\nActionID: f2\r\nMessage: Success\r\n\r\n")
	a.send("Action: Filter", "ActionID: f3", "Operation: Add", "MatchCriteria: name(Hangup),header(Seq)", "Filter: 3")
	a.expect("Response: Error\r\nActionID: f3\r\nMessage: " + msgFilterFormat + "\r\n\r\n")

	for i, name := range []string{"Newstate", "Cdr", "Hangup", "Hangup"} {
		s.PBXEvent(testEvent(name, i+1))
	}
	for _, want := range []string{"Cdr 2", "Hangup 3"} {
		if m := a.msg(); m.Get("Event")+" "+m.Get("Seq") != want {
			t.Fatalf("filtered session got %v, want %s", m, want)
		}
	}
	a.ping("p1") // nothing else came before the Pong
	s.PBXEvent(pbx.Event{Name: "Newchannel", Channel: ptr(trunkLeg())})
	a.send("Action: CoreShowChannels", "ActionID: cs1")
	if m := a.msg(); m.Get("EventList") != "start" {
		t.Fatalf("got %v, want the list's start", m)
	}
	if m := a.msg(); m.Get("Event") != "CoreShowChannel" {
		t.Fatalf("got %v, want the channel listed despite the filters", m)
	}
	if m := a.msg(); m.Get("Event") != "CoreShowChannelsComplete" {
		t.Fatalf("got %v, want the list's end", m)
	}
	for i := range 4 {
		if m := b.msg(); m.Get("Seq") != fmt.Sprint(i+1) {
			t.Fatalf("unfiltered session: event %d is %v", i+1, m)
		}
	}

	r := dial(t, s.Addr())
	r.send("Action: Login", "ActionID: r1", "Username: reader", "Secret: secret", "Events: off")
	r.expect("Response: Success\r\nActionID: r1\r\nMessage: Authentication accepted\r\n\r\n")
	r.send("Action: Filter", "ActionID: r2", "Operation: Add", "MatchCriteria: name(Cdr)")
	r.expect("Response: Error\r\nActionID: r2\r\nMessage: Permission denied\r\n\r\n")
	r.send("Action: CoreShowChannels", "ActionID: r3") // reporting is enough
	if m := r.msg(); m.Get("EventList") != "start" {
		t.Fatalf("got %v, want the list", m)
	}
}

func ptr[T any](v T) *T { return &v }
