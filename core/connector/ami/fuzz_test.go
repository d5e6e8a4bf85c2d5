package ami

import (
	"bytes"
	"errors"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
	"testing/iotest"
)

// FuzzReadPacket feeds arbitrary bytes to the framing reader. It must never
// panic or loop; whatever it returns must be well-formed fields; an ordinary
// packet must survive being written back and read again; and splitting the
// input into one-byte reads must not change the result.
func FuzzReadPacket(f *testing.F) {
	for _, tc := range framingCases {
		f.Add([]byte(tc.in))
	}
	f.Add([]byte("Response: Follows\r\nActionID: 1\r\nout\r\n\r\n")) // never ends
	f.Add([]byte("Event: X\r\n\r\r\nK:\r\n\r\n"))
	f.Add([]byte(" : \n \n\x00: \xff\r\n\r\n"))
	// The start of each real capture.
	files, _ := filepath.Glob(filepath.Join(capturesDir, "*.log"))
	for _, file := range files {
		data, err := os.ReadFile(file)
		if err == nil {
			f.Add(data[:min(len(data), 4096)])
		}
	}

	f.Fuzz(func(t *testing.T, in []byte) {
		got, errs := readAll(bytes.NewReader(in))
		slow, slowErrs := readAll(iotest.OneByteReader(bytes.NewReader(in)))
		if !reflect.DeepEqual(got, slow) || len(errs) != len(slowErrs) {
			t.Fatalf("byte-wise reads differ:\n %q %v\n %q %v", got, errs, slow, slowErrs)
		}
		for _, err := range errs {
			var me *MalformedError
			if errors.As(err, &me) && strings.Contains(me.Line, "\n") {
				t.Fatalf("malformed line %q holds a line break", me.Line)
			}
		}
		for _, m := range got {
			if len(m) == 0 {
				t.Fatal("empty packet returned")
			}
			follows := strings.EqualFold(m[0].Key, "Response") && strings.EqualFold(m[0].Value, "Follows")
			for _, fl := range m {
				if fl.Key == "" || fl.Key != strings.TrimSpace(fl.Key) || strings.ContainsAny(fl.Key, ":\n") {
					t.Fatalf("bad key %q in %q", fl.Key, m)
				}
				if strings.Contains(fl.Value, "\n") {
					t.Fatalf("value %q holds a line break", fl.Value)
				}
			}
			if follows {
				continue // raw output has its own wire form
			}
			back, backErrs := readAll(bytes.NewReader(m.appendWire(nil)))
			if len(backErrs) > 0 || len(back) != 1 || !reflect.DeepEqual(back[0], m) {
				t.Fatalf("round trip of %q gave %q, %v", m, back, backErrs)
			}
		}
	})
}
