package clusterfs

import (
	"context"
	"fmt"
	"strconv"

	"github.com/cinder-multiattach/cinder.multiattach/internal/blockdev"
	"github.com/cinder-multiattach/cinder.multiattach/internal/module"
	"github.com/cinder-multiattach/cinder.multiattach/internal/systemd"
)

// RunOCFS2 is the ocfs2_fs module on this host.
func RunOCFS2(ctx context.Context, req *module.Request) (*module.Result, error) {
	return Host().OCFS2(ctx, req)
}

// OCFS2 runs ocfs2_fs: Params → Want, Read → Have, PlanOCFS2(Have, Want)
// → Plan, and unless in check mode ApplyOCFS2(Plan).
func (s System) OCFS2(ctx context.Context, req *module.Request) (*module.Result, error) {
	w, err := OCFS2WantFromParams(req.Params)
	if err != nil {
		return nil, deviceFailure(w.Device, false, "%v", err)
	}
	have, err := s.Read(ctx, w.Device)
	if err != nil {
		return nil, &module.Failure{Msg: err.Error(), Err: err, Values: map[string]any{"device": w.Device}}
	}
	plan := PlanOCFS2(have, w)
	before := ocfs2Props(have)

	switch plan.Action {
	case Refuse:
		return nil, deviceFailure(w.Device, false, "%s", plan.Reason)
	case Keep:
		v := ocfs2Values(w.Device, have.OCFS2, false, plan.SlotsBefore)
		return &module.Result{Msg: plan.Reason, Values: v, Diff: propsDiff(w.Device, before, before)}, nil
	}

	// Read-only checks, in check mode too.
	if plan.Action == Grow || plan.Action == Shrink {
		if err := s.checkSlotChange(ctx, w, have, plan); err != nil {
			return nil, err
		}
	} else if plan.ProbeOCFS2Mounts {
		if err := s.refuseMountedOCFS2(ctx, w.Device); err != nil {
			return nil, deviceFailure(w.Device, false, "%v", err)
		}
	}

	if req.CheckMode {
		v := ocfs2Predicted(w, have, plan)
		return &module.Result{Changed: true, Msg: "check mode: would " + plan.Reason, Values: v, Diff: propsDiff(w.Device, before, ocfs2PropsOf(v))}, nil
	}
	return s.ApplyOCFS2(ctx, w, have, plan)
}

// checkSlotChange refuses a change of slots unless the cluster stack runs
// here and no node has the volume mounted.
func (s System) checkSlotChange(ctx context.Context, w OCFS2Want, have *blockdev.State, plan OCFS2Plan) error {
	why := fmt.Sprintf("changing the slots of %s with tunefs.ocfs2", w.Device)
	if err := systemd.RequireActive(ctx, s.Units, why, ocfs2Units[have.OCFS2.ClusterStack]...); err != nil {
		return deviceFailure(w.Device, false, "%v", err)
	}
	nodes, err := s.ocfs2MountedNodes(ctx, w.Device)
	if err != nil {
		return deviceFailure(w.Device, false, "cannot change the slots of %s: %v", w.Device, err)
	}
	if len(nodes) > 0 {
		return deviceFailure(w.Device, false, "cannot change the slots of %s from %d to %d: tunefs.ocfs2 -N works only while the volume is unmounted on every node, and it is mounted on %s",
			w.Device, plan.SlotsBefore, w.Slots, nodeList(nodes))
	}
	return nil
}

