package config

import (
	"errors"
	"fmt"
	"io"
	"os"
	"strings"

	"go.yaml.in/yaml/v3"
)

// fileValue is one key of the YAML file, as text, with where it came from.
type fileValue struct {
	value  string
	source string // e.g. "authd.yaml line 3"
}

// maxFileSize bounds the config file; a settings file is a few hundred bytes.
const maxFileSize = 1 << 20

// readFile reads the strict YAML settings file: one mapping whose keys are
// flag names. An unknown or repeated key, a nested mapping or a list for a
// non-list setting is an error naming the key and its line.
func readFile(path string) (map[string]fileValue, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	b, err := io.ReadAll(io.LimitReader(f, maxFileSize+1))
	if err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	if len(b) > maxFileSize {
		return nil, fmt.Errorf("%s is larger than %d bytes", path, maxFileSize)
	}
	var doc yaml.Node
	if err := yaml.Unmarshal(b, &doc); err != nil {
		return nil, fmt.Errorf("%s: %s", path, oneLine(err.Error()))
	}
	out := map[string]fileValue{}
	if len(doc.Content) == 0 { // empty file or only comments
		return out, nil
	}
	root := doc.Content[0]
	if root.Kind != yaml.MappingNode {
		return nil, fmt.Errorf("%s: line %d: want a mapping of setting names to values", path, root.Line)
	}
	known := map[string]setting{}
	for _, s := range allSettings() {
		known[s.name] = s
	}
	for i := 0; i+1 < len(root.Content); i += 2 {
		k, v := root.Content[i], root.Content[i+1]
		s, ok := known[k.Value]
		if !ok {
			return nil, fmt.Errorf("%s: line %d: unknown key %q", path, k.Line, k.Value)
		}
		if _, dup := out[k.Value]; dup {
			return nil, fmt.Errorf("%s: line %d: key %q appears twice", path, k.Line, k.Value)
		}
		val, err := nodeText(v, s.kind() == "strings" || s.kind() == "cidrs")
		if err != nil {
			return nil, fmt.Errorf("%s: line %d: key %q: %w", path, v.Line, k.Value, err)
		}
		out[k.Value] = fileValue{value: val, source: fmt.Sprintf("%s line %d", path, v.Line)}
	}
	return out, nil
}

// nodeText is a scalar's text, or for a list setting a sequence of scalars
// joined by commas.
func nodeText(n *yaml.Node, list bool) (string, error) {
	switch {
	case n.Kind == yaml.ScalarNode:
		if n.Tag == "!!null" {
			return "", nil
		}
		return n.Value, nil
	case n.Kind == yaml.SequenceNode && list:
		parts := make([]string, 0, len(n.Content))
		for _, c := range n.Content {
			if c.Kind != yaml.ScalarNode {
				return "", errors.New("want a list of strings")
			}
			parts = append(parts, c.Value)
		}
		return strings.Join(parts, ","), nil
	case list:
		return "", errors.New("want a string or a list of strings")
	default:
		return "", errors.New("want a single value")
	}
}

// oneLine folds a multi-line message (yaml type errors) into one line.
func oneLine(s string) string {
	return strings.Join(strings.Fields(s), " ")
}
