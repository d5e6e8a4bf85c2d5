package ami

import (
	"bytes"
	"os"
	"path/filepath"
	"testing"
	"time"
)

// BenchmarkDecodeCapture reads the real capture of an answered inbound
// call (92 events, 40 kB, three webhooks' worth): what the connector
// spends per call before the model.
func BenchmarkDecodeCapture(b *testing.B) {
	raw, err := os.ReadFile(filepath.Join(capturesDir, "01_inbound_answered.log"))
	if err != nil {
		b.Fatal(err)
	}
	b.SetBytes(int64(len(raw)))
	b.ReportAllocs()
	for b.Loop() {
		if _, err := Decode(bytes.NewReader(raw), time.UTC); err != nil {
			b.Fatal(err)
		}
	}
}
