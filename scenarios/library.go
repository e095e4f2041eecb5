package scenarios

import (
	"embed"
	"fmt"
	"io/fs"
	"os"
	"path"
	"sort"
	"strings"
)

//go:embed library/*.yaml
var library embed.FS

// LibraryNames lists the shipped scenarios, sorted.
func LibraryNames() []string {
	entries, _ := fs.ReadDir(library, "library")
	var names []string
	for _, e := range entries {
		if strings.HasSuffix(e.Name(), ".yaml") {
			names = append(names, strings.TrimSuffix(e.Name(), ".yaml"))
		}
	}
	sort.Strings(names)
	return names
}

// LibrarySource returns a shipped scenario's YAML.
func LibrarySource(name string) ([]byte, error) {
	b, err := library.ReadFile(path.Join("library", name+".yaml"))
	if err != nil {
		return nil, fmt.Errorf("%w %q: want one of %s", ErrUnknownScenario, name, strings.Join(LibraryNames(), ", "))
	}
	return b, nil
}

// Library parses a shipped scenario.
func Library(name string) (*Spec, error) {
	b, err := LibrarySource(name)
	if err != nil {
		return nil, err
	}
	return Parse("library/"+name+".yaml", b)
}

// Load parses a shipped scenario by name, or a scenario file by path
// (anything with a slash or a .yaml/.yml extension).
func Load(nameOrFile string) (*Spec, error) {
	if !strings.ContainsRune(nameOrFile, '/') && !strings.HasSuffix(nameOrFile, ".yaml") && !strings.HasSuffix(nameOrFile, ".yml") {
		return Library(nameOrFile)
	}
	b, err := os.ReadFile(nameOrFile)
	if err != nil {
		return nil, &ParseError{File: nameOrFile, Reason: fmt.Sprintf("read: %v", err)}
	}
	return Parse(nameOrFile, b)
}
