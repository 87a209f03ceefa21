package openstack

import (
	"fmt"
	"os"
	"sort"
	"strings"
	"testing"

	"gopkg.in/yaml.v3"
)

// The sidecar documentation must describe the options the module accepts
// and the values it returns, no more and no less.
func TestSidecarDocsMatchSpec(t *testing.T) {
	data, err := os.ReadFile("../../plugins/modules/multiattach_volume.yml")
	if err != nil {
		t.Fatal(err)
	}
	var doc struct {
		Documentation struct {
			Module  string `yaml:"module"`
			Options map[string]struct {
				Type     string   `yaml:"type"`
				Required bool     `yaml:"required"`
				Default  any      `yaml:"default"`
				Choices  []any    `yaml:"choices"`
				Aliases  []string `yaml:"aliases"`
				Elements string   `yaml:"elements"`
			} `yaml:"options"`
		} `yaml:"DOCUMENTATION"`
		Examples string         `yaml:"EXAMPLES"`
		Return   map[string]any `yaml:"RETURN"`
	}
	if err := yaml.Unmarshal(data, &doc); err != nil {
		t.Fatal(err)
	}
	if doc.Documentation.Module != "multiattach_volume" {
		t.Errorf("module: %q", doc.Documentation.Module)
	}
	for name, opt := range Spec {
		d, ok := doc.Documentation.Options[name]
		if !ok {
			t.Errorf("option %s is not documented", name)
			continue
		}
		want := string(opt.Type)
		if want == "" {
			want = "str"
		}
		if d.Type != want {
			t.Errorf("option %s: documented type %q, spec %q", name, d.Type, want)
		}
		if d.Required != opt.Required {
			t.Errorf("option %s: documented required %v, spec %v", name, d.Required, opt.Required)
		}
		if fmt.Sprint(d.Default) != fmt.Sprint(opt.Default) && !(d.Default == nil && opt.Default == nil) {
			t.Errorf("option %s: documented default %v, spec %v", name, d.Default, opt.Default)
		}
		if sortedStrings(d.Choices) != sortedStrings(opt.Choices) {
			t.Errorf("option %s: documented choices %v, spec %v", name, d.Choices, opt.Choices)
		}
		if strings.Join(sorted(d.Aliases), ",") != strings.Join(sorted(opt.Aliases), ",") {
			t.Errorf("option %s: documented aliases %v, spec %v", name, d.Aliases, opt.Aliases)
		}
		if d.Elements != string(opt.Elements) {
			t.Errorf("option %s: documented elements %q, spec %q", name, d.Elements, opt.Elements)
		}
	}
	for name := range doc.Documentation.Options {
		if _, ok := Spec[name]; !ok {
			t.Errorf("documented option %s is not in the spec", name)
		}
	}
	returned := values(&Volume{ID: "x"}, nil, nil, nil, nil)
	for k := range returned {
		if _, ok := doc.Return[k]; !ok {
			t.Errorf("return value %s is not documented", k)
		}
	}
	for k := range doc.Return {
		if _, ok := returned[k]; !ok {
			t.Errorf("documented return value %s is not returned", k)
		}
	}
	var examples []map[string]any
	if err := yaml.Unmarshal([]byte(doc.Examples), &examples); err != nil || len(examples) == 0 {
		t.Errorf("EXAMPLES is not a YAML task list: %v", err)
	}
}

func sortedStrings(list []any) string {
	out := make([]string, len(list))
	for i, x := range list {
		out[i] = fmt.Sprint(x)
	}
	return strings.Join(sorted(out), ",")
}

func sorted(list []string) []string {
	out := append([]string(nil), list...)
	sort.Strings(out)
	return out
}
