package openstack

import (
	"testing"

	"github.com/cinder-multiattach/cinder.multiattach/internal/module/moduledoc"
)

// The documented return values are the ones the module returns, no more and
// no less. (Options: internal/module's TestDocsMatchSpecs, for every module.)
func TestDocReturnsMatchValues(t *testing.T) {
	doc, err := moduledoc.Read("multiattach_volume")
	if err != nil {
		t.Fatal(err)
	}
	returned := Outcome{Volume: &Volume{ID: "x"}}.Values()
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
}
