// Package volume is a shared volume as the lab's VMs see it, as Nova
// attaches a Cinder multiattach volume: a raw file opened by every VM with
// share-rw, a virtio-blk device whose serial is the volume id, at a PCI
// slot fixed for the volume; and its hot-plug and unplug through QMP.
package volume

import (
	"context"
	"errors"
	"fmt"
	"regexp"
	"strings"
	"time"

	"github.com/cinder-multiattach/cinder.multiattach/internal/lab/qmp"
)

// Device is a shared volume as one VM sees it.
type Device struct {
	ID   string // the Cinder volume id: the device's serial
	Path string // the raw file on the host
	Slot int    // its PCI slot, the same on every VM and at every boot
}

// ByIDPath is the path under which a guest sees a volume, as with Nova:
// virtio-blk serials are 20 bytes long.
func ByIDPath(volumeID string) string {
	return "/dev/disk/by-id/virtio-" + Serial(volumeID)
}

// Serial is what a guest sees of a volume id: virtio-blk serials are 20
// bytes long.
func Serial(id string) string {
	if len(id) > 20 {
		return id[:20]
	}
	return id
}

var notNodeNameChar = regexp.MustCompile(`[^A-Za-z0-9_-]`)

// NodeName is the QEMU block node name of a volume; DeviceID its device id.
// Both derive from the serial, which must be unique among a VM's volumes
// anyway.
func (v Device) NodeName() string {
	return "v" + notNodeNameChar.ReplaceAllString(Serial(v.ID), "_")
}

func (v Device) DeviceID() string {
	return "d" + notNodeNameChar.ReplaceAllString(Serial(v.ID), "_")
}

// BlockdevOptions are the blockdev-add arguments of the volume: raw, opened
// with O_DIRECT (cache=none) and thread-pool I/O, as Nova does for shared
// volumes.
func (v Device) BlockdevOptions() map[string]any {
	return map[string]any{
		"driver":    "raw",
		"node-name": v.NodeName(),
		"cache":     map[string]any{"direct": true},
		"file": map[string]any{
			"driver":   "file",
			"filename": v.Path,
			"aio":      "threads",
			"cache":    map[string]any{"direct": true},
		},
	}
}

// DeviceOptions are the device_add arguments: share-rw lets every VM open
// the volume for writing while image locking still refuses an unshared
// opener. The slot is fixed: left to QEMU, a hot-plugged disk takes a slot
// before the root disk's, and after a reboot the guest names it vda.
func (v Device) DeviceOptions() map[string]any {
	opts := map[string]any{
		"driver":   "virtio-blk-pci",
		"id":       v.DeviceID(),
		"drive":    v.NodeName(),
		"serial":   v.ID,
		"share-rw": true,
	}
	if v.Slot != 0 { // 0: a volume recorded before slots were pinned
		opts["addr"] = fmt.Sprintf("0x%x", v.Slot)
	}
	return opts
}

// HotPlug adds the volume's block node and device to the VM called vm
// through its QMP connection q, unless the device is there already; it
// reports whether it added them.
func HotPlug(ctx context.Context, q *qmp.Client, vm string, dev Device) (bool, error) {
	has, err := q.HasDevice(ctx, dev.DeviceID())
	if err != nil || has {
		return false, err
	}
	if _, err := q.Execute(ctx, "blockdev-add", dev.BlockdevOptions()); err != nil {
		var qe *qmp.Error
		// Left by a device_add that failed: reuse it.
		if !errors.As(err, &qe) || !containsFold(qe.Desc, "Duplicate") {
			return false, fmt.Errorf("hot-plug %s into %s: %w", dev.ID, vm, err)
		}
	}
	if _, err := q.Execute(ctx, "device_add", dev.DeviceOptions()); err != nil {
		q.Execute(ctx, "blockdev-del", map[string]any{"node-name": dev.NodeName()})
		return false, fmt.Errorf("hot-plug %s into %s: %w", dev.ID, vm, err)
	}
	return true, nil
}

// Unplug asks the guest of the VM called vm to release the device, waits
// until QEMU removed it, then drops its block node.
func Unplug(ctx context.Context, q *qmp.Client, vm string, dev Device) error {
	has, err := q.HasDevice(ctx, dev.DeviceID())
	if err != nil {
		return err
	}
	if has {
		if _, err := q.Execute(ctx, "device_del", map[string]any{"id": dev.DeviceID()}); err != nil {
			return fmt.Errorf("unplug %s from %s: %w", dev.ID, vm, err)
		}
		deadline := time.Now().Add(60 * time.Second)
		for has {
			if time.Now().After(deadline) {
				return fmt.Errorf("unplug %s from %s: the guest did not release the device within 60 s", dev.ID, vm)
			}
			time.Sleep(200 * time.Millisecond)
			if has, err = q.HasDevice(ctx, dev.DeviceID()); err != nil {
				return err
			}
		}
	}
	// The device leaves the QOM tree a moment before QEMU frees it and lets
	// go of its block node: until then blockdev-del answers "in use".
	deadline := time.Now().Add(10 * time.Second)
	for {
		_, err := q.Execute(ctx, "blockdev-del", map[string]any{"node-name": dev.NodeName()})
		var qe *qmp.Error
		switch {
		case err == nil:
			return nil
		case errors.As(err, &qe) && containsFold(qe.Desc, "not found"):
			return nil
		case errors.As(err, &qe) && containsFold(qe.Desc, "in use") && time.Now().Before(deadline):
			time.Sleep(100 * time.Millisecond)
		default:
			return fmt.Errorf("unplug %s from %s: %w", dev.ID, vm, err)
		}
	}
}

func containsFold(s, sub string) bool {
	return strings.Contains(strings.ToLower(s), strings.ToLower(sub))
}
