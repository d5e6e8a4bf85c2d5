package interop

import (
	"bytes"
	"context"
	"encoding/binary"
	"fmt"
	"math"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"testing"
	"time"

	"github.com/callhook/callhook/pbxsim/pbx"
	"github.com/callhook/callhook/pbxsim/phone"
)

// toneWAV writes a 2 s 400 Hz tone as 8 kHz 16-bit mono WAV: baresip's
// audio source (its sine source is 48 kHz only).
func toneWAV(t *testing.T, path string) {
	t.Helper()
	const rate, n = 8000, 16000
	var b bytes.Buffer
	b.WriteString("RIFF")
	_ = binary.Write(&b, binary.LittleEndian, uint32(36+2*n))
	b.WriteString("WAVEfmt ")
	for _, v := range []any{uint32(16), uint16(1), uint16(1), uint32(rate), uint32(2 * rate), uint16(2), uint16(16)} {
		_ = binary.Write(&b, binary.LittleEndian, v)
	}
	b.WriteString("data")
	_ = binary.Write(&b, binary.LittleEndian, uint32(2*n))
	for i := range n {
		_ = binary.Write(&b, binary.LittleEndian, int16(8000*math.Sin(2*math.Pi*400*float64(i)/rate)))
	}
	if err := os.WriteFile(path, b.Bytes(), 0o600); err != nil {
		t.Fatal(err)
	}
}

// TestBaresipCall: baresip (Debian baresip-core), as an outside caller,
// dials DID 2125550100; pbxsim's phone at 101 answers, hears baresip's
// G.711 audio through the PBX's relay, and hangs up.
func TestBaresipCall(t *testing.T) {
	bin, err := exec.LookPath("baresip")
	if err != nil {
		t.Skip("baresip not installed: run `make deps` (Debian package baresip-core)")
	}
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	p, err := pbx.New(pbx.DefaultTopology())
	if err != nil {
		t.Fatal(err)
	}
	if err := p.Start(ctx); err != nil {
		t.Fatal(err)
	}
	defer p.Close()
	alice, err := phone.New(ctx, phone.Config{User: "101", DisplayName: "Alice 101", Password: "secret101", Server: p.Addr()})
	if err != nil {
		t.Fatal(err)
	}
	defer alice.Close()
	alice.SetPolicy(phone.Policy{Mode: phone.AnswerAfter})
	if err := alice.Register(ctx); err != nil {
		t.Fatal(err)
	}

	dir := t.TempDir()
	wav := filepath.Join(dir, "tone.wav")
	toneWAV(t, wav)
	conf := fmt.Sprintf(`sip_listen		127.0.0.1:%s
net_interface		127.0.0.1
audio_player		aufile,%s
audio_source		aufile,%s
audio_alert		aufile,%s
module_path		/usr/lib/baresip/modules
module			g711.so
module			aufile.so
module_app		account.so
module_app		menu.so
rtp_ports		%s-%s
`, freeSIPPort(t), filepath.Join(dir, "heard.wav"), wav, filepath.Join(dir, "alert.wav"), "40000", "40100")
	if err := os.WriteFile(filepath.Join(dir, "config"), []byte(conf), 0o600); err != nil {
		t.Fatal(err)
	}
	acc := "<sip:2125559876@127.0.0.1>;regint=0;audio_codecs=PCMU\n"
	if err := os.WriteFile(filepath.Join(dir, "accounts"), []byte(acc), 0o600); err != nil {
		t.Fatal(err)
	}
	cmd := exec.CommandContext(ctx, bin, "-f", dir, "-e", "/dial sip:2125550100@"+p.Addr())
	var outBuf bytes.Buffer
	cmd.Stdout, cmd.Stderr = &outBuf, &outBuf
	cmd.Stdin = nil
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	stopped := false
	stop := func() {
		if !stopped {
			stopped = true
			_ = cmd.Process.Kill()
			_ = cmd.Wait()
		}
	}
	defer stop()
	// out is what baresip said, read once it is stopped (its output is
	// copied into the buffer until then).
	out := func() string { stop(); return outBuf.String() }

	var in *phone.Call
	select {
	case in = <-alice.Incoming():
	case <-ctx.Done():
		t.Fatalf("baresip's call did not reach 101; baresip said:\n%s", out())
	}
	if in.RemoteNumber() != "2125559876" {
		t.Errorf("caller %q", in.RemoteNumber())
	}
	select {
	case <-in.Answered():
	case <-ctx.Done():
		t.Fatal("101 did not answer")
	}
	deadline := time.After(5 * time.Second)
	for in.RTPReceived() < 25 {
		select {
		case <-deadline:
			t.Fatalf("101 got %d RTP packets from baresip; baresip said:\n%s", in.RTPReceived(), out())
		case <-time.After(20 * time.Millisecond):
		}
	}
	if err := in.Hangup(ctx); err != nil {
		t.Fatalf("hang up baresip's call: %v", err)
	}
	if code, _ := in.Status(); code != 200 {
		t.Errorf("status %d", code)
	}
}

// freeSIPPort is a port baresip can listen on: it binds UDP and TCP on the
// port and SIP/TLS on the next one, so all three must be free.
func freeSIPPort(t *testing.T) string {
	t.Helper()
	for range 100 {
		u, err := net.ListenPacket("udp", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		port := u.LocalAddr().(*net.UDPAddr).Port
		a, errA := net.Listen("tcp", fmt.Sprintf("127.0.0.1:%d", port))
		b, errB := net.Listen("tcp", fmt.Sprintf("127.0.0.1:%d", port+1))
		for _, l := range []net.Listener{a, b} {
			if l != nil {
				l.Close()
			}
		}
		u.Close()
		if errA == nil && errB == nil && port < 65535 {
			return strconv.Itoa(port)
		}
	}
	t.Fatal("no port free for UDP, TCP and the TLS port after it in 100 tries")
	return ""
}