// ApplyOCFS2 carries out a plan to change the slots of OCFS2 or to
// (re)create it: the one place ocfs2_fs writes. have is the device as read
// before.
func (s System) ApplyOCFS2(ctx context.Context, w OCFS2Want, have *blockdev.State, plan OCFS2Plan) (*module.Result, error) {
	before := ocfs2Props(have)
	if plan.Action == Grow || plan.Action == Shrink {
		if _, err := s.run(ctx, writeTimeout, "tunefs.ocfs2", "-N", strconv.Itoa(plan.Slots), w.Device); err != nil {
			return nil, deviceFailure(w.Device, false, "change the slots of %s to %d: %v", w.Device, plan.Slots, err)
		}
		after, err := s.Read(ctx, w.Device)
		if err != nil {
			return nil, deviceFailure(w.Device, true, "tunefs.ocfs2 succeeded but %s cannot be read back: %v", w.Device, err)
		}
		if after.OCFS2 == nil || after.OCFS2.MaxSlots != plan.Slots {
			return nil, deviceFailure(w.Device, true, "tunefs.ocfs2 succeeded but %s now holds %s", w.Device, after.Contents())
		}
		v := ocfs2Values(w.Device, after.OCFS2, false, plan.SlotsBefore)
		return &module.Result{Changed: true, Msg: plan.Reason, Values: v, Diff: propsDiff(w.Device, before, ocfs2Props(after))}, nil
	}

	after, err := s.format(ctx, w.Device, plan.Action == Recreate, "OCFS2", "mkfs.ocfs2", mkfsOCFS2Args(w), func(st *blockdev.State) bool {
		return st.OCFS2 != nil && ocfs2Matches(w, st.OCFS2) && st.OCFS2.MaxSlots == w.Slots
	})
	if err != nil {
		return nil, err
	}
	v := ocfs2Values(w.Device, after.OCFS2, true, 0)
	return &module.Result{Changed: true, Msg: "created OCFS2 on " + w.Device, Values: v, Diff: propsDiff(w.Device, before, ocfs2Props(after))}, nil
}

// mkfsOCFS2Args builds the mkfs.ocfs2 command line. The cluster stack and
// name are always given, so no running stack is needed to create. There is
// no -F: should an OCFS2 volume appear after the read, mkfs.ocfs2 asks,
// reads EOF from the runner's empty stdin and aborts.
func mkfsOCFS2Args(w OCFS2Want) []string {
	args := []string{"-N", strconv.Itoa(w.Slots)}
	if w.Label != "" {
		args = append(args, "-L", w.Label)
	}
	if w.FSType != "" {
		args = append(args, "-T", w.FSType)
	}
	if w.BlockSize > 0 {
		args = append(args, "-b", strconv.Itoa(w.BlockSize))
	}
	if w.ClusterSize > 0 {
		args = append(args, "-C", strconv.Itoa(w.ClusterSize))
	}
	return append(args, "--cluster-stack="+w.ClusterStack, "--cluster-name="+w.ClusterName, w.Device)
}

func ocfs2Values(device string, sb *blockdev.OCFS2Superblock, created bool, slotsBefore int) map[string]any {
	return map[string]any{
		"device":        device,
		"created":       created,
		"uuid":          sb.UUID,
		"label":         sb.Label,
		"slots_before":  slotsBefore,
		"slots":         sb.MaxSlots,
		"cluster_stack": sb.ClusterStack,
		"cluster_name":  sb.ClusterName,
		"block_size":    sb.BlockSize,
		"cluster_size":  sb.ClusterSize,
	}
}

func ocfs2Predicted(w OCFS2Want, s *blockdev.State, plan OCFS2Plan) map[string]any {
	if plan.Action == Grow || plan.Action == Shrink {
		v := ocfs2Values(w.Device, s.OCFS2, false, plan.SlotsBefore)
		v["slots"] = plan.Slots
		return v
	}
	v := map[string]any{
		"device": w.Device, "created": true, "uuid": nil, "label": w.Label,
		"slots_before": 0, "slots": w.Slots, "cluster_stack": w.ClusterStack, "cluster_name": w.ClusterName,
		"block_size": nil, "cluster_size": nil,
	}
	if w.BlockSize > 0 {
		v["block_size"] = w.BlockSize
	}
	if w.ClusterSize > 0 {
		v["cluster_size"] = w.ClusterSize
	}
	return v
}

func ocfs2Props(s *blockdev.State) map[string]any {
	if s.OCFS2 == nil {
		return map[string]any{"contents": s.Contents()}
	}
	return ocfs2PropsOf(ocfs2Values(s.Device, s.OCFS2, false, 0))
}

func ocfs2PropsOf(v map[string]any) map[string]any {
	p := map[string]any{"filesystem": "ocfs2"}
	for _, k := range []string{"uuid", "label", "slots", "cluster_stack", "cluster_name", "block_size", "cluster_size"} {
		p[k] = v[k]
	}
	return p
}
