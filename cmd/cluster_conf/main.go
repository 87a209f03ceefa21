// Command cluster_conf is the cinder.multiattach.cluster_conf Ansible module.
package main

import (
	"github.com/cinder-multiattach/cinder.multiattach/internal/clusterconf"
	"github.com/cinder-multiattach/cinder.multiattach/internal/module"
)

func main() { module.Main("cluster_conf", clusterconf.Spec, clusterconf.Run) }
