// Command ocfs2_fs is the cinder.multiattach.ocfs2_fs Ansible module.
package main

import (
	"github.com/cinder-multiattach/cinder.multiattach/internal/clusterfs"
	"github.com/cinder-multiattach/cinder.multiattach/internal/module"
)

func main() { module.Main("ocfs2_fs", clusterfs.OCFS2Spec, clusterfs.RunOCFS2) }
