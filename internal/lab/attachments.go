package lab

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"

	"github.com/cinder-multiattach/cinder.multiattach/internal/lab/qmp"
	"github.com/cinder-multiattach/cinder.multiattach/internal/lab/volume"
)

// DefaultVolumeMiB is the size of a volume made without one.
const DefaultVolumeMiB = 1024

// Attach attaches volume id to the named nodes (all nodes when none are
// named), making its raw file first if it does not exist. Running VMs get
// it by hot plug (QMP) and the call returns once every guest shows it at
// its /dev/disk/by-id path; stopped ones get it when they start. Nodes that
// have it already are left alone.
func (l *Lab) Attach(ctx context.Context, id string, sizeMiB int, nodes []string) error {
	st, unlock, err := l.lockState(ctx)
	if err != nil {
		return err
	}
	defer unlock()
	if len(nodes) == 0 {
		nodes = st.nodeNames()
	}
	var targets []Node
	for _, name := range nodes {
		n, err := st.Node(name)
		if err != nil {
			return err
		}
		targets = append(targets, n)
	}
	if err := l.attach(ctx, st, id, sizeMiB, targets); err != nil {
		return err
	}
	return l.WriteInventory(st)
}

// CreateVolume makes volume id's raw file (sparse) and records it, unless
// it exists already.
func (l *Lab) createVolume(st *State, id string, sizeMiB int) (*Volume, error) {
	if err := st.ValidateVolumeID(id); err != nil {
		return nil, err
	}
	if v := st.Volume(id); v != nil {
		return v, nil
	}
	if sizeMiB <= 0 {
		sizeMiB = DefaultVolumeMiB
	}
	slot, err := st.freeSlot()
	if err != nil {
		return nil, err
	}
	path := l.volumePath(id)
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		return nil, fmt.Errorf("create volume directory: %w", err)
	}
	f, err := os.OpenFile(path, os.O_CREATE|os.O_EXCL|os.O_WRONLY, 0o644)
	if err != nil {
		return nil, fmt.Errorf("create volume %s: %w", id, err)
	}
	defer f.Close()
	if err := f.Truncate(int64(sizeMiB) << 20); err != nil {
		return nil, fmt.Errorf("size volume %s: %w", id, err)
	}
	st.Volumes = append(st.Volumes, Volume{ID: id, SizeMiB: sizeMiB, Slot: slot, Attached: []string{}})
	if err := saveState(l.statePath(), st); err != nil {
		return nil, err
	}
	return st.Volume(id), nil
}

func (l *Lab) attach(ctx context.Context, st *State, id string, sizeMiB int, nodes []Node) error {
	v, err := l.createVolume(st, id, sizeMiB)
	if err != nil {
		return err
	}
	dev := l.device(*v)
	var plugged []Node
	for _, n := range nodes {
		v := st.Volume(id)
		if l.Running(n) {
			added, err := l.hotPlug(ctx, n, dev)
			if err != nil {
				return err
			}
			if added {
				plugged = append(plugged, n)
			}
		}
		if !contains(v.Attached, n.Name) {
			v.Attached = append(v.Attached, n.Name)
			if err := saveState(l.statePath(), st); err != nil {
				return err
			}
			l.logf("volume %s attached to %s", id, n.Name)
		}
	}
	for _, n := range plugged {
		if err := l.WaitDevice(ctx, st, n, volume.ByIDPath(id), true); err != nil {
			return err
		}
	}
	return nil
}

// WaitDevice waits until path exists (or is gone) in node's guest.
func (l *Lab) WaitDevice(ctx context.Context, st *State, n Node, path string, present bool) error {
	test := "-e"
	if !present {
		test = "! -e"
	}
	script := fmt.Sprintf("for i in $(seq 1 150); do [ %s %s ] && exit 0; sleep 0.2; done; exit 1", test, path)
	if _, err := l.RunOn(ctx, st, n, script); err != nil {
		state := "appear"
		if !present {
			state = "go away"
		}
		return fmt.Errorf("%s did not %s in %s within 30 s: %w", path, state, n.Name, err)
	}
	return nil
}

// Detach hot-unplugs volume id from the named nodes (all that have it when
// none are named). A node that does not have it is already detached.
func (l *Lab) Detach(ctx context.Context, id string, nodes []string) error {
	st, unlock, err := l.lockState(ctx)
	if err != nil {
		return err
	}
	defer unlock()
	v := st.Volume(id)
	if v == nil {
		return fmt.Errorf("no volume %s in this lab", id)
	}
	if len(nodes) == 0 {
		nodes = append([]string(nil), v.Attached...)
	}
	dev := l.device(*v)
	for _, name := range nodes {
		n, err := st.Node(name)
		if err != nil {
			return err
		}
		if l.Running(n) {
			if err := l.unplug(ctx, n, dev); err != nil {
				return err
			}
		}
		if contains(v.Attached, n.Name) {
			v.Attached = remove(v.Attached, n.Name)
			if err := saveState(l.statePath(), st); err != nil {
				return err
			}
			l.logf("volume %s detached from %s", id, n.Name)
		}
	}
	return l.WriteInventory(st)
}

func (l *Lab) device(v Volume) volume.Device {
	return volume.Device{ID: v.ID, Path: l.volumePath(v.ID), Slot: v.Slot}
}

// DeleteVolume removes a volume that no node has attached.
func (l *Lab) DeleteVolume(ctx context.Context, id string) error {
	st, unlock, err := l.lockState(ctx)
	if err != nil {
		return err
	}
	defer unlock()
	v := st.Volume(id)
	if v == nil {
		return nil
	}
	if len(v.Attached) > 0 {
		return fmt.Errorf("volume %s is attached to %v: detach it first", id, v.Attached)
	}
	if err := os.Remove(l.volumePath(id)); err != nil && !errors.Is(err, os.ErrNotExist) {
		return fmt.Errorf("delete volume %s: %w", id, err)
	}
	kept := st.Volumes[:0]
	for _, x := range st.Volumes {
		if x.ID != id {
			kept = append(kept, x)
		}
	}
	st.Volumes = kept
	return saveState(l.statePath(), st)
}

// hotPlug adds the volume to node's VM unless it has it already, and
// reports whether it added it.
func (l *Lab) hotPlug(ctx context.Context, n Node, dev volume.Device) (bool, error) {
	q, err := qmp.Dial(ctx, l.qmpSocket(n))
	if err != nil {
		return false, err
	}
	defer q.Close()
	return volume.HotPlug(ctx, q, n.Name, dev)
}

// unplug takes the volume out of node's VM.
func (l *Lab) unplug(ctx context.Context, n Node, dev volume.Device) error {
	q, err := qmp.Dial(ctx, l.qmpSocket(n))
	if err != nil {
		return err
	}
	defer q.Close()
	return volume.Unplug(ctx, q, n.Name, dev)
}
