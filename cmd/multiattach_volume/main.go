// Command multiattach_volume is the cinder.multiattach.multiattach_volume
// Ansible module.
package main

import (
	"github.com/cinder-multiattach/cinder.multiattach/internal/module"
	"github.com/cinder-multiattach/cinder.multiattach/internal/openstack"
)

func main() { module.Main("multiattach_volume", openstack.Spec, openstack.Run) }
