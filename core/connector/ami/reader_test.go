package ami

import (
	"errors"
	"io"
	"reflect"
	"strings"
	"testing"
	"testing/iotest"
)

// readAll reads packets until the input ends and returns them with every
// error met on the way (malformed packets are skipped, as the session does).
func readAll(r io.Reader) ([]Message, []error) {
	pr := newPacketReader(r)
	var ms []Message
	var errs []error
	for {
		m, err := pr.ReadPacket()
		if errors.Is(err, io.EOF) {
			return ms, errs
		}
		if err != nil {
			errs = append(errs, err)
			if errors.Is(err, ErrMalformed) {
				continue
			}
			return ms, errs
		}
		ms = append(ms, m)
	}
}

var framingCases = []struct {
	name string
	in   string
	want []Message
	errs []error // in order; errors.Is targets
}{
	{
		name: "one packet",
		in:   "Event: Newstate\r\nChannel: PJSIP/101-00000001\r\n\r\n",
		want: []Message{{{"Event", "Newstate"}, {"Channel", "PJSIP/101-00000001"}}},
	},
	{
		name: "repeated keys keep order",
		in:   "Event: Newchannel\r\nChanVariable: B=2\r\nChanVariable: A=1\r\nVariable: X\r\nChanVariable: C=3\r\n\r\n",
		want: []Message{{{"Event", "Newchannel"}, {"ChanVariable", "B=2"}, {"ChanVariable", "A=1"}, {"Variable", "X"}, {"ChanVariable", "C=3"}}},
	},
	{
		name: "empty values",
		in:   "Event: VarSet\r\nAccountCode: \r\nValue:\r\n\r\n",
		want: []Message{{{"Event", "VarSet"}, {"AccountCode", ""}, {"Value", ""}}},
	},
	{
		name: "value containing colon space",
		in:   "Event: Newexten\r\nAppData: Inbound DID: 2125550100 from \"John\" <2125559876>\r\nTime: 01:02:03\r\n\r\n",
		want: []Message{{{"Event", "Newexten"}, {"AppData", "Inbound DID: 2125550100 from \"John\" <2125559876>"}, {"Time", "01:02:03"}}},
	},
	{
		name: "further spaces belong to the value",
		in:   "Response: Success\r\nOutput:   indented\r\n\r\n",
		want: []Message{{{"Response", "Success"}, {"Output", "  indented"}}},
	},
	{
		name: "LF-only lines",
		in:   "Event: Hangup\nCause: 16\nCause-txt: Normal Clearing\n\nEvent: Newstate\n\n",
		want: []Message{{{"Event", "Hangup"}, {"Cause", "16"}, {"Cause-txt", "Normal Clearing"}}, {{"Event", "Newstate"}}},
	},
	{
		name: "mixed line ends and extra blank lines between packets",
		in:   "\r\n\r\nEvent: A\nX: 1\r\n\r\n\n\r\nEvent: B\r\n\n",
		want: []Message{{{"Event", "A"}, {"X", "1"}}, {{"Event", "B"}}},
	},
	{
		name: "malformed line skips its packet only",
		in:   "Event: A\r\n\r\nEvent: B\r\nthis is not a field\r\nX: 1\r\n\r\nEvent: C\r\n\r\n",
		want: []Message{{{"Event", "A"}}, {{"Event", "C"}}},
		errs: []error{ErrMalformed},
	},
	{
		name: "empty key is malformed",
		in:   ": value\r\n\r\nEvent: C\r\n\r\n",
		want: []Message{{{"Event", "C"}}},
		errs: []error{ErrMalformed},
	},
	{
		name: "input ending inside a packet",
		in:   "Event: A\r\n\r\nEvent: B\r\nX: 1\r\n",
		want: []Message{{{"Event", "A"}}},
		errs: []error{io.ErrUnexpectedEOF},
	},
	{
		name: "input ending inside a line",
		in:   "Event: A\r\n\r\nEvent: B",
		want: []Message{{{"Event", "A"}}},
		errs: []error{io.ErrUnexpectedEOF},
	},
	{
		name: "legacy Response Follows",
		in: "Response: Follows\r\nPrivilege: Command\r\nActionID: 7\r\n" +
			"Channel              Location\r\n\r\nPJSIP/101-00000001   s@from-internal:1\r\nKey: looks like a field\r\n" +
			"--END COMMAND--\r\n\r\nEvent: After\r\n\r\n",
		want: []Message{
			{
				{"Response", "Follows"}, {"Privilege", "Command"}, {"ActionID", "7"},
				{"Output", "Channel              Location"}, {"Output", ""},
				{"Output", "PJSIP/101-00000001   s@from-internal:1"}, {"Output", "Key: looks like a field"},
			},
			{{"Event", "After"}},
		},
	},
	{
		name: "legacy Response Follows with marker after output",
		in:   "Response: Follows\nPrivilege: Command\nNo such command--END COMMAND--\n\n",
		want: []Message{{{"Response", "Follows"}, {"Privilege", "Command"}, {"Output", "No such command"}}},
	},
	{
		name: "Follows not first is an ordinary field",
		in:   "Event: X\r\nResponse: Follows\r\n\r\n",
		want: []Message{{{"Event", "X"}, {"Response", "Follows"}}},
	},
}

