// Command gfs2_fs is the cinder.multiattach.gfs2_fs Ansible module.
package main

import (
	"github.com/cinder-multiattach/cinder.multiattach/internal/clusterfs"
	"github.com/cinder-multiattach/cinder.multiattach/internal/module"
)

func main() { module.Main("gfs2_fs", clusterfs.GFS2Spec, clusterfs.RunGFS2) }
