package ami

import (
	"bytes"
	"errors"
	"fmt"
	"regexp"
	"strings"
)

// Filters are a manager session's event filters, as Asterisk 22's
// main/manager.c keeps them (manager_add_filter, should_send_event): a
// session without filters gets every event; with include filters only, an
// event must match one of them; with exclude filters only, it must match
// none; with both, it must match an include filter and no exclude filter.
// They apply to the events broadcast to the session, not to the responses
// and event lists answering its actions, which manager.c writes to the
// session directly. The zero value has no filters. Not safe for
// concurrent use.
type Filters struct {
	include, exclude filterSet
}

// filterSet is one of the two lists, indexed by event name: a filter with
// name() can only match events of that name.
type filterSet struct {
	byName map[string][]*filterEntry
	any    []*filterEntry // filters without name()
	n      int
}

// Match methods of an advanced filter (method()).
type matchMethod int

const (
	matchRegex matchMethod = iota
	matchExact
	matchStartsWith
	matchEndsWith
	matchContains
	matchNone
)

var matchMethods = map[string]matchMethod{
	"regex": matchRegex, "exact": matchExact, "starts_with": matchStartsWith,
	"ends_with": matchEndsWith, "contains": matchContains, "none": matchNone,
}

// filterEntry is manager.c's struct event_filter_entry.
type filterEntry struct {
	method  matchMethod
	re      *regexp.Regexp
	text    string
	name    string // event name, "" for any
	header  []byte // "Name:", nil for the whole event
	exclude bool
}

// Why Filters.Add refuses a filter; the Filter action answers each with
// Asterisk's own text (FilterAction).
var (
	errFilterFormat  = errors.New("filter formatted incorrectly")
	errFilterCompile = errors.New("filter did not compile")
)

// Asterisk's answers to a Filter action it refuses (action_filter).
const (
	msgFilterFormat  = "Filter was formatted incorrectly.  Check the syntax of the filter given."
	msgFilterCompile = "Filter did not compile.  Check the syntax of the filter given."
	msgFilterUnknown = "Unknown operation"
)

// FilterAction runs a Filter action's Operation, MatchCriteria and Filter
// headers against f as action_filter does, and returns whether Asterisk
// answers Success and the Message it answers with.
func FilterAction(f *Filters, operation, matchCriteria, filter string) (ok bool, message string) {
	if !strings.EqualFold(operation, "Add") {
		return false, msgFilterUnknown
	}
	criteria := "eventfilter"
	if matchCriteria != "" {
		criteria += "(" + matchCriteria + ")"
	}
	switch err := f.Add(criteria, filter); {
	case err == nil:
		return true, "Success"
	case errors.Is(err, errFilterCompile):
		return false, msgFilterCompile
	default:
		return false, msgFilterFormat
	}
}

// Add adds one filter written as manager.conf's eventfilter option:
// criteria is the option's name, "eventfilter" for a legacy filter (pattern
// a regular expression over the whole event, "!" before it to exclude) or
// "eventfilter(<options>)" for an advanced one, whose options are any of
// action(include|exclude), name(<Event>), header(<Header>) and
// method(regex|exact|starts_with|ends_with|contains|none), and pattern
// what method matches the header's value (or the whole event) with.
//
// As in manager.c: name() is compared case-sensitively with the event's
// name, header() with the start of each line (case-sensitively too); an
// advanced filter with a pattern needs a method other than none, one
// without needs none (the default) and a name or header; "!" before the
// pattern excludes unless action() says otherwise. Regular expressions are
// POSIX extended ones as regcomp reads them without REG_NEWLINE ("." and
// negated classes match line ends, "^" and "$" only the ends of the text),
// compiled with Go's regexp, which reads them alike save for a few
// extensions on either side (back references, Perl classes).
func (f *Filters) Add(criteria, pattern string) error {
	e, err := parseFilter(criteria, pattern)
	if err != nil {
		return fmt.Errorf("add filter %q = %q: %w", criteria, pattern, err)
	}
	if e.exclude {
		f.exclude.add(e)
	} else {
		f.include.add(e)
	}
	return nil
}

func parseFilter(criteria, pattern string) (*filterEntry, error) {
	if criteria == "" {
		return nil, fmt.Errorf("%w: missing criteria", errFilterFormat)
	}
	e := &filterEntry{method: matchRegex}
	if strings.HasPrefix(pattern, "!") {
		e.exclude = true
		pattern = pattern[1:]
	}
	open := strings.IndexByte(criteria, '(')
	if open < 0 && pattern == "" {
		return nil, fmt.Errorf("%w: legacy filter without a pattern", errFilterFormat)
	}
	if open >= 0 {
		if err := e.parseOptions(criteria[open+1:], pattern); err != nil {
			return nil, err
		}
	}
	if pattern != "" {
		if e.method == matchRegex {
			re, err := regexp.Compile("(?s)" + pattern)
			if err != nil {
				return nil, fmt.Errorf("%w: %w", errFilterCompile, err)
			}
			e.re = re
		} else {
			e.text = pattern
		}
	}
	return e, nil
}