// TestReadPacketFraming runs every case as one read, as one byte per read,
// and with reads that stop half-way (a packet split across many tiny reads).
func TestReadPacketFraming(t *testing.T) {
	readers := map[string]func(string) io.Reader{
		"whole":      func(s string) io.Reader { return strings.NewReader(s) },
		"byte-wise":  func(s string) io.Reader { return iotest.OneByteReader(strings.NewReader(s)) },
		"half-reads": func(s string) io.Reader { return iotest.HalfReader(strings.NewReader(s)) },
	}
	for _, tc := range framingCases {
		for rname, mk := range readers {
			t.Run(tc.name+"/"+rname, func(t *testing.T) {
				got, errs := readAll(mk(tc.in))
				if !reflect.DeepEqual(got, tc.want) {
					t.Errorf("packets:\n got  %q\n want %q", got, tc.want)
				}
				if len(errs) != len(tc.errs) {
					t.Fatalf("errors %v, want %v", errs, tc.errs)
				}
				for i := range errs {
					if !errors.Is(errs[i], tc.errs[i]) {
						t.Errorf("error %d = %v, want %v", i, errs[i], tc.errs[i])
					}
				}
			})
		}
	}
}

func TestMalformedErrorNamesLine(t *testing.T) {
	_, errs := readAll(strings.NewReader("Event: B\r\nbroken line here\r\n\r\n"))
	if len(errs) != 1 {
		t.Fatalf("errors %v, want one", errs)
	}
	var me *MalformedError
	if !errors.As(errs[0], &me) || me.Line != "broken line here" {
		t.Fatalf("error %v does not carry the line", errs[0])
	}
	if !strings.Contains(errs[0].Error(), `"broken line here"`) {
		t.Errorf("message %q does not quote the line", errs[0])
	}
}

func TestReadPacketLimits(t *testing.T) {
	long := "Event: X\r\nV: " + strings.Repeat("a", maxLineBytes+10) + "\r\n\r\n"
	if _, errs := readAll(strings.NewReader(long)); len(errs) != 1 || !errors.Is(errs[0], ErrTooLarge) {
		t.Errorf("over-long line: errors %v, want ErrTooLarge", errs)
	}
	line := "V: " + strings.Repeat("b", 1000) + "\r\n"
	big := "Event: X\r\n" + strings.Repeat(line, maxPacketBytes/len(line)+1) + "\r\n"
	if _, errs := readAll(strings.NewReader(big)); len(errs) != 1 || !errors.Is(errs[0], ErrTooLarge) {
		t.Errorf("over-large packet: errors %v, want ErrTooLarge", errs)
	}
}

func TestReadBanner(t *testing.T) {
	for _, tc := range []struct {
		in      string
		version string
		err     error
	}{
		{in: "Asterisk Call Manager/11.0.0\r\n", version: "11.0.0"},
		{in: "Asterisk Call Manager/2.10.6\n", version: "2.10.6"},
		{in: "SSH-2.0-OpenSSH_9.2p1\r\n", err: ErrNotAMI},
		{in: "HTTP/1.1 400 Bad Request\r\n\r\n", err: ErrNotAMI},
		{in: strings.Repeat("x", 1000), err: ErrNotAMI},
		{in: "Asterisk Call", err: io.ErrUnexpectedEOF},
		{in: "", err: io.EOF},
	} {
		v, err := newPacketReader(strings.NewReader(tc.in)).readBanner()
		if tc.err != nil {
			if !errors.Is(err, tc.err) {
				t.Errorf("banner %.30q: error %v, want %v", tc.in, err, tc.err)
			}
			continue
		}
		if err != nil || v != tc.version {
			t.Errorf("banner %q: got %q, %v; want %q", tc.in, v, err, tc.version)
		}
	}
}

func TestAppendWire(t *testing.T) {
	m := Message{{"Action", "Originate"}, {"Variable", "A=1"}, {"Variable", "B=2"}, {"Account", ""}}
	want := "Action: Originate\r\nVariable: A=1\r\nVariable: B=2\r\nAccount: \r\n\r\n"
	if got := string(m.appendWire(nil)); got != want {
		t.Errorf("wire form %q, want %q", got, want)
	}
	back, errs := readAll(strings.NewReader(want))
	if len(errs) > 0 || !reflect.DeepEqual(back, []Message{m}) {
		t.Errorf("round trip gave %v, %v", back, errs)
	}
}
