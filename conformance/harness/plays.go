package harness

import (
	"context"
	"fmt"
	"os"
	"runtime"
	"strconv"
	"sync"
	"sync/atomic"
	"time"
)

// PlaysEnv names the environment variable that bounds how many plays run
// at once (see PlaysLimit).
const PlaysEnv = "CALLHOOK_PLAYS"

// PlaysLimit is how many plays a suite runs at once: CALLHOOK_PLAYS when
// it is a positive number, else one per core. A play mostly waits on the
// simulator's clock, but what it does it must do on time: a sped-up
// clock magnifies scheduling delay (10 ms late at speed 10 is 0.1 s in
// the webhooks), so on a busy machine more plays at once cost the checks
// their tolerance before they cost CPU. Two per core, with the suites'
// packages also running side by side and a busy loop on one core, made a
// talk time 2 s late.
func PlaysLimit() int {
	if n, err := strconv.Atoi(os.Getenv(PlaysEnv)); err == nil && n > 0 {
		return n
	}
	return runtime.GOMAXPROCS(0)
}

// Plays runs a suite's plays (each on its own simulator and engine, so
// they share nothing) concurrently, at most a limit at once, and holds
// each one's result for the spec that checks it. A play returns an error
// rather than failing a test: it runs on a goroutine of its own.
//
// Add registers the plays; Start plays them all in the background in the
// order added; Play.Wait gives one play's result, and queues the play at
// once if the background has not reached it, so a spec waits for at most
// the plays already running, and a suite that never calls Start plays
// only what its specs wait for. Close stops what still plays.
type Plays[T any] struct {
	sem     chan struct{} // one token per running play
	timeout time.Duration

	ctx    context.Context
	cancel context.CancelFunc
	wg     sync.WaitGroup

	mu      sync.Mutex
	queue   []*Play[T]
	started bool
}

// Play is one registered play and, once it ran, its result.
type Play[T any] struct {
	plays *Plays[T]
	name  string
	f     func(context.Context) (T, error)

	taken atomic.Bool // by the background or by a waiter
	done  chan struct{}
	val   T
	err   error
	took  time.Duration
}

// NewPlays makes an empty set of plays, at most limit at once (below 1:
// PlaysLimit()); each play gets timeout from its start (0: none).
func NewPlays[T any](limit int, timeout time.Duration) *Plays[T] {
	if limit < 1 {
		limit = PlaysLimit()
	}
	ctx, cancel := context.WithCancel(context.Background())
	return &Plays[T]{sem: make(chan struct{}, limit), timeout: timeout, ctx: ctx, cancel: cancel}
}

// Add registers a play named name (what errors and waits name it by).
func (p *Plays[T]) Add(name string, f func(ctx context.Context) (T, error)) *Play[T] {
	pl := &Play[T]{plays: p, name: name, f: f, done: make(chan struct{})}
	p.mu.Lock()
	defer p.mu.Unlock()
	p.queue = append(p.queue, pl)
	return pl
}

// Start plays every registered play in the background, at most the limit
// at once, in the order added. A second call does nothing.
func (p *Plays[T]) Start() {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.started {
		return
	}
	p.started = true
	queue := p.queue
	p.wg.Go(func() {
		for _, pl := range queue {
			if !p.acquire() {
				return
			}
			if !pl.taken.CompareAndSwap(false, true) {
				// A waiter queued it already.
				p.release()
				continue
			}
			p.wg.Go(func() {
				defer p.release()
				pl.run(p.ctx)
			})
		}
	})
}

// Close cancels the plays still running or queued and waits for the
// running ones to return.
func (p *Plays[T]) Close() {
	p.cancel()
	p.wg.Wait()
}

func (p *Plays[T]) acquire() bool {
	select {
	case p.sem <- struct{}{}:
		return true
	case <-p.ctx.Done():
		return false
	}
}

func (p *Plays[T]) release() { <-p.sem }

// Name is what the play was registered as.
func (pl *Play[T]) Name() string { return pl.name }

// Took is how long the play ran, once Wait returned its result.
func (pl *Play[T]) Took() time.Duration { return pl.took }

// run plays pl and publishes its result.
func (pl *Play[T]) run(ctx context.Context) {
	defer close(pl.done)
	start := time.Now()
	pl.val, pl.err = pl.play(ctx)
	pl.took = time.Since(start)
}

// play runs the play's function within the timeout, a panic turned into
// an error.
func (pl *Play[T]) play(ctx context.Context) (v T, err error) {
	if pl.plays.timeout > 0 {
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeout(ctx, pl.plays.timeout)
		defer cancel()
	}
	defer func() {
		if r := recover(); r != nil {
			err = fmt.Errorf("%s: panic: %v", pl.name, r)
		}
	}()
	v, err = pl.f(ctx)
	if err != nil {
		err = fmt.Errorf("%s: %w", pl.name, err)
	}
	return v, err
}

// Wait returns the play's result, queueing it now if the background has
// not taken it yet; ctx bounds only the wait, not the play.
func (pl *Play[T]) Wait(ctx context.Context) (T, error) {
	p := pl.plays
	if pl.taken.CompareAndSwap(false, true) {
		p.wg.Go(func() {
			if !p.acquire() {
				var zero T
				pl.val, pl.err = zero, fmt.Errorf("%s: not played: %w", pl.name, p.ctx.Err())
				close(pl.done)
				return
			}
			defer p.release()
			pl.run(p.ctx)
		})
	}
	select {
	case <-pl.done:
		return pl.val, pl.err
	case <-ctx.Done():
		var zero T
		return zero, fmt.Errorf("waiting for the play of %s: %w", pl.name, context.Cause(ctx))
	}
}

// Again plays pl afresh on the caller's goroutine, for a retried spec
// that must not reuse a result it already failed on.
func (pl *Play[T]) Again(ctx context.Context) (T, error) {
	return pl.play(ctx)
}
