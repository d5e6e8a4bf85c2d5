package recording

import (
	"context"
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/callhook/callhook/core/recording/internal/wavgen"
)

// needLame skips a test when the encoder is missing.
func needLame(t testing.TB) {
	t.Helper()
	if _, err := exec.LookPath("lame"); err != nil {
		t.Skip("lame not installed: run `make deps` (Debian package lame)")
	}
}

// checkMP3 asserts path holds valid MP3 frames lasting want ±10 %.
func checkMP3(t testing.TB, path string, want time.Duration) MP3Info {
	t.Helper()
	info, err := ProbeMP3(path)
	if err != nil {
		t.Fatal(err)
	}
	if info.SampleRate != 8000 {
		t.Fatalf("%s: sample rate %d, want 8000", path, info.SampleRate)
	}
	if d := info.Duration - want; d > want/10 || -d > want/10 {
		t.Fatalf("%s: duration %v, want %v ±10%%", path, info.Duration, want)
	}
	return info
}

func TestEncodeBitrates(t *testing.T) {
	needLame(t)
	dir := t.TempDir()
	src := filepath.Join(dir, "call.wav")
	if err := wavgen.Write(src, wavgen.Bursts(700*time.Millisecond, 300*time.Millisecond, 3)); err != nil {
		t.Fatal(err)
	}
	for _, kbps := range []int{16, 32} {
		dst := filepath.Join(dir, "call.mp3")
		e := &Encoder{Bitrate: kbps}
		if err := e.Encode(context.Background(), src, dst); err != nil {
			t.Fatal(err)
		}
		info := checkMP3(t, dst, 2700*time.Millisecond)
		if info.Bitrate != kbps {
			t.Fatalf("bitrate %d, want %d", info.Bitrate, kbps)
		}
		// Round trip through lame's decoder: the audio length survives.
		back := filepath.Join(dir, "back.wav")
		if out, err := exec.Command("lame", "--silent", "--decode", dst, back).CombinedOutput(); err != nil {
			t.Fatalf("decode: %v: %s", err, out)
		}
		wi, _, err := statWAV(back)
		if err != nil {
			t.Fatal(err)
		}
		if d := wi.Duration() - 2700*time.Millisecond; d > 270*time.Millisecond || -d > 270*time.Millisecond {
			t.Fatalf("decoded duration %v", wi.Duration())
		}
	}
	if entries, _ := os.ReadDir(dir); len(entries) != 3 {
		t.Fatalf("left-over files: %v", entries)
	}
}

func TestEncodeErrorCarriesStderr(t *testing.T) {
	needLame(t)
	dir := t.TempDir()
	// lame takes unknown bytes as raw PCM, so the failure is a missing input.
	src := filepath.Join(dir, "junk.wav")
	dst := filepath.Join(dir, "junk.mp3")
	err := (&Encoder{}).Encode(context.Background(), src, dst)
	if !errors.Is(err, ErrEncode) || !strings.Contains(err.Error(), "junk.wav") {
		t.Fatalf("err = %v", err)
	}
	if !strings.Contains(err.Error(), "exit status") || strings.HasSuffix(err.Error(), "(no output)") {
		t.Fatalf("error lacks exit status or lame's stderr: %v", err)
	}
	if _, err := os.Stat(dst); !errors.Is(err, os.ErrNotExist) {
		t.Fatalf("failed encode left %s", dst)
	}
	if entries, _ := os.ReadDir(dir); len(entries) != 0 {
		t.Fatalf("temporary file left: %v", entries)
	}
}

func TestEncodeMissingBinary(t *testing.T) {
	e := &Encoder{Path: "lame-not-here-" + t.Name()}
	err := e.Encode(context.Background(), "a.wav", "a.mp3")
	if !errors.Is(err, ErrNoEncoder) {
		t.Fatalf("err = %v", err)
	}
}

func TestEncodeTimeout(t *testing.T) {
	needLame(t)
	dir := t.TempDir()
	src := filepath.Join(dir, "long.wav")
	// Ten minutes of audio cannot be encoded in a millisecond.
	if err := wavgen.Write(src, wavgen.Tone(10*time.Minute, 440, 0.5)); err != nil {
		t.Fatal(err)
	}
	err := (&Encoder{Timeout: time.Millisecond}).Encode(context.Background(), src, filepath.Join(dir, "long.mp3"))
	if !errors.Is(err, ErrEncode) || !strings.Contains(err.Error(), "timed out") {
		t.Fatalf("err = %v", err)
	}
}

func TestReadMP3Rejects(t *testing.T) {
	path := filepath.Join(t.TempDir(), "x.mp3")
	os.WriteFile(path, []byte("RIFF....WAVEfmt "), 0o644)
	if _, err := ProbeMP3(path); !errors.Is(err, ErrNotMP3) {
		t.Fatalf("err = %v", err)
	}
}
