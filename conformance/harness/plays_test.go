package harness

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"
)

// within bounds every wait of these tests: a loaded machine is slow, not
// wrong.
const within = time.Minute

// TestPlaysBound: Start plays everything, never more than the limit at
// once, and each play's result (or error, named) reaches its waiter.
func TestPlaysBound(t *testing.T) {
	const limit, n = 3, 12
	p := NewPlays[int](limit, 0)
	defer p.Close()
	var mu sync.Mutex
	running, most := 0, 0
	gate := make(chan struct{})
	var plays []*Play[int]
	for i := range n {
		plays = append(plays, p.Add(fmt.Sprint("play ", i), func(ctx context.Context) (int, error) {
			mu.Lock()
			running++
			most = max(most, running)
			full := running == limit
			mu.Unlock()
			if full {
				// The first time the limit is reached, let every play go.
				select {
				case <-gate:
				default:
					close(gate)
				}
			}
			select {
			case <-gate:
			case <-ctx.Done():
				return 0, ctx.Err()
			}
			mu.Lock()
			running--
			mu.Unlock()
			if i%4 == 3 {
				return 0, errors.New("boom")
			}
			return i * i, nil
		}))
	}
	p.Start()
	ctx, cancel := context.WithTimeout(t.Context(), within)
	defer cancel()
	for i, pl := range plays {
		v, err := pl.Wait(ctx)
		if i%4 == 3 {
			if err == nil || !strings.Contains(err.Error(), fmt.Sprint("play ", i, ": boom")) {
				t.Errorf("play %d: error %v, want one naming the play", i, err)
			}
			continue
		}
		if err != nil || v != i*i {
			t.Errorf("play %d: %d, %v; want %d", i, v, err, i*i)
		}
	}
	if most != limit {
		t.Errorf("at most %d plays ran at once, want %d", most, limit)
	}
}

// TestPlaysOnDemand: without Start, Wait plays only what is waited for;
// a panic comes back as an error naming the play.
func TestPlaysOnDemand(t *testing.T) {
	p := NewPlays[string](2, 0)
	defer p.Close()
	var mu sync.Mutex
	var ran []string
	mk := func(name string) *Play[string] {
		return p.Add(name, func(context.Context) (string, error) {
			mu.Lock()
			ran = append(ran, name)
			mu.Unlock()
			if name == "c" {
				panic("lost")
			}
			return "got " + name, nil
		})
	}
	a, _, c := mk("a"), mk("b"), mk("c")
	ctx, cancel := context.WithTimeout(t.Context(), within)
	defer cancel()
	if v, err := a.Wait(ctx); err != nil || v != "got a" {
		t.Fatalf("a: %q, %v", v, err)
	}
	if _, err := c.Wait(ctx); err == nil || !strings.Contains(err.Error(), "c: panic: lost") {
		t.Errorf("c: error %v, want the panic", err)
	}
	mu.Lock()
	defer mu.Unlock()
	if strings.Join(ran, ",") != "a,c" {
		t.Errorf("played %v, want only a and c", ran)
	}
}

// TestPlaysWaitNamesThePlay: a wait cut short says which play it waited
// for; Close cancels a play still running.
func TestPlaysWaitNamesThePlay(t *testing.T) {
	p := NewPlays[int](1, 0)
	started := make(chan struct{})
	stopped := make(chan error, 1)
	pl := p.Add("slow one", func(ctx context.Context) (int, error) {
		close(started)
		<-ctx.Done()
		stopped <- ctx.Err()
		return 0, ctx.Err()
	})
	p.Start()
	ctx, cancel := context.WithCancel(t.Context())
	go func() { <-started; cancel() }()
	if _, err := pl.Wait(ctx); err == nil || !strings.Contains(err.Error(), "waiting for the play of slow one") {
		t.Errorf("error %v, want one naming the play", err)
	}
	p.Close()
	select {
	case err := <-stopped:
		if !errors.Is(err, context.Canceled) {
			t.Errorf("the play stopped with %v, want context.Canceled", err)
		}
	default:
		t.Error("Close returned while the play still ran")
	}
}