// parseOptions reads an advanced filter's options as manager_add_filter
// does: tokens split at spaces, commas and closing parentheses, each
// recognised by its first letters.
func (e *filterEntry) parseOptions(opts, pattern string) error {
	opts = strings.TrimSpace(opts)
	if opts == "" || !strings.HasSuffix(opts, ")") {
		return fmt.Errorf("%w: options not formatted correctly", errFilterFormat)
	}
	e.method = matchNone
	var haveAction, haveName, haveHeader, haveMethod bool
	for _, opt := range strings.FieldsFunc(opts, func(r rune) bool { return r == ' ' || r == ',' || r == ')' }) {
		_, arg, hasArg := strings.Cut(opt, "(")
		arg = strings.TrimSpace(arg)
		switch {
		case strings.HasPrefix(opt, "action"):
			switch {
			case arg == "include" && hasArg:
				e.exclude = false
			case arg == "exclude":
				e.exclude = true
			default:
				return fmt.Errorf("%w: action option %q", errFilterFormat, opt)
			}
			haveAction = true
		case strings.HasPrefix(opt, "name"):
			if arg == "" {
				return fmt.Errorf("%w: name option %q", errFilterFormat, opt)
			}
			e.name, haveName = arg, true
		case strings.HasPrefix(opt, "header"):
			if arg == "" {
				return fmt.Errorf("%w: header option %q", errFilterFormat, opt)
			}
			if !strings.HasSuffix(arg, ":") {
				arg += ":"
			}
			e.header, haveHeader = []byte(arg), true
		case strings.HasPrefix(opt, "method"):
			m, ok := matchMethods[arg]
			if !ok {
				return fmt.Errorf("%w: method option %q", errFilterFormat, opt)
			}
			e.method, haveMethod = m, true
		default:
			return fmt.Errorf("%w: unknown option %q", errFilterFormat, opt)
		}
	}
	switch {
	case !haveAction && !haveName && !haveHeader && !haveMethod:
		return fmt.Errorf("%w: no action, name, header or method option", errFilterFormat)
	case pattern == "" && e.method != matchNone:
		return fmt.Errorf("%w: a method other than none needs a pattern", errFilterFormat)
	case pattern != "" && e.method == matchNone:
		return fmt.Errorf("%w: a pattern needs a method other than none", errFilterFormat)
	case !haveName && !haveHeader && e.method == matchNone:
		return fmt.Errorf("%w: no name or header option and no pattern", errFilterFormat)
	}
	return nil
}

func (s *filterSet) add(e *filterEntry) {
	s.n++
	if e.name == "" {
		s.any = append(s.any, e)
		return
	}
	if s.byName == nil {
		s.byName = map[string][]*filterEntry{}
	}
	s.byName[e.name] = append(s.byName[e.name], e)
}

// Empty reports whether f has no filters: every event passes.
func (f *Filters) Empty() bool { return f == nil || f.include.n == 0 && f.exclude.n == 0 }

// Pass reports whether the session gets event, one event in its wire form
// ("Event: Name\r\n...\r\n\r\n"), as should_send_event decides.
func (f *Filters) Pass(event []byte) bool {
	if f.Empty() {
		return true
	}
	name := eventName(event)
	if f.include.n > 0 && !f.include.match(name, event) {
		return false
	}
	return f.exclude.n == 0 || !f.exclude.match(name, event)
}

// eventName is the value of the event's first line, "Event: Name".
func eventName(event []byte) []byte {
	line, _, _ := bytes.Cut(event, []byte("\n"))
	v, ok := bytes.CutPrefix(bytes.TrimSuffix(line, []byte("\r")), []byte("Event:"))
	if !ok {
		return nil
	}
	return bytes.TrimLeft(v, " \t")
}

func (s *filterSet) match(name, event []byte) bool {
	for _, e := range s.byName[string(name)] {
		if e.match(event) {
			return true
		}
	}
	for _, e := range s.any {
		if e.match(event) {
			return true
		}
	}
	return false
}

// match is filter_cmp_fn past the name: the whole event, or the first
// non-empty value of a line starting with the header that matches.
func (e *filterEntry) match(event []byte) bool {
	if e.header == nil {
		return e.matchValue(event)
	}
	for text := event; ; { // text starts a line
		i := headerLine(text, e.header)
		if i < 0 {
			return false
		}
		v, rest, _ := bytes.Cut(text[i+len(e.header):], []byte("\n"))
		v = bytes.TrimSuffix(v, []byte("\r"))
		// ast_skip_blanks: every byte up to a space.
		for len(v) > 0 && v[0] <= ' ' {
			v = v[1:]
		}
		if len(v) > 0 && e.matchValue(v) {
			return true
		}
		text = rest
	}
}

// headerLine is where the first line of text that starts with header
// starts, -1 if none; text starts a line.
func headerLine(text, header []byte) int {
	for off := 0; ; {
		i := bytes.Index(text[off:], header)
		if i < 0 {
			return -1
		}
		if i += off; i == 0 || text[i-1] == '\n' {
			return i
		}
		off = i + 1
	}
}

// matchValue is match_eventdata.
func (e *filterEntry) matchValue(v []byte) bool {
	switch e.method {
	case matchRegex:
		return e.re.Match(v)
	case matchExact:
		return string(v) == e.text
	case matchStartsWith:
		return bytes.HasPrefix(v, []byte(e.text))
	case matchEndsWith:
		return bytes.HasSuffix(v, []byte(e.text))
	case matchContains:
		return bytes.Contains(v, []byte(e.text))
	case matchNone:
		return true
	}
	return false
}
