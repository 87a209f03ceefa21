// Command clusterfs is the binary of the cinder.multiattach.gfs2_fs,
// cinder.multiattach.ocfs2_fs and cinder.multiattach.cluster_state modules:
// they share nearly all their code, so one binary (and one copy in a node's
// module cache) serves the three.
package main

import (
	"github.com/cinder-multiattach/cinder.multiattach/internal/clusterfs"
	"github.com/cinder-multiattach/cinder.multiattach/internal/clusterstate"
	"github.com/cinder-multiattach/cinder.multiattach/internal/module"
)

func main() {
	module.Serve(
		module.Module{Name: "gfs2_fs", Spec: clusterfs.GFS2Spec, Handler: clusterfs.RunGFS2},
		module.Module{Name: "ocfs2_fs", Spec: clusterfs.OCFS2Spec, Handler: clusterfs.RunOCFS2},
		module.Module{Name: "cluster_state", Spec: clusterstate.Spec, Handler: clusterstate.Run},
	)
}
