// Package scenarios holds the built-in call flows every release carries, as
// YAML files read by pbxsim/scenario.
package scenarios

import (
	"embed"
	"fmt"
	"io/fs"
	"sort"
	"strings"

	"github.com/callhook/callhook/pbxsim/scenario"
)

//go:embed *.yaml
var files embed.FS

// Names lists the built-in scenarios, sorted.
func Names() []string {
	entries, _ := fs.ReadDir(files, ".")
	var names []string
	for _, e := range entries {
		if n, ok := strings.CutSuffix(e.Name(), ".yaml"); ok {
			names = append(names, n)
		}
	}
	sort.Strings(names)
	return names
}

// Load parses the built-in scenario called name.
func Load(name string) (*scenario.Scenario, error) {
	f, err := files.Open(name + ".yaml")
	if err != nil {
		return nil, fmt.Errorf("no built-in scenario %q (have: %s)", name, strings.Join(Names(), ", "))
	}
	defer f.Close()
	return scenario.Parse(name+".yaml", f)
}
