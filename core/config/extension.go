package config

import "fmt"

// Extension is one [extension.NUM] section: who uses an extension, for
// dialects that name the user of a call (VOIPEX Login and Email).
type Extension struct {
	Number string // NUM of [extension.NUM]
	Login  string // key login
	Email  string // key email
	Name   string // key name
	Line   int    // line of the section header
}

const extensionPrefix = "extension."

var extensionFields = map[string]field[Extension]{
	"login": {set: func(e *Extension, _, v string) error { e.Login = v; return nil }},
	"email": {set: func(e *Extension, _, v string) error {
		if !validEmail(v) {
			return fmt.Errorf("invalid e-mail address %q", v)
		}
		e.Email = v
		return nil
	}},
	"name": {set: func(e *Extension, _, v string) error { e.Name = v; return nil }},
}

func checkExtension(cfg *Config, sec *iniSection, ps *problems) {
	num := sec.name[len(extensionPrefix):]
	if num == "" {
		ps.add(sec.line, sec.name, "", "missing extension number (want [extension.NUM])")
		return
	}
	if first, dup := cfg.Extensions[num]; dup {
		ps.add(sec.line, sec.name, "", "duplicate section (first defined on line %d)", first.Line)
		return
	}
	e := Extension{Number: num, Line: sec.line}
	applyFields(sec, extensionFields, &e, ps)
	if cfg.Extensions == nil {
		cfg.Extensions = map[string]Extension{}
	}
	cfg.Extensions[num] = e
}

// validEmail accepts local@domain with a dot in the domain: enough to
// catch a value put under the wrong key.
func validEmail(v string) bool {
	at := -1
	for i, c := range v {
		if c == '@' {
			if at >= 0 {
				return false
			}
			at = i
		}
		if c == ' ' {
			return false
		}
	}
	if at <= 0 || at == len(v)-1 {
		return false
	}
	for _, c := range v[at+1:] {
		if c == '.' {
			return true
		}
	}
	return false
}
