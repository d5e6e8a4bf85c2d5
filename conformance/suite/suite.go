// Package suite is what the Ginkgo conformance suites share to run their
// plays (harness.Plays) ahead of the specs that check them.
package suite

import (
	"context"
	"errors"
	"time"

	"github.com/onsi/ginkgo/v2"
	"github.com/onsi/ginkgo/v2/types"
	"github.com/onsi/gomega"

	"github.com/callhook/callhook/conformance/harness"
)

// EventuallyTimeout is the suites' default Eventually timeout: they share
// two cores with whatever else runs.
const EventuallyTimeout = 30 * time.Second

// Start, called from BeforeSuite, starts p's plays in the background when
// the whole suite runs in this process, and stops them when the suite
// ends. With a focus, skip or label filter, or under ginkgo -p, nothing
// plays ahead: each spec plays what it waits for, so nobody waits for
// plays whose specs do not run here.
func Start[T any](p *harness.Plays[T]) {
	cfg, _ := ginkgo.GinkgoConfiguration()
	whole := cfg.ParallelTotal <= 1 && cfg.LabelFilter == "" && cfg.SemVerFilter == "" &&
		len(cfg.FocusStrings)+len(cfg.SkipStrings)+len(cfg.FocusFiles)+len(cfg.SkipFiles) == 0
	if whole {
		p.Start()
	}
	ginkgo.DeferCleanup(p.Close)
}

// Played is pl's result for the running spec, which fails, naming the
// play, if the play did. A retried spec (--flake-attempts) plays afresh.
func Played[T any](ctx context.Context, pl *harness.Play[T]) T {
	ginkgo.GinkgoHelper()
	var v T
	var err error
	if ginkgo.CurrentSpecReport().NumAttempts > 1 {
		v, err = pl.Again(ctx)
	} else {
		v, err = pl.Wait(ctx)
	}
	gomega.Expect(err).NotTo(gomega.HaveOccurred())
	return v
}

// InPlay makes a play of f, which asserts with a Gomega of its own (g)
// rather than the spec's: a play runs on a goroutine of its own, where a
// failed assertion must end the play, not the spec. The first failure
// ends f and comes back as the play's error, with its place in the code.
func InPlay[T any](f func(ctx context.Context, g gomega.Gomega) T) func(context.Context) (T, error) {
	return func(ctx context.Context) (v T, err error) {
		g := gomega.NewGomega(func(message string, callerSkip ...int) {
			skip := 0
			if len(callerSkip) > 0 {
				skip = callerSkip[0]
			}
			panic(playFailure{message: message, at: types.NewCodeLocation(skip + 1)})
		})
		// As the suites' own (a new Gomega's default is 1 s).
		g.SetDefaultEventuallyTimeout(EventuallyTimeout)
		defer func() {
			if r := recover(); r != nil {
				f, ok := r.(playFailure)
				if !ok {
					panic(r)
				}
				err = errors.New(f.at.String() + ": " + f.message)
			}
		}()
		return f(ctx, g), nil
	}
}

// playFailure is a failed assertion of a play, on its way to the play's
// error.
type playFailure struct {
	message string
	at      types.CodeLocation
}
