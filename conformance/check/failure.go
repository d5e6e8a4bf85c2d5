package check

import (
	"errors"

	"github.com/callhook/callhook/fixtures"
)

// Failure is one vendor rule a request breaks: the field at fault and
// where the rule is written down (the fixture's line and the document's
// words), so a tool such as `callhook inspect` can highlight the field
// and quote the rule. Its message is the check's own.
type Failure struct {
	// Field is the request's field at fault (a query parameter, a body
	// key, or a header such as Content-Type); "" when the request as a
	// whole breaks the rule (its method, where its fields are).
	Field string
	Rule  fixtures.Rule
	Err   error
}

func (f *Failure) Error() string { return f.Err.Error() }

// Unwrap gives what is wrong.
func (f *Failure) Unwrap() error { return f.Err }

// fail builds a Failure at field of the rule ix finds at path, quoting q.
func fail(ix *fixtures.Index, field string, q fixtures.Quote, err error, path ...string) error {
	f := &Failure{Field: field, Err: err}
	if ix != nil {
		f.Rule = ix.Rule(q, path...)
	}
	return f
}

// RuleFailures flattens err, as the checks return it (errors.Join of
// errors.Join), into one Failure per broken rule, in order; an error that
// is no Failure (a body that does not decode) becomes one with no field
// and no rule.
func RuleFailures(err error) []*Failure {
	if err == nil {
		return nil
	}
	var f *Failure
	if errors.As(err, &f) && f == err {
		return []*Failure{f}
	}
	if j, ok := err.(interface{ Unwrap() []error }); ok {
		var out []*Failure
		for _, e := range j.Unwrap() {
			out = append(out, RuleFailures(e)...)
		}
		return out
	}
	if errors.As(err, &f) {
		// A Failure wrapped with more context: keep the context's message.
		return []*Failure{{Field: f.Field, Rule: f.Rule, Err: err}}
	}
	return []*Failure{{Err: err}}
}
