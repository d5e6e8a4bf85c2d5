package realpbx

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"time"
)

// LocalAsterisk is an Asterisk installed on this machine under a prefix
// (PREFIX/sbin/asterisk, PREFIX/lib/asterisk/modules,
// PREFIX/var/lib/asterisk), started here as a child process with a
// scratch asterisk.conf: the configuration is read from fixtures/asterisk,
// everything Asterisk writes (run, log, spool, astdb, keys) goes to a
// temporary folder. When the prefix has a `wrap` script (the lab build
// has one: a private mount namespace with a loopback-only resolver and an
// LD_PRELOAD shim that turns binds to 0.0.0.0 into 127.0.0.1), Asterisk
// is started through it.
type LocalAsterisk struct {
	Prefix string
	// Dir is the scratch folder: asterisk.conf, run/, log/ (full.log,
	// messages.log, console.log), spool/, lib/.
	Dir  string
	cmd  *exec.Cmd
	done chan struct{}
	err  error // the process's exit, once done is closed
}

// SIPAddr is the SIP address (UDP and TCP) fixtures/asterisk binds.
func (a *LocalAsterisk) SIPAddr() string { return SIPAddr }

// AMIAddr is the AMI address fixtures/asterisk binds.
func (a *LocalAsterisk) AMIAddr() string { return AMIAddr }

// SpoolDir is where Asterisk's recordings (MixMonitor) go: the scratch
// spool's monitor folder.
func (a *LocalAsterisk) SpoolDir() string { return filepath.Join(a.Dir, "spool") }

// asteriskConf is the scratch asterisk.conf: the directories of a stock
// install, pointed at the prefix (read-only parts), the configuration
// directory and the scratch folder (everything written).
const asteriskConf = `; asterisk.conf written by conformance/realpbx for one run
[directories]
astetcdir => %[1]s
astmoddir => %[2]s/lib/asterisk/modules
astdatadir => %[2]s/var/lib/asterisk
astagidir => %[2]s/var/lib/asterisk/agi-bin
astsbindir => %[2]s/sbin
astvarlibdir => %[3]s/lib
astdbdir => %[3]s/lib
astkeydir => %[3]s/lib/keys
astspooldir => %[3]s/spool
astrundir => %[3]s/run
astlogdir => %[3]s/log

[options]
; no colours in console.log
nocolor = yes
`

// StartLocal starts the Asterisk installed under prefix with the
// configuration in configDir and returns once AMI accepts a login and
// Asterisk reports FullyBooted. Ports 5060 (UDP, TCP) and 5038 of
// 127.0.0.1 must be free. Close stops it and removes the scratch folder
// (kept when CALLHOOK_ASTERISK_KEEP is set, for its logs).
func StartLocal(ctx context.Context, prefix, configDir string) (*LocalAsterisk, error) {
	prefix, err := filepath.Abs(prefix)
	if err != nil {
		return nil, fmt.Errorf("asterisk prefix %q: %w", prefix, err)
	}
	bin := filepath.Join(prefix, "sbin", "asterisk")
	if _, err := os.Stat(bin); err != nil {
		return nil, fmt.Errorf("no Asterisk under %s (%s=%s): %w", prefix, EnvPrefix, prefix, err)
	}
	etc, err := filepath.Abs(configDir)
	if err != nil {
		return nil, err
	}
	if _, err := os.Stat(filepath.Join(etc, "modules.conf")); err != nil {
		return nil, fmt.Errorf("asterisk configuration %s: %w", etc, err)
	}
	if err := portsFree(); err != nil {
		return nil, err
	}
	dir, err := os.MkdirTemp("", "callhook-asterisk-")
	if err != nil {
		return nil, err
	}
	for _, d := range []string{"run", "log", "spool/monitor", "spool/fax", "spool/tmp", "lib/keys"} {
		if err := os.MkdirAll(filepath.Join(dir, d), 0o755); err != nil {
			os.RemoveAll(dir)
			return nil, err
		}
	}
	conf := filepath.Join(dir, "asterisk.conf")
	if err := os.WriteFile(conf, fmt.Appendf(nil, asteriskConf, etc, prefix, dir), 0o644); err != nil {
		os.RemoveAll(dir)
		return nil, err
	}
	console, err := os.Create(filepath.Join(dir, "log", "console.log"))
	if err != nil {
		os.RemoveAll(dir)
		return nil, err
	}
	defer console.Close()

	args := []string{bin, "-C", conf, "-f", "-n"}
	if wrap := filepath.Join(prefix, "wrap"); isExecutable(wrap) {
		args = append([]string{wrap}, args...)
	}
	cmd := exec.Command(args[0], args[1:]...)
	cmd.Dir = dir
	cmd.Stdout, cmd.Stderr = console, console
	// Its own process group (no terminal signals), and killed with the
	// test binary should that die first.
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true, Pdeathsig: syscall.SIGKILL}
	if err := cmd.Start(); err != nil {
		os.RemoveAll(dir)
		return nil, fmt.Errorf("start %s: %w", strings.Join(args, " "), err)
	}
	a := &LocalAsterisk{Prefix: prefix, Dir: dir, cmd: cmd, done: make(chan struct{})}
	go func() {
		a.err = cmd.Wait()
		close(a.done)
	}()

	rctx, cancel := context.WithTimeout(ctx, 90*time.Second)
	defer cancel()
	go func() {
		select {
		case <-a.done:
			cancel()
		case <-rctx.Done():
		}
	}()
	if err := (amiReady{addr: AMIAddr, user: "admin", secret: "secret"}).WaitUntilReady(rctx, nil); err != nil {
		select {
		case <-a.done:
			err = fmt.Errorf("asterisk exited before it was ready (%v); console:\n%s", a.err, a.tail(40))
		default:
		}
		a.Close(context.WithoutCancel(ctx))
		return nil, err
	}
	return a, nil
}

