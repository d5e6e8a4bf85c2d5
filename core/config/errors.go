package config

import (
	"cmp"
	"errors"
	"fmt"
	"slices"
	"strings"
)

// Sentinel errors. Every configuration problem is reported through *Error;
// errors.Is(err, ErrInvalid) tells a bad file from one that could not be read.
var (
	// ErrInvalid matches every *Error: the file was read but its content is wrong.
	ErrInvalid = errors.New("invalid configuration")
)

// Problem is one thing wrong with a configuration file, located as precisely
// as the parser can: the line of the offending key, or of the section header
// when a required key is missing. Line is 0 when the problem concerns the
// whole file (a required section is missing).
type Problem struct {
	File    string
	Line    int
	Section string // section name without brackets, "" when not in a section
	Key     string // lower-cased key, "" when the problem is the section itself
	Msg     string
}

// String renders the problem as FILE:LINE: [section] key: msg, the form
// editors and terminals turn into a link.
func (p Problem) String() string {
	var b strings.Builder
	b.WriteString(p.File)
	if p.Line > 0 {
		fmt.Fprintf(&b, ":%d", p.Line)
	}
	b.WriteString(": ")
	switch {
	case p.Section != "" && p.Key != "":
		fmt.Fprintf(&b, "[%s] %s: ", p.Section, p.Key)
	case p.Section != "":
		fmt.Fprintf(&b, "[%s]: ", p.Section)
	case p.Key != "":
		fmt.Fprintf(&b, "%s: ", p.Key)
	}
	b.WriteString(p.Msg)
	return b.String()
}

// Error carries every problem found in a configuration file, so that an
// operator fixes them all in one round instead of one per restart.
type Error struct {
	Problems []Problem
}

// Error lists the problems one per line, ordered by line.
func (e *Error) Error() string {
	lines := make([]string, len(e.Problems))
	for i, p := range e.Problems {
		lines[i] = p.String()
	}
	return strings.Join(lines, "\n")
}

// Is reports whether target is ErrInvalid.
func (e *Error) Is(target error) bool { return target == ErrInvalid }

// problems collects Problems while a file is checked.
type problems struct {
	file string
	list []Problem
}

func (ps *problems) add(line int, section, key, format string, args ...any) {
	ps.list = append(ps.list, Problem{File: ps.file, Line: line, Section: section, Key: key, Msg: fmt.Sprintf(format, args...)})
}

// err returns nil when nothing was found, else an *Error sorted by line with
// whole-file problems (line 0) last.
func (ps *problems) err() error {
	if len(ps.list) == 0 {
		return nil
	}
	list := slices.Clone(ps.list)
	slices.SortStableFunc(list, func(a, b Problem) int {
		if (a.Line == 0) != (b.Line == 0) {
			if a.Line == 0 {
				return 1
			}
			return -1
		}
		return cmp.Compare(a.Line, b.Line)
	})
	return &Error{Problems: list}
}
