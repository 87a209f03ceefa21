// Command openstack is the binary of the cinder.multiattach.multiattach_volume
// module and, installed under the name fence_nova, the fence agent dlm_controld
// calls (package fence). Both are gophercloud clients: one binary keeps the
// collection small.
package main

import (
	"os"
	"path/filepath"

	"github.com/cinder-multiattach/cinder.multiattach/internal/fence"
	"github.com/cinder-multiattach/cinder.multiattach/internal/module"
	"github.com/cinder-multiattach/cinder.multiattach/internal/openstack"
)

func main() {
	if filepath.Base(os.Args[0]) == fence.AgentName {
		fence.Main()
	}
	module.Main("multiattach_volume", openstack.Spec, openstack.Run)
}