// Close stops Asterisk (SIGTERM: a fast shutdown; SIGKILL to its process
// group after 20 s) and removes the scratch folder unless
// CALLHOOK_ASTERISK_KEEP is set.
func (a *LocalAsterisk) Close(ctx context.Context) error {
	var err error
	select {
	case <-a.done:
	default:
		_ = a.cmd.Process.Signal(syscall.SIGTERM)
		t := time.NewTimer(20 * time.Second)
		select {
		case <-a.done:
		case <-t.C:
			_ = syscall.Kill(-a.cmd.Process.Pid, syscall.SIGKILL)
			<-a.done
			err = errors.New("asterisk did not stop within 20 s of SIGTERM; killed")
		case <-ctx.Done():
			_ = syscall.Kill(-a.cmd.Process.Pid, syscall.SIGKILL)
			<-a.done
		}
		t.Stop()
	}
	if os.Getenv(EnvKeep) == "" {
		os.RemoveAll(a.Dir)
	}
	return err
}

// tail is the last n lines of the console log.
func (a *LocalAsterisk) tail(n int) string {
	b, _ := os.ReadFile(filepath.Join(a.Dir, "log", "console.log"))
	lines := bytes.Split(bytes.TrimRight(b, "\n"), []byte("\n"))
	if len(lines) > n {
		lines = lines[len(lines)-n:]
	}
	return string(bytes.Join(lines, []byte("\n")))
}

func isExecutable(path string) bool {
	st, err := os.Stat(path)
	return err == nil && !st.IsDir() && st.Mode()&0o111 != 0
}

// portsFree checks that nothing listens on the addresses fixtures/asterisk
// binds, so a second PBX does not half-start beside another one.
func portsFree() error {
	for _, a := range []struct{ network, addr string }{{"tcp", SIPAddr}, {"tcp", AMIAddr}} {
		l, err := net.Listen(a.network, a.addr)
		if err != nil {
			return fmt.Errorf("cannot start Asterisk: %s %s is taken (another Asterisk or simulator running?): %w", a.network, a.addr, err)
		}
		l.Close()
	}
	pc, err := net.ListenPacket("udp", SIPAddr)
	if err != nil {
		return fmt.Errorf("cannot start Asterisk: udp %s is taken (another Asterisk or simulator running?): %w", SIPAddr, err)
	}
	return pc.Close()
}
