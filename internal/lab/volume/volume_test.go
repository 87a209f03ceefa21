package volume

import (
	"reflect"
	"regexp"
	"testing"
)

var regexpQEMUID = regexp.MustCompile(`^[A-Za-z][A-Za-z0-9_.-]*$`)

func TestVolumeDevice(t *testing.T) {
	v := Device{ID: "6d3c1a5e-0b7f-4c2a-9e51-3a8f2b7c9d10", Path: "/x.raw", Slot: 0x11}
	if got := ByIDPath(v.ID); got != "/dev/disk/by-id/virtio-6d3c1a5e-0b7f-4c2a-9" {
		t.Errorf("ByIDPath = %q", got)
	}
	if got := ByIDPath("short"); got != "/dev/disk/by-id/virtio-short" {
		t.Errorf("ByIDPath(short) = %q", got)
	}
	for _, name := range []string{v.NodeName(), v.DeviceID(), Device{ID: "a.b"}.NodeName()} {
		if len(name) > 31 || !regexpQEMUID.MatchString(name) {
			t.Errorf("%q is not a valid QEMU id", name)
		}
	}
	bd := v.BlockdevOptions()
	file := bd["file"].(map[string]any)
	if bd["driver"] != "raw" || file["filename"] != "/x.raw" || file["aio"] != "threads" ||
		!reflect.DeepEqual(file["cache"], map[string]any{"direct": true}) {
		t.Errorf("blockdev options = %v", bd)
	}
	dev := v.DeviceOptions()
	if _, ok := (Device{ID: "x"}).DeviceOptions()["addr"]; ok {
		t.Error("a volume without a slot got an address")
	}
	if dev["addr"] != "0x11" || dev["share-rw"] != true || dev["serial"] != v.ID || dev["drive"] != v.NodeName() || dev["driver"] != "virtio-blk-pci" {
		t.Errorf("device options = %v", dev)
	}
}
