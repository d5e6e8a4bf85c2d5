package config

import (
	"bufio"
	"fmt"
	"io"
	"strings"
)

// The engine's configuration is a small INI dialect, read by the parser in
// this file rather than a general INI library so that every section, key and
// value keeps the line it came from: an operator fixing a config should be
// told exactly where to look, the way nats-server reports file:line errors.
//
// Syntax:
//
//	; a comment            # also a comment
//	[section]              ; a section header, optionally commented
//	key = value            ; inline comments need whitespace before ; or #
//	key = "quoted ; value" ; quotes keep comment characters and spaces
//
// Keys are case-insensitive and stored lower-cased; section names keep their
// case. A value's ';' or '#' not preceded by whitespace (as in a URL fragment)
// is part of the value.

// iniEntry is one key = value line.
type iniEntry struct {
	key   string // lower-cased
	value string // unquoted, comment stripped
	line  int
}

// iniSection is one [name] block and the entries under it, in file order.
type iniSection struct {
	name    string
	line    int
	entries []iniEntry
}

// iniFile is the syntax tree of one file; syntax problems are collected in
// problems rather than stopping the parse, so one run reports them all.
type iniFile struct {
	sections []*iniSection
	problems []Problem
}

// parseINI reads r line by line. It never fails on content: malformed lines
// become problems and are skipped. Only a read error is returned.
func parseINI(file string, r io.Reader) (*iniFile, error) {
	f := &iniFile{}
	sc := bufio.NewScanner(r)
	sc.Buffer(make([]byte, 0, 64*1024), 1024*1024)
	var cur *iniSection
	for n := 1; sc.Scan(); n++ {
		raw := sc.Text()
		if n == 1 {
			raw = strings.TrimPrefix(raw, "\ufeff") // a BOM from Windows editors
		}
		line := strings.TrimSpace(raw)
		if line == "" || line[0] == ';' || line[0] == '#' {
			continue
		}
		if line[0] == '[' {
			end := strings.IndexByte(line, ']')
			if end < 0 {
				f.problem(file, n, "", "", "section header %q has no closing ]", line)
				cur = nil
				continue
			}
			if rest := strings.TrimSpace(line[end+1:]); rest != "" && rest[0] != ';' && rest[0] != '#' {
				f.problem(file, n, "", "", "unexpected text %q after section header", rest)
			}
			name := strings.TrimSpace(line[1:end])
			if name == "" {
				f.problem(file, n, "", "", "empty section name")
				cur = nil
				continue
			}
			cur = &iniSection{name: name, line: n}
			f.sections = append(f.sections, cur)
			continue
		}
		eq := strings.IndexByte(line, '=')
		if eq < 0 {
			f.problem(file, n, sectionName(cur), "", "expected key = value, got %q", line)
			continue
		}
		key := strings.ToLower(strings.TrimSpace(line[:eq]))
		if key == "" {
			f.problem(file, n, sectionName(cur), "", "missing key before =")
			continue
		}
		value, err := iniValue(line[eq+1:])
		if err != nil {
			f.problem(file, n, sectionName(cur), key, "%v", err)
			continue
		}
		if cur == nil {
			f.problem(file, n, "", key, "key outside of any section")
			continue
		}
		cur.entries = append(cur.entries, iniEntry{key: key, value: value, line: n})
	}
	if err := sc.Err(); err != nil {
		return nil, fmt.Errorf("read %s: %w", file, err)
	}
	return f, nil
}

func (f *iniFile) problem(file string, line int, section, key, format string, args ...any) {
	f.problems = append(f.problems, Problem{File: file, Line: line, Section: section, Key: key, Msg: fmt.Sprintf(format, args...)})
}

func sectionName(s *iniSection) string {
	if s == nil {
		return ""
	}
	return s.name
}

// iniValue returns the value part of a key line: trimmed, unquoted and with
// any inline comment removed.
func iniValue(s string) (string, error) {
	s = strings.TrimSpace(s)
	if s == "" {
		return "", nil
	}
	if q := s[0]; q == '"' || q == '\'' {
		val, rest, err := unquote(s)
		if err != nil {
			return "", err
		}
		rest = strings.TrimSpace(rest)
		if rest != "" && rest[0] != ';' && rest[0] != '#' {
			return "", fmt.Errorf("unexpected text %q after quoted value", rest)
		}
		return val, nil
	}
	for i := 1; i < len(s); i++ {
		if (s[i] == ';' || s[i] == '#') && (s[i-1] == ' ' || s[i-1] == '\t') {
			return strings.TrimSpace(s[:i]), nil
		}
	}
	if s[0] == ';' || s[0] == '#' { // "key = ; comment" is an empty value
		return "", nil
	}
	return s, nil
}

// unquote reads a quoted string at the start of s and returns it and what
// follows the closing quote. Double quotes understand \" and \\; single
// quotes are literal.
func unquote(s string) (val, rest string, err error) {
	q := s[0]
	var b strings.Builder
	for i := 1; i < len(s); i++ {
		c := s[i]
		switch {
		case c == q:
			return b.String(), s[i+1:], nil
		case q == '"' && c == '\\' && i+1 < len(s) && (s[i+1] == '"' || s[i+1] == '\\'):
			b.WriteByte(s[i+1])
			i++
		default:
			b.WriteByte(c)
		}
	}
	return "", "", fmt.Errorf("unterminated quoted value %s", s)
}

// value is the first value of key in the section ("" when unset): the
// keys that decide which other keys a section takes (type, dialect) are
// read before the rest.
func (s *iniSection) value(key string) string {
	for _, e := range s.entries {
		if e.key == key {
			return e.value
		}
	}
	return ""
}
