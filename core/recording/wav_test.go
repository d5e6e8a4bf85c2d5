package recording

import (
	"context"
	"errors"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/callhook/callhook/core/recording/internal/wavgen"
)

func TestReadWAVHeader(t *testing.T) {
	path := filepath.Join(t.TempDir(), "a.wav")
	pcm := wavgen.Tone(time.Second, 440, 0.5)
	if err := wavgen.Write(path, pcm); err != nil {
		t.Fatal(err)
	}
	info, size, err := statWAV(path)
	if err != nil {
		t.Fatal(err)
	}
	if info.SampleRate != 8000 || info.Channels != 1 || info.BitsPerSample != 16 || info.DataOffset != 44 {
		t.Fatalf("info = %+v", info)
	}
	if !info.Patched(size) {
		t.Fatalf("complete file not patched: %+v size %d", info, size)
	}
	if info.Duration() != time.Second {
		t.Fatalf("duration %v", info.Duration())
	}
}

func TestReadWAVHeaderRejects(t *testing.T) {
	for name, data := range map[string]string{
		"empty":    "",
		"not riff": "ID3\x04xxxxxxxxxxxxxxxxxxxx",
		"no fmt":   "RIFF\x24\x00\x00\x00WAVEdata\x00\x00\x00\x00",
	} {
		t.Run(name, func(t *testing.T) {
			_, err := ReadWAVHeader(strings.NewReader(data))
			if !errors.Is(err, ErrNotWAV) {
				t.Fatalf("err = %v, want ErrNotWAV", err)
			}
		})
	}
}

// The writer leaves zero sizes in the header until it closes the file;
// WaitComplete must not return before that, and must return right after
// the PBX says it stopped.
func TestWaitCompleteWaitsForPatchedHeader(t *testing.T) {
	path := filepath.Join(t.TempDir(), "rec.wav")
	w, err := wavgen.Create(path)
	if err != nil {
		t.Fatal(err)
	}
	w.Write(wavgen.Tone(500*time.Millisecond, 440, 0.5))

	closed := make(chan struct{})
	done := make(chan error, 1)
	go func() {
		// StableFor is long: only the close signal can end the wait early.
		_, err := WaitComplete(context.Background(), path, WaitOptions{
			Timeout: 10 * time.Second, Poll: time.Millisecond, StableFor: time.Hour, Closed: closed,
		})
		done <- err
	}()
	// The file is unpatched: the wait goes on while samples keep coming.
	for i := 0; i < 5; i++ {
		w.Write(wavgen.Tone(100*time.Millisecond, 440, 0.5))
		select {
		case err := <-done:
			t.Fatalf("returned while the header was unpatched: %v", err)
		default:
		}
	}
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
	close(closed)
	select {
	case err := <-done:
		if err != nil {
			t.Fatal(err)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("no return after the file was closed")
	}
}

// Without a close signal, a patched file counts once its size settles.
func TestWaitCompleteStableSize(t *testing.T) {
	path := filepath.Join(t.TempDir(), "rec.wav")
	if err := wavgen.Write(path, wavgen.Tone(time.Second, 440, 0.5)); err != nil {
		t.Fatal(err)
	}
	info, err := WaitComplete(context.Background(), path, WaitOptions{Poll: time.Millisecond, StableFor: 20 * time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	if info.Duration() != time.Second {
		t.Fatalf("duration %v", info.Duration())
	}
}

// A file that shows up late (the document: up to 1-2 s after hangup).
func TestWaitCompleteFileAppearsLater(t *testing.T) {
	path := filepath.Join(t.TempDir(), "late.wav")
	closed := make(chan struct{})
	done := make(chan error, 1)
	go func() {
		_, err := WaitComplete(context.Background(), path, WaitOptions{Timeout: 10 * time.Second, Poll: time.Millisecond, StableFor: time.Hour, Closed: closed})
		done <- err
	}()
	if err := wavgen.Write(path, wavgen.Tone(200*time.Millisecond, 440, 0.5)); err != nil {
		t.Fatal(err)
	}
	close(closed)
	if err := <-done; err != nil {
		t.Fatal(err)
	}
}

// A recorder that died leaves an unpatched header: the wait ends with an
// error naming the file.
func TestWaitCompleteTimeoutNamesFile(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "crashed.wav")
	w, err := wavgen.Create(path)
	if err != nil {
		t.Fatal(err)
	}
	w.Write(wavgen.Tone(300*time.Millisecond, 440, 0.5))
	w.Abandon()
	closed := make(chan struct{})
	close(closed)
	start := time.Now()
	_, err = WaitComplete(context.Background(), path, WaitOptions{Timeout: 50 * time.Millisecond, Poll: time.Millisecond, Closed: closed})
	if !errors.Is(err, ErrIncomplete) {
		t.Fatalf("err = %v, want ErrIncomplete", err)
	}
	if !strings.Contains(err.Error(), path) || !strings.Contains(err.Error(), "not patched") {
		t.Fatalf("error does not name the file and its state: %v", err)
	}
	if time.Since(start) > 3*time.Second {
		t.Fatalf("timeout not honoured: %v", time.Since(start))
	}

	_, err = WaitComplete(context.Background(), filepath.Join(dir, "never.wav"), WaitOptions{Timeout: 20 * time.Millisecond, Poll: time.Millisecond})
	if !errors.Is(err, ErrIncomplete) || !strings.Contains(err.Error(), "never.wav") || !strings.Contains(err.Error(), "not found") {
		t.Fatalf("missing file: err = %v", err)
	}
}

func TestWaitCompleteContextCancel(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	_, err := WaitComplete(ctx, filepath.Join(t.TempDir(), "x.wav"), WaitOptions{Poll: time.Millisecond})
	if !errors.Is(err, context.Canceled) {
		t.Fatalf("err = %v", err)
	}
}
