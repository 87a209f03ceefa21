package clusterfs

import (
	"context"
	"fmt"
	"strconv"

	"github.com/cinder-multiattach/cinder.multiattach/internal/blockdev"
	"github.com/cinder-multiattach/cinder.multiattach/internal/module"
	"github.com/cinder-multiattach/cinder.multiattach/internal/systemd"
)

// RunGFS2 is the gfs2_fs module on this host.
func RunGFS2(ctx context.Context, req *module.Request) (*module.Result, error) {
	return Host().GFS2(ctx, req)
}

// GFS2 runs gfs2_fs: Params → Want, Read → Have, PlanGFS2(Have, Want) →
// Plan, and unless in check mode ApplyGFS2(Plan).
func (s System) GFS2(ctx context.Context, req *module.Request) (*module.Result, error) {
	w, err := GFS2WantFromParams(req.Params)
	if err != nil {
		return nil, deviceFailure(w.Device, false, "%v", err)
	}
	have, err := s.Read(ctx, w.Device)
	if err != nil {
		return nil, &module.Failure{Msg: err.Error(), Err: err, Values: map[string]any{"device": w.Device}}
	}
	plan := PlanGFS2(have, w)
	before := gfs2Props(have)

	switch plan.Action {
	case Refuse:
		return nil, deviceFailure(w.Device, false, "%s", plan.Reason)
	case Keep:
		v := gfs2Values(w.Device, have.GFS2, false, plan.JournalsBefore)
		return &module.Result{Msg: plan.Reason, Values: v, Diff: propsDiff(w.Device, before, before)}, nil
	}

	// Checks that only read, made in check mode too so that it predicts
	// the real run.
	if plan.Action == Grow && w.LockProtocol == "lock_dlm" {
		if err := systemd.RequireActive(ctx, s.Units, "adding journals with gfs2_jadd", gfs2JaddUnits...); err != nil {
			return nil, deviceFailure(w.Device, false, "cannot add journals to %s: %v", w.Device, err)
		}
	}
	if plan.ProbeOCFS2Mounts {
		if err := s.refuseMountedOCFS2(ctx, w.Device); err != nil {
			return nil, deviceFailure(w.Device, false, "%v", err)
		}
	}

	if req.CheckMode {
		v := gfs2Predicted(w, have, plan)
		return &module.Result{Changed: true, Msg: "check mode: would " + plan.Reason, Values: v, Diff: propsDiff(w.Device, before, gfs2PropsOf(v))}, nil
	}
	return s.ApplyGFS2(ctx, w, have, plan)
}

// ApplyGFS2 carries out a plan to grow or (re)create GFS2: the one place
// gfs2_fs writes. have is the device as read before.
func (s System) ApplyGFS2(ctx context.Context, w GFS2Want, have *blockdev.State, plan GFS2Plan) (*module.Result, error) {
	before := gfs2Props(have)
	if plan.Action == Grow {
		args := []string{"-j", strconv.Itoa(plan.AddJournals)}
		if w.JournalSize > 0 {
			args = append(args, "-J", strconv.Itoa(w.JournalSize))
		}
		if _, err := s.run(ctx, writeTimeout, "gfs2_jadd", append(args, plan.MountPoint)...); err != nil {
			// gfs2_jadd adds one journal after another: some may be there.
			return nil, deviceFailure(w.Device, true, "add %d journals to %s: %v (gfs2_jadd may have added some before failing; run again to finish)", plan.AddJournals, w.Device, err)
		}
		// The kernel writes the new jindex entries back in its own time,
		// so a fresh read may not show them yet: gfs2_jadd's success is
		// the proof.
		v := gfs2Values(w.Device, have.GFS2, false, plan.JournalsBefore)
		v["journals"] = w.Journals
		return &module.Result{Changed: true, Msg: plan.Reason, Values: v, Diff: propsDiff(w.Device, before, gfs2PropsOf(v))}, nil
	}

	after, err := s.format(ctx, w.Device, plan.Action == Recreate, "GFS2", "mkfs.gfs2", mkfsGFS2Args(w), func(st *blockdev.State) bool {
		return st.GFS2 != nil && st.GFS2Error == "" && st.GFS2.LockTable == w.LockTable()
	})
	if err != nil {
		return nil, err
	}
	v := gfs2Values(w.Device, after.GFS2, true, 0)
	return &module.Result{Changed: true, Msg: "created GFS2 on " + w.Device, Values: v, Diff: propsDiff(w.Device, before, gfs2Props(after))}, nil
}

// mkfsGFS2Args builds the mkfs.gfs2 command line. -O skips the prompt: the
// plan has already decided that the device may be written.
func mkfsGFS2Args(w GFS2Want) []string {
	args := []string{"-O", "-p", w.LockProtocol}
	if t := w.LockTable(); t != "" {
		args = append(args, "-t", t)
	}
	args = append(args, "-j", strconv.Itoa(w.Journals))
	if w.JournalSize > 0 {
		args = append(args, "-J", strconv.Itoa(w.JournalSize))
	}
	if w.BlockSize > 0 {
		args = append(args, "-b", strconv.Itoa(w.BlockSize))
	}
	return append(args, w.Device)
}

// refuseMountedOCFS2 stops a forced wipe of an OCFS2 volume that some node
// of the cluster has mounted.
func (s System) refuseMountedOCFS2(ctx context.Context, device string) error {
	nodes, err := s.ocfs2MountedNodes(ctx, device)
	if err != nil {
		return fmt.Errorf("refusing to touch %s: %w", device, err)
	}
	if len(nodes) > 0 {
		return fmt.Errorf("refusing to format %s even with force: true: its OCFS2 volume is mounted on %s", device, nodeList(nodes))
	}
	return nil
}

func gfs2Values(device string, sb *blockdev.GFS2Superblock, created bool, journalsBefore int) map[string]any {
	return map[string]any{
		"device":          device,
		"created":         created,
		"uuid":            sb.UUID,
		"lock_table":      sb.LockTable,
		"lock_protocol":   sb.LockProtocol,
		"block_size":      sb.BlockSize,
		"journals_before": journalsBefore,
		"journals":        sb.Journals,
	}
}

// gfs2Predicted is what check mode reports: the values the run would
// return, with what cannot be known before mkfs (the UUID) as null.
func gfs2Predicted(w GFS2Want, s *blockdev.State, plan GFS2Plan) map[string]any {
	if plan.Action == Grow {
		v := gfs2Values(w.Device, s.GFS2, false, plan.JournalsBefore)
		v["journals"] = w.Journals
		return v
	}
	v := map[string]any{
		"device": w.Device, "created": true, "uuid": nil,
		"lock_table": w.LockTable(), "lock_protocol": w.LockProtocol, "block_size": nil,
		"journals_before": 0, "journals": w.Journals,
	}
	if w.BlockSize > 0 {
		v["block_size"] = w.BlockSize
	}
	return v
}

// gfs2Props is the device's state for the diff.
func gfs2Props(s *blockdev.State) map[string]any {
	if s.GFS2 == nil || s.GFS2Error != "" {
		return map[string]any{"contents": s.Contents()}
	}
	return gfs2PropsOf(gfs2Values(s.Device, s.GFS2, false, 0))
}

func gfs2PropsOf(v map[string]any) map[string]any {
	p := map[string]any{"filesystem": "gfs2"}
	for _, k := range []string{"uuid", "lock_table", "lock_protocol", "block_size", "journals"} {
		p[k] = v[k]
	}
	return p
}
