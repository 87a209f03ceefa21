package image

import (
	"reflect"
	"testing"
)

func TestParseMountsUnder(t *testing.T) {
	info := `22 1 254:0 / / rw,relatime shared:1 - ext4 /dev/vda rw
101 22 0:5 / /c/.build-x/rootfs/dev rw - devtmpfs udev rw
102 101 0:6 / /c/.build-x/rootfs/dev/pts rw - devpts devpts rw
103 22 0:7 / /c/.build-x/rootfs/proc rw - proc proc rw
104 22 0:8 / /c/.build-xy/rootfs/proc rw - proc proc rw
105 22 0:9 / /c/.build-x/root\040fs rw - tmpfs t rw`
	got := parseMountsUnder(info, "/c/.build-x")
	want := []string{"/c/.build-x/rootfs/dev/pts", "/c/.build-x/rootfs/proc", "/c/.build-x/rootfs/dev", "/c/.build-x/root fs"}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("mounts = %q, want %q (deepest first, not the sibling .build-xy)", got, want)
	}
}
