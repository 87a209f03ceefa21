package module_test

import (
	"testing"

	"gopkg.in/yaml.v3"

	"github.com/cinder-multiattach/cinder.multiattach/internal/clusterconf"
	"github.com/cinder-multiattach/cinder.multiattach/internal/clusterfs"
	"github.com/cinder-multiattach/cinder.multiattach/internal/clusterstate"
	"github.com/cinder-multiattach/cinder.multiattach/internal/module"
	"github.com/cinder-multiattach/cinder.multiattach/internal/module/moduledoc"
	"github.com/cinder-multiattach/cinder.multiattach/internal/openstack"
)

// Every module's doc file describes exactly the options its spec accepts,
// and its examples are a YAML task list.
func TestDocsMatchSpecs(t *testing.T) {
	for name, spec := range map[string]module.Spec{
		"cluster_conf":       clusterconf.Spec,
		"gfs2_fs":            clusterfs.GFS2Spec,
		"ocfs2_fs":           clusterfs.OCFS2Spec,
		"multiattach_volume": openstack.Spec,
		"cluster_state":      clusterstate.Spec,
	} {
		t.Run(name, func(t *testing.T) {
			doc, err := moduledoc.Read(name)
			if err != nil {
				t.Fatal(err)
			}
			if doc.Module != name {
				t.Errorf("DOCUMENTATION module: %q", doc.Module)
			}
			for _, m := range moduledoc.Mismatches(doc.Options, spec) {
				t.Error(m)
			}
			var examples []map[string]any
			if err := yaml.Unmarshal([]byte(doc.Examples), &examples); err != nil || len(examples) == 0 {
				t.Errorf("EXAMPLES is not a YAML task list: %v", err)
			}
		})
	}
}

// The comparison itself finds what drifts.
func TestMismatchesFindDrift(t *testing.T) {
	spec := module.Spec{
		"name":  {Required: true},
		"count": {Type: module.Int, Default: 2},
		"mode":  {Choices: []any{"a", "b"}},
		"nodes": {Type: module.List, Elements: module.Dict, Options: module.Spec{"addr": {Required: true}}},
		"key":   {NoLog: true},
	}
	doc := map[string]moduledoc.Option{
		"name":  {Type: "str", Required: true},
		"count": {Type: "int", Default: 3},
		"mode":  {Choices: []any{"a"}},
		"nodes": {Type: "list", Elements: "dict", Suboptions: map[string]moduledoc.Option{"addr": {}, "port": {Type: "int"}}},
		"extra": {},
	}
	got := moduledoc.Mismatches(doc, spec)
	want := []string{
		"option count: documented default 3, spec 2",
		"option key is not documented",
		"option mode: documented choices a, spec a,b",
		"option nodes.addr: documented required false, spec true",
		"documented option nodes.port is not in the spec",
		"documented option extra is not in the spec",
	}
	if len(got) != len(want) {
		t.Fatalf("got %d mismatches %q, want %q", len(got), got, want)
	}
	for i := range want {
		if got[i] != want[i] {
			t.Errorf("mismatch %d: %q, want %q", i, got[i], want[i])
		}
	}
}
