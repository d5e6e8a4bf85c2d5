package recording

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"time"
)

// Encoder converts WAV to MP3 with the lame binary (Debian package lame).
// No pure-Go MP3 encoder handles 8 kHz telephone audio correctly, so the
// conversion runs as a child process bound to a context and a timeout.
type Encoder struct {
	// Path of the lame binary; default "lame" from PATH.
	Path string
	// Bitrate in kbit/s, constant bit rate. Default 32. lame's own
	// default for 8 kHz input is 8 kbit/s, audibly poor, so it is always
	// passed; 16 is enough for narrow-band speech.
	Bitrate int
	// Timeout bounds one conversion. Default 60 s (a one-hour call takes
	// a few seconds).
	Timeout time.Duration
}

// stderrKeep is how much of lame's stderr an error carries.
const stderrKeep = 2048

// LookPath reports where the encoder's binary is, or ErrNoEncoder.
func (e *Encoder) LookPath() (string, error) {
	p, err := exec.LookPath(e.path())
	if err != nil {
		return "", fmt.Errorf("find %s: %w: install the Debian package lame", e.path(), ErrNoEncoder)
	}
	return p, nil
}

func (e *Encoder) path() string {
	if e == nil || e.Path == "" {
		return "lame"
	}
	return e.Path
}

func (e *Encoder) bitrate() int {
	if e == nil || e.Bitrate <= 0 {
		return 32
	}
	return e.Bitrate
}

func (e *Encoder) timeout() time.Duration {
	if e == nil || e.Timeout <= 0 {
		return 60 * time.Second
	}
	return e.Timeout
}

// Encode converts the WAV file at src to an MP3 file at dst. It writes a
// temporary file next to dst and renames it on success, so a reader never
// sees a half-written MP3 under dst's name.
func (e *Encoder) Encode(ctx context.Context, src, dst string) error {
	bin, err := e.LookPath()
	if err != nil {
		return err
	}
	tmp := filepath.Join(filepath.Dir(dst), "."+filepath.Base(dst)+".part")
	ctx, cancel := context.WithTimeout(ctx, e.timeout())
	defer cancel()
	// -b: constant bit rate; -m m: mono; --silent: fatal errors only on stderr.
	cmd := exec.CommandContext(ctx, bin, "--silent", "--noreplaygain", "-m", "m", "-b", strconv.Itoa(e.bitrate()), src, tmp)
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	cmd.WaitDelay = time.Second
	runErr := cmd.Run()
	if runErr != nil {
		os.Remove(tmp)
		why := runErr.Error()
		if errors.Is(ctx.Err(), context.DeadlineExceeded) {
			why = fmt.Sprintf("timed out after %v", e.timeout())
		}
		return fmt.Errorf("%w %s -> %s: %s: %s", ErrEncode, src, dst, why, tail(stderr.String()))
	}
	if err := os.Rename(tmp, dst); err != nil {
		os.Remove(tmp)
		return fmt.Errorf("%w %s -> %s: %v", ErrEncode, src, dst, err)
	}
	return nil
}

// tail keeps the last part of lame's stderr, progress lines folded.
func tail(s string) string {
	s = strings.TrimSpace(strings.ReplaceAll(s, "\r", "\n"))
	if len(s) > stderrKeep {
		s = "…" + s[len(s)-stderrKeep:]
	}
	if s == "" {
		return "(no output)"
	}
	return s
}
