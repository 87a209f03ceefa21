// Package moduledoc reads a module's documentation, the one place it is
// written (plugins/modules/<name>.py: DOCUMENTATION, EXAMPLES and RETURN as
// YAML in Python raw strings), and compares it with the module's Go spec, so
// that no doc can drift from the code. Tests only: the modules never link it.
package moduledoc

import (
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"runtime"
	"sort"
	"strings"

	"gopkg.in/yaml.v3"

	"github.com/cinder-multiattach/cinder.multiattach/internal/module"
)

// Doc is what a module's doc file says.
type Doc struct {
	Module   string
	Options  map[string]Option
	Examples string
	Return   map[string]any
}

// Option is one documented option.
type Option struct {
	Type       string            `yaml:"type"`
	Required   bool              `yaml:"required"`
	Default    any               `yaml:"default"`
	Choices    []any             `yaml:"choices"`
	Aliases    []string          `yaml:"aliases"`
	Elements   string            `yaml:"elements"`
	Suboptions map[string]Option `yaml:"suboptions"`
}

var section = regexp.MustCompile(`(?ms)^(DOCUMENTATION|EXAMPLES|RETURN) = r"""\n(.*?)^"""`)

// Path is the doc file of module name in this checkout.
func Path(name string) string {
	_, here, _, _ := runtime.Caller(0)
	return filepath.Join(filepath.Dir(here), "..", "..", "..", "plugins", "modules", name+".py")
}

// Read parses the doc file of module name.
func Read(name string) (*Doc, error) {
	data, err := os.ReadFile(Path(name))
	if err != nil {
		return nil, err
	}
	found := map[string]string{}
	for _, m := range section.FindAllStringSubmatch(string(data), -1) {
		found[m[1]] = m[2]
	}
	for _, k := range []string{"DOCUMENTATION", "EXAMPLES", "RETURN"} {
		if _, ok := found[k]; !ok {
			return nil, fmt.Errorf("%s: no %s = r\"\"\"...\"\"\"", Path(name), k)
		}
	}
	var doc struct {
		Module  string            `yaml:"module"`
		Options map[string]Option `yaml:"options"`
	}
	if err := unmarshal11(found["DOCUMENTATION"], &doc); err != nil {
		return nil, fmt.Errorf("%s DOCUMENTATION: %w", Path(name), err)
	}
	out := &Doc{Module: doc.Module, Options: doc.Options, Examples: found["EXAMPLES"]}
	if err := unmarshal11(found["RETURN"], &out.Return); err != nil {
		return nil, fmt.Errorf("%s RETURN: %w", Path(name), err)
	}
	return out, nil
}

// yaml11Bool is what YAML 1.1, which Ansible reads docs with, takes for a
// boolean where YAML 1.2 (yaml.v3) sees a string: a plain `off` in a list
// of choices is false to ansible-doc.
var yaml11Bool = regexp.MustCompile(`^(y|Y|yes|Yes|YES|n|N|no|No|NO|on|On|ON|off|Off|OFF)$`)

// unmarshal11 decodes text as Ansible reads it: plain YAML 1.1 booleans
// become booleans.
func unmarshal11(text string, out any) error {
	var root yaml.Node
	if err := yaml.Unmarshal([]byte(text), &root); err != nil {
		return err
	}
	var walk func(n *yaml.Node)
	walk = func(n *yaml.Node) {
		if n.Kind == yaml.ScalarNode && n.Style == 0 && n.Tag == "!!str" && yaml11Bool.MatchString(n.Value) {
			v := strings.ToLower(n.Value)
			n.Tag, n.Value = "!!bool", fmt.Sprint(v == "y" || v == "yes" || v == "on")
		}
		for _, c := range n.Content {
			walk(c)
		}
	}
	walk(&root)
	return root.Decode(out)
}

// Mismatches lists every difference between the documented options and the
// spec: an option on one side only, or a different type, required, default,
// choices, aliases or elements, suboptions included. (no_log is not part of
// Ansible's documentation schema.)
func Mismatches(doc map[string]Option, spec module.Spec) []string {
	return mismatches("", doc, spec)
}

func mismatches(prefix string, doc map[string]Option, spec module.Spec) []string {
	var out []string
	for _, name := range sortedKeys(spec) {
		opt := spec[name]
		where := prefix + name
		d, ok := doc[name]
		if !ok {
			out = append(out, fmt.Sprintf("option %s is not documented", where))
			continue
		}
		want := string(opt.Type)
		if want == "" {
			want = "str"
		}
		docType := d.Type
		if docType == "" {
			docType = "str"
		}
		check := func(what string, got, want any) {
			if fmt.Sprint(got) != fmt.Sprint(want) {
				out = append(out, fmt.Sprintf("option %s: documented %s %v, spec %v", where, what, got, want))
			}
		}
		check("type", docType, want)
		check("required", d.Required, opt.Required)
		check("default", d.Default, opt.Default)
		check("choices", sortedText(d.Choices), sortedText(opt.Choices))
		check("aliases", sortedText(d.Aliases), sortedText(opt.Aliases))
		check("elements", d.Elements, string(opt.Elements))
		if len(opt.Options) > 0 || len(d.Suboptions) > 0 {
			out = append(out, mismatches(where+".", d.Suboptions, opt.Options)...)
		}
	}
	for _, name := range sortedKeys(doc) {
		if _, ok := spec[name]; !ok {
			out = append(out, fmt.Sprintf("documented option %s%s is not in the spec", prefix, name))
		}
	}
	return out
}

func sortedKeys[V any](m map[string]V) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	return keys
}

func sortedText[T any](list []T) string {
	out := make([]string, len(list))
	for i, x := range list {
		out[i] = fmt.Sprint(x)
	}
	sort.Strings(out)
	return strings.Join(out, ",")
}
